package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestMain fails the run if any server process outlived the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if kids := childProcesses(); len(kids) > 0 {
		fmt.Fprintf(os.Stderr, "testenv: processes left running after tests: %v\n", kids)
		code = 1
	}
	os.Exit(code)
}

// childProcesses lists "pid comm" of live (non-zombie) children of this
// test binary, read from /proc.
func childProcesses() []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(os.Getpid()) || f[0] == "Z" {
			continue
		}
		out = append(out, e.Name()+" "+s[strings.IndexByte(s, '(')+1:i])
	}
	return out
}

// fakeTB records Skipf/Fatalf instead of acting on the real test; both end
// the calling goroutine like the real ones do.
type fakeTB struct {
	testing.TB
	mu      sync.Mutex
	skipped string
	fatal   string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.skipped = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// runFake runs fn with a fakeTB on its own goroutine and returns the TB.
func runFake(t *testing.T, fn func(tb testing.TB)) *fakeTB {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	return f
}

func TestRequireBinary(t *testing.T) {
	tests := []struct {
		name, binary, ci string
		wantPath         bool
		wantSkip         string
		wantFatal        string
	}{
		{name: "present", binary: "redis-server", ci: "", wantPath: true},
		{name: "present in sbin", binary: "nutcracker", ci: "true", wantPath: true},
		{name: "missing skips", binary: "no-such-binary-xyz", ci: "", wantSkip: "apt-get install -y no-such-binary-xyz"},
		{name: "missing fails under CI", binary: "no-such-binary-xyz", ci: "true", wantFatal: "CI=true"},
		{name: "missing names package", binary: "redis-cli-missing", ci: "false", wantSkip: "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantPath {
				RequireBinary(t, tc.binary) // skips this subtest when not installed
			}
			t.Setenv("CI", tc.ci)
			t.Setenv("PATH", "/nonexistent") // only the fixed directories remain
			var got string
			f := runFake(t, func(tb testing.TB) { got = RequireBinary(tb, tc.binary) })
			if tc.wantPath && (got == "" || !strings.HasSuffix(got, "/"+tc.binary)) {
				t.Errorf("RequireBinary(%q) = %q, want a path", tc.binary, got)
			}
			if !strings.Contains(f.skipped, tc.wantSkip) || (tc.wantSkip == "") != (f.skipped == "") {
				t.Errorf("skip message %q, want containing %q", f.skipped, tc.wantSkip)
			}
			if !strings.Contains(f.fatal, tc.wantFatal) || (tc.wantFatal == "") != (f.fatal == "") {
				t.Errorf("fatal message %q, want containing %q", f.fatal, tc.wantFatal)
			}
		})
	}
}

func TestAptPackage(t *testing.T) {
	for bin, pkg := range map[string]string{
		"redis-server": "redis-server", "redis-cli": "redis-tools", "redis-benchmark": "redis-tools",
		"redis-sentinel": "redis-sentinel", "nutcracker": "nutcracker", "prometheus": "prometheus",
		"promtool": "prometheus",
	} {
		t.Run(bin, func(t *testing.T) {
			if got := aptPackage(bin); got != pkg {
				t.Errorf("aptPackage(%q) = %q, want %q", bin, got, pkg)
			}
		})
	}
}

func TestFreePorts(t *testing.T) {
	t.Run("FreePort", func(t *testing.T) {
		p := FreePort(t)
		if !portsFree(p) {
			t.Errorf("port %d from FreePort cannot be bound", p)
		}
	})
	t.Run("FreePortPair", func(t *testing.T) {
		p := FreePortPair(t)
		if p+clusterBusOffset > 65535 || !portsFree(p, p+clusterBusOffset) {
			t.Errorf("pair %d,%d from FreePortPair cannot be bound", p, p+clusterBusOffset)
		}
	})
}

func TestWaitFor(t *testing.T) {
	t.Run("condition becomes true", func(t *testing.T) {
		n := 0
		WaitFor(t, 5*time.Second, func() bool { n++; return n == 3 }, "n to reach 3")
		if n != 3 {
			t.Errorf("cond called %d times, want 3", n)
		}
	})
	t.Run("timeout fails with message", func(t *testing.T) {
		f := runFake(t, func(tb testing.TB) {
			WaitFor(tb, 50*time.Millisecond, func() bool { return false }, "thing %d", 7)
		})
		if !strings.Contains(f.fatal, "waiting for thing 7") {
			t.Errorf("fatal message %q", f.fatal)
		}
	})
}

func TestRedisLifecycle(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, "--maxmemory", "12mb")
	c := r.Client(t)
	ctx := context.Background()

	mustPing := func(t *testing.T, c *redis.Client) {
		t.Helper()
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatalf("PING %s: %v", r.Addr, err)
		}
	}

	t.Run("serves and applies extra args", func(t *testing.T) {
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got := c.Get(ctx, "k").Val(); got != "v" {
			t.Errorf("GET k = %q", got)
		}
		cfg := c.ConfigGet(ctx, "maxmemory").Val()
		if cfg["maxmemory"] != strconv.Itoa(12<<20) {
			t.Errorf("maxmemory = %q, want %d", cfg["maxmemory"], 12<<20)
		}
		if save := c.ConfigGet(ctx, "save").Val()["save"]; save != "" {
			t.Errorf("save = %q, want persistence off", save)
		}
		if _, err := os.Stat(r.LogFile); err != nil {
			t.Errorf("log file: %v", err)
		}
	})

	t.Run("pause and resume", func(t *testing.T) {
		r.Pause()
		short := redis.NewClient(&redis.Options{Addr: r.Addr, Protocol: 2, DisableIdentity: true,
			DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
		defer short.Close()
		err := short.Ping(ctx).Err()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("PING to paused server: %v, want a timeout", err)
		}
		r.Resume()
		mustPing(t, c)
	})

	t.Run("kill is idempotent", func(t *testing.T) {
		pid := r.Pid()
		r.Kill()
		r.Kill()
		if r.Running() || r.Pid() != 0 {
			t.Errorf("still running after Kill")
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d still exists: %v", pid, err)
		}
		if _, err := Do(r.Addr, "PING"); err == nil {
			t.Errorf("PING answered after Kill")
		}
	})

	t.Run("restart on same port and dir", func(t *testing.T) {
		addr, dir := r.Addr, r.Dir
		r.Restart()
		if r.Addr != addr || r.Dir != dir {
			t.Errorf("restart moved the server to %s %s", r.Addr, r.Dir)
		}
		mustPing(t, c)
		if n := c.DBSize(ctx).Val(); n != 0 {
			t.Errorf("DBSIZE after restart = %d, want 0 (persistence off)", n)
		}
		r.Restart() // restarting a running server kills it first
		mustPing(t, c)
	})
}

func TestCluster(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		masters, replicas int
		addReplica        bool
	}{
		{name: "3 masters 1 replica each via redis-cli", masters: 3, replicas: 1, addReplica: true},
		{name: "1 master 1 replica built manually", masters: 1, replicas: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := StartCluster(t, tc.masters, tc.replicas)
			ctx := context.Background()
			if len(c.Nodes) != tc.masters*(1+tc.replicas) || len(c.Addrs) != len(c.Nodes) {
				t.Fatalf("%d nodes, %d addrs", len(c.Nodes), len(c.Addrs))
			}
			if m, r := len(c.Masters(t)), len(c.Replicas(t)); m != tc.masters || r != tc.masters*tc.replicas {
				t.Errorf("%d masters, %d replicas", m, r)
			}
			for _, n := range c.Nodes {
				slots, err := n.Client(t).ClusterSlots(ctx).Result()
				if err != nil {
					t.Fatalf("CLUSTER SLOTS on %s: %v", n.Addr, err)
				}
				covered, replicas := 0, 0
				for _, s := range slots {
					covered += s.End - s.Start + 1
					replicas += len(s.Nodes) - 1
				}
				if covered != clusterSlots || replicas < tc.masters*tc.replicas {
					t.Errorf("%s: CLUSTER SLOTS covers %d slots with %d replicas", n.Addr, covered, replicas)
				}
			}
			cc := c.Client(t)
			for i := range 50 {
				k := "key" + strconv.Itoa(i)
				if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
					t.Fatalf("SET %s: %v", k, err)
				}
				if got, _ := cc.Get(ctx, k).Int(); got != i {
					t.Fatalf("GET %s = %d", k, got)
				}
			}
			if !tc.addReplica {
				return
			}
			master := c.Masters(t)[0]
			n := c.AddNode(t, master.Addr)
			info := n.Client(t).Info(ctx, "replication").Val()
			if infoField(info, "role") != "slave" || infoField(info, "master_port") != strconv.Itoa(master.Port) {
				t.Errorf("added node replication info:\n%s", info)
			}
			replica := c.Replicas(t)[0]
			replica.Kill()
			c.WaitReady(t) // a dead replica does not block readiness
		})
	}
}

func TestNutcrackerProxies(t *testing.T) {
	t.Parallel()
	a, b := StartRedis(t), StartRedis(t)
	nc := StartNutcracker(t, fmt.Sprintf(`alpha:
  listen: {{LISTEN}}
  hash: fnv1a_64
  distribution: ketama
  redis: true
  timeout: 1000
  servers:
    - %s:1 a
    - %s:1 b
`, a.Addr, b.Addr))
	if _, err := os.Stat(nc.ConfigPath); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const keys = 40
	for i := range keys {
		k := "k" + strconv.Itoa(i)
		if v, err := Do(nc.Addr, "SET", k, k); err != nil || v != "OK" {
			t.Fatalf("SET via nutcracker: %v %v", v, err)
		}
		if v, err := Do(nc.Addr, "GET", k); err != nil || v != k {
			t.Fatalf("GET %s via nutcracker = %v %v", k, v, err)
		}
	}
	na, nb := a.Client(t).DBSize(ctx).Val(), b.Client(t).DBSize(ctx).Val()
	if na+nb != keys || na == 0 || nb == 0 {
		t.Errorf("keys per backend %d + %d, want %d spread over both", na, nb, keys)
	}
	stats, err := net.DialTimeout("tcp", hostPort(nc.StatsPort), time.Second)
	if err != nil {
		t.Fatalf("stats port: %v", err)
	}
	var doc map[string]any
	if err := json.NewDecoder(stats).Decode(&doc); err != nil || doc["alpha"] == nil {
		t.Errorf("stats JSON has no pool alpha: %v %v", err, doc)
	}
	stats.Close()

	t.Run("rejects config without placeholder", func(t *testing.T) {
		f := runFake(t, func(tb testing.TB) { StartNutcracker(tb, "alpha:\n  listen: 127.0.0.1:1\n") })
		if !strings.Contains(f.fatal, ListenPlaceholder) {
			t.Errorf("fatal message %q", f.fatal)
		}
	})
	t.Run("rejects invalid config", func(t *testing.T) {
		f := runFake(t, func(tb testing.TB) { StartNutcracker(tb, "alpha:\n  listen: {{LISTEN}}\n  hash: nope\n") })
		if !strings.Contains(f.fatal, "nutcracker -t") {
			t.Errorf("fatal message %q", f.fatal)
		}
	})
	t.Run("kill", func(t *testing.T) {
		nc.Kill()
		nc.Kill()
		if _, err := net.DialTimeout("tcp", nc.Addr, time.Second); err == nil {
			t.Errorf("nutcracker still accepts after Kill")
		}
	})
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	m := StartRedis(t)
	s := StartSentinel(t, "mymaster", m.Addr, 1)
	ctx := context.Background()
	masters, err := s.SentinelClient(t).Masters(ctx).Result()
	if err != nil {
		t.Fatalf("SENTINEL MASTERS: %v", err)
	}
	if len(masters) != 1 {
		t.Fatalf("SENTINEL MASTERS = %v, want one master", masters)
	}
	if got := fmt.Sprint(masters[0]); !strings.Contains(got, "mymaster") || !strings.Contains(got, strconv.Itoa(m.Port)) {
		t.Errorf("SENTINEL MASTERS = %v, want mymaster on port %d", got, m.Port)
	}
	addr, err := s.MasterAddr()
	if err != nil || addr != m.Addr {
		t.Errorf("MasterAddr = %q, %v; want %s", addr, err, m.Addr)
	}
	cfg, err := os.ReadFile(s.ConfigPath)
	if err != nil || !strings.Contains(string(cfg), "down-after-milliseconds mymaster 1000") {
		t.Errorf("sentinel config %s: %v\n%s", s.ConfigPath, err, cfg)
	}
}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	m := StartRedis(t)
	r := StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(m.Port))
	WaitFor(t, 10*time.Second, func() bool {
		info, err := Do(r.Addr, "INFO", "replication")
		s, _ := info.(string)
		return err == nil && infoField(s, "master_link_status") == "up"
	}, "replica %s to sync", r.Addr)
	s := StartSentinel(t, "mymaster", m.Addr, 1)
	// Sentinel learns replicas from the master's INFO; fail over only then.
	WaitFor(t, 15*time.Second, func() bool {
		v, err := Do(s.Addr, "SENTINEL", "REPLICAS", "mymaster")
		a, _ := v.([]any)
		return err == nil && len(a) == 1
	}, "sentinel to discover replica %s", r.Addr)
	m.Kill()
	WaitFor(t, 20*time.Second, func() bool {
		addr, err := s.MasterAddr()
		return err == nil && addr == r.Addr
	}, "sentinel to promote %s after the master was killed", r.Addr)
}

func TestPrometheusScrapes(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "# TYPE testenv_probe gauge\ntestenv_probe 42\n")
	}))
	defer target.Close()
	addr := StartPrometheus(t, strings.TrimPrefix(target.URL, "http://"), 200*time.Millisecond)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	query := func(q string) string {
		resp, err := client.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data.Result) == 0 {
			return ""
		}
		return fmt.Sprint(body.Data.Result[0].Value[1])
	}
	WaitFor(t, 15*time.Second, func() bool { return query(`testenv_probe{job="shardproxy"}`) == "42" },
		"prometheus to scrape testenv_probe (last answer %q)", query(`testenv_probe`))
}
