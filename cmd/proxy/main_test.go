package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for concurrent use: run's logger
// writes from many goroutines while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// writeFile writes content to a file named name in a temporary directory
// and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ringConfig is a one-pool configuration on a free port over the given
// shards, named shard1, shard2, ...
func ringConfig(rs ...*testenv.Redis) string {
	var b strings.Builder
	b.WriteString("alpha:\n  listen: 127.0.0.1:0\n  redis: true\n  timeout: 300\n  servers:\n")
	for i, r := range rs {
		fmt.Fprintf(&b, "    - %s:1 shard%d\n", r.Addr, i+1)
	}
	return b.String()
}

func TestFlags(t *testing.T) {
	good := writeFile(t, "good.yml", "alpha:\n  listen: 127.0.0.1:0\n  redis: true\n  servers:\n    - 127.0.0.1:7001:1 s1\n")
	bad := writeFile(t, "bad.yml", "alpha:\n  listen: 127.0.0.1:0\n  redis: true\n  hash: fnv9\n  servers:\n    - 127.0.0.1:7001:1 s1\n  tiemout: 100\n")
	missing := filepath.Join(t.TempDir(), "missing.yml")
	badACL := writeFile(t, "acl.yml", "alpha:\n  redis: true\n  servers:\n    - 127.0.0.1:7001:1 s1\n  users:\n    - alice on +nosuch\n")
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings of stdout
		stderr     []string // substrings of stderr
		quietOnOut bool     // nothing on stdout
	}{
		{"version", []string{"--version"}, 0, []string{"shardproxy dev (" + runtime.Version() + ")\n"}, nil, false},
		{"check-good", []string{"-t", "-c", good}, 0, []string{"configuration file '" + good + "' syntax is ok"}, nil, false},
		{"check-bad", []string{"-t", "-c", bad}, 1, nil, []string{
			"configuration file '" + bad + "' syntax is invalid",
			bad + ":4: alpha.hash: ",
			bad + ":7: alpha.tiemout: ",
		}, true},
		{"check-bad-acl", []string{"-t", "-c", badACL}, 1, nil, []string{
			badACL + `:6: alpha.users: user alice: rule "+nosuch": Unknown command or category name in ACL`,
		}, true},
		{"check-missing", []string{"-t", "-c", missing}, 1, nil, []string{missing}, true},
		{"serve-bad-config", []string{"-c", bad, "--metrics-listen", ""}, 1, nil, []string{bad + ":4: alpha.hash: "}, true},
		{"bad-log-level", []string{"--log-level", "loud", "-t", "-c", good}, 2, nil, []string{`bad --log-level "loud"`}, true},
		{"bad-log-format", []string{"--log-format", "xml", "-t", "-c", good}, 2, nil, []string{`bad --log-format "xml"`}, true},
		{"unknown-flag", []string{"--nosuch"}, 2, nil, []string{"flag provided but not defined: -nosuch"}, true},
		{"extra-argument", []string{"-c", good, "extra"}, 2, nil, []string{`unexpected argument "extra"`}, true},
		{"help", []string{"-h"}, 0, nil, []string{"-metrics-listen", "-pprof", "-log-format"}, true},
		// nutcracker's command line.
		{"nutcracker-version", []string{"-V"}, 0, []string{"shardproxy dev ("}, nil, false},
		{"nutcracker-long-options", []string{"--test-conf", "--conf-file=" + good, "--verbose=7", "--mbuf-size=512", "-e"}, 0, []string{"syntax is ok"}, nil, false},
		{"describe-stats", []string{"-D"}, 0, []string{"pool stats:", "client_eof", "server stats:", "server_ejected_at", "out_queue_bytes"}, nil, false},
		{"verbosity-and-log-level", []string{"-v", "7", "--log-level", "info", "-t", "-c", good}, 2, nil, []string{"-v and --log-level both given"}, true},
		{"bad-verbosity", []string{"-v", "12", "-t", "-c", good}, 2, nil, []string{"bad -v 12: want 0..11"}, true},
		{"bad-stats-interval", []string{"-i", "0", "-t", "-c", good}, 2, nil, []string{"bad -i 0"}, true},
		{"bad-stats-port", []string{"-s", "70000", "-t", "-c", good}, 2, nil, []string{"bad -s 70000"}, true},
		{"daemon-bad-config", []string{"-d", "-c", bad}, 1, nil, []string{bad + ":4: alpha.hash: "}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(tc.args, &stdout, &stderr, nil)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout %q does not contain %q", stdout.String(), s)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), s)
				}
			}
			if tc.quietOnOut && stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// proxyRun is one run() in a goroutine.
type proxyRun struct {
	stop   chan os.Signal
	exit   chan int
	stderr *syncBuffer
}

// startRun calls run with args in a goroutine; the test's cleanup stops it
// if the test did not.
func startRun(t *testing.T, args ...string) *proxyRun {
	t.Helper()
	r := &proxyRun{stop: make(chan os.Signal, 1), exit: make(chan int, 1), stderr: &syncBuffer{}}
	go func() { r.exit <- run(args, io.Discard, r.stderr, r.stop) }()
	t.Cleanup(func() {
		select {
		case r.stop <- syscall.SIGTERM:
		default:
		}
		select {
		case <-r.exit:
		case <-time.After(10 * time.Second):
			t.Errorf("run did not return after SIGTERM")
		}
		if t.Failed() {
			t.Logf("proxy log:\n%s", r.stderr.String())
		}
	})
	return r
}

// jsonLines parses the JSON log lines written so far.
func (r *proxyRun) jsonLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(r.stderr.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// waitLine waits for the JSON log record whose msg is msg.
func (r *proxyRun) waitLine(t *testing.T, msg string) map[string]any {
	t.Helper()
	var rec map[string]any
	testenv.WaitFor(t, 10*time.Second, func() bool {
		for _, m := range r.jsonLines(t) {
			if m["msg"] == msg {
				rec = m
				return true
			}
		}
		return false
	}, "log record %q", msg)
	return rec
}

var httpClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// httpGet returns the status and body of GET url.
func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, string(body)
}

// promQuery runs an instant query and returns the sample values of its
// vector result.
func promQuery(t *testing.T, prom, query string) []string {
	t.Helper()
	code, body := httpGet(t, "http://"+prom+"/api/v1/query?query="+url.QueryEscape(query))
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != http.StatusOK || r.Status != "success" || r.Data.ResultType != "vector" {
		t.Fatalf("query %q: %d %v %s", query, code, err, body)
	}
	var vals []string
	for _, s := range r.Data.Result {
		vals = append(vals, fmt.Sprint(s.Value[1]))
	}
	return vals
}

// TestServe runs the proxy as main does, in JSON logging, against real
// shards: the start-up summary, traffic, the operational endpoints,
// /readyz across a killed and restarted shard, a real Prometheus scraping
// it, and a clean SIGTERM shutdown.
func TestServe(t *testing.T) {
	rs := []*testenv.Redis{testenv.StartRedis(t), testenv.StartRedis(t)}
	conf := writeFile(t, "shardproxy.yml", ringConfig(rs...))
	r := startRun(t, "-c", conf, "--metrics-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "info")

	started := r.waitLine(t, "shardproxy started")
	pool := r.waitLine(t, "pool serving")
	metricsAddr, _ := started["metrics"].(string)
	listen, _ := pool["listen"].(string)
	if metricsAddr == "" || strings.HasSuffix(metricsAddr, ":0") || listen == "" || strings.HasSuffix(listen, ":0") {
		t.Fatalf("start-up summary without actual addresses: %v / %v", started, pool)
	}
	for k, want := range map[string]any{"version": "dev", "config": conf, "pprof": false, "pid": float64(os.Getpid()), "go": runtime.Version()} {
		if started[k] != want {
			t.Errorf("start-up record %s = %v, want %v", k, started[k], want)
		}
	}
	for k, want := range map[string]any{"pool": "alpha", "mode": "ring", "distribution": "consistent", "hash": "xxhash", "servers": float64(2), "servers_up": float64(2), "level": "INFO"} {
		if pool[k] != want {
			t.Errorf("pool record %s = %v, want %v", k, pool[k], want)
		}
	}
	// Prometheus's first scrape comes about 5 s after it starts: start it
	// now and check on it at the end.
	prom := testenv.StartPrometheus(t, metricsAddr, time.Second)

	c := redis.NewClient(&redis.Options{Addr: listen, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("serve:%d", i)
		if err := c.Set(ctx, keys[i], i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + metricsAddr
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok\n"},
		{"/readyz", 200, "ready\n"},
		{"/debug/pprof/", 404, ""},
		{"/debug/pprof/cmdline", 404, ""},
	} {
		if code, body := httpGet(t, base+tc.path); code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
	code, text := httpGet(t, base+"/metrics")
	if code != 200 || !strings.Contains(text, `shardproxy_commands_total{command="set",pool="alpha",result="ok"} 40`) {
		t.Errorf("/metrics: %d, no count of the 40 SETs:\n%s", code, text)
	}
	promtool := testenv.RequireBinary(t, "promtool")
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(text)
	if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}

	// Kill shard2: the next requests on it fail, and /readyz says so.
	rs[1].Kill()
	testenv.WaitFor(t, 5*time.Second, func() bool {
		c.MGet(ctx, keys...) // touches every shard; fails while one is down
		code, _ := httpGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable
	}, "/readyz to turn 503 after a shard died")
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "pool alpha") || !strings.Contains(body, "shard2") || strings.Contains(body, "shard1") {
		t.Errorf("/readyz with shard2 dead: %d %q", code, body)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with a shard dead: %d", code)
	}
	rs[1].Restart()
	testenv.WaitFor(t, 5*time.Second, func() bool {
		c.MGet(ctx, keys...)
		code, _ := httpGet(t, base+"/readyz")
		return code == http.StatusOK
	}, "/readyz to turn 200 after the shard came back")

	// Prometheus scraped the proxy and saw commands flowing.
	testenv.WaitFor(t, 30*time.Second, func() bool {
		c.MGet(ctx, keys...)
		up := promQuery(t, prom, `up{job="shardproxy"}`)
		rate := promQuery(t, prom, `sum(rate(shardproxy_commands_total{pool="alpha"}[30s])) > 0`)
		return slices.Equal(up, []string{"1"}) && len(rate) == 1
	}, "Prometheus to see up == 1 and a non-zero command rate")

	// SIGTERM stops the proxy cleanly.
	r.stop <- syscall.SIGTERM
	select {
	case code := <-r.exit:
		r.exit <- code // for the cleanup
		if code != 0 {
			t.Errorf("exit status %d after SIGTERM", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after SIGTERM")
	}
	// The log holds the start-up summary, shard2's transitions and the
	// shutdown: nothing per request.
	var msgs []string
	for _, m := range r.jsonLines(t) {
		msgs = append(msgs, fmt.Sprintf("%v %v %v", m["level"], m["msg"], m["server"]))
	}
	slices.Sort(msgs)
	want := []string{
		"INFO backend up shard1", "INFO backend up shard2", "INFO backend up shard2",
		"INFO clients drained <nil>", "INFO pool serving <nil>", "INFO shardproxy started <nil>",
		"INFO shutting down: draining clients (a second signal stops at once) <nil>",
		"WARN backend down shard2",
	}
	if !slices.Equal(msgs, want) {
		t.Errorf("log records %q, want %q", msgs, want)
	}
}

// TestPprofAndTextLog: --pprof mounts /debug/pprof/ on the metrics
// address, and the text log format carries the start-up summary.
func TestPprofAndTextLog(t *testing.T) {
	rs := testenv.StartRedis(t)
	conf := writeFile(t, "shardproxy.yml", ringConfig(rs))
	r := startRun(t, "-c", conf, "--metrics-listen", "127.0.0.1:0", "--pprof")
	var metricsAddr string
	testenv.WaitFor(t, 10*time.Second, func() bool {
		for _, line := range strings.Split(r.stderr.String(), "\n") {
			if strings.HasPrefix(line, "time=") && strings.Contains(line, ` level=INFO msg="shardproxy started" `) {
				for _, f := range strings.Fields(line) {
					if v, ok := strings.CutPrefix(f, "metrics="); ok {
						metricsAddr = v
					}
				}
				return strings.Contains(line, " pprof=true")
			}
		}
		return false
	}, "the text start-up line with pprof=true")
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		if code, body := httpGet(t, "http://"+metricsAddr+path); code != http.StatusOK || body == "" {
			t.Errorf("GET %s with --pprof: %d", path, code)
		}
	}
}

// TestWarnLevelIsQuiet: at --log-level warn a healthy start logs nothing,
// and an empty --metrics-listen serves no HTTP at all.
func TestWarnLevelIsQuiet(t *testing.T) {
	rs := testenv.StartRedis(t)
	port := testenv.FreePort(t)
	conf := writeFile(t, "shardproxy.yml", strings.Replace(ringConfig(rs), "127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", port), 1))
	r := startRun(t, "-c", conf, "--metrics-listen", "", "--log-level", "warn")
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	testenv.WaitFor(t, 10*time.Second, func() bool { return c.Ping(t.Context()).Err() == nil }, "the proxy to answer PING")
	for i := range 100 {
		if err := c.Set(t.Context(), fmt.Sprint("quiet:", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.Do(t.Context(), "NOSUCHCOMMAND")
	if s := r.stderr.String(); s != "" {
		t.Errorf("--log-level warn logged:\n%s", s)
	}
}

// TestSighupReload: SIGHUP re-reads the file. A server added there takes
// keys at once; a file that does not load, or changes what needs a restart,
// is refused with a log line and the proxy goes on unchanged.
func TestSighupReload(t *testing.T) {
	rs := []*testenv.Redis{testenv.StartRedis(t), testenv.StartRedis(t)}
	port := testenv.FreePort(t)
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	conf := writeFile(t, "shardproxy.yml", strings.Replace(ringConfig(rs[0]), "127.0.0.1:0", listen, 1))
	r := startRun(t, "-c", conf, "--metrics-listen", "", "--log-format", "json")
	r.waitLine(t, "shardproxy started")
	c := redis.NewClient(&redis.Options{Addr: listen, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })

	// Add the second shard.
	if err := os.WriteFile(conf, []byte(strings.Replace(ringConfig(rs...), "127.0.0.1:0", listen, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.stop <- syscall.SIGHUP
	r.waitLine(t, "configuration reloaded")
	for i := range 100 {
		if err := c.Set(t.Context(), fmt.Sprint("hup:", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n := rs[1].Client(t).DBSize(t.Context()).Val(); n == 0 {
		t.Fatal("no key went to the server added by the reload")
	}

	// A broken file is refused; serving goes on.
	if err := os.WriteFile(conf, []byte("alpha:\n  listen: "+listen+"\n  redis: true\n  hash: fnv9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.stop <- syscall.SIGHUP
	rec := r.waitLine(t, "config reload failed; running configuration kept")
	if !strings.Contains(fmt.Sprint(rec["err"]), "alpha.hash") {
		t.Fatalf("reload failure log %v does not name the bad key", rec)
	}
	if err := c.Set(t.Context(), "still", "serving", 0).Err(); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}
}

// Without --procs the proxy chooses its GOMAXPROCS, starting at one P (an
// idle proxy stays there); --procs N fixes it. shardproxy_gomaxprocs shows
// the value in force either way.
func TestProcsAutomaticAndFixed(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) }) // after the runs stop
	t.Setenv("GOMAXPROCS", "")
	rs := testenv.StartRedis(t)
	conf := writeFile(t, "shardproxy.yml", ringConfig(rs))
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"automatic", nil, 1},
		{"fixed", []string{"--procs", "3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runtime.GOMAXPROCS(orig)
			r := startRun(t, append([]string{"-c", conf, "--metrics-listen", "127.0.0.1:0", "--log-format", "json"}, tc.args...)...)
			started := r.waitLine(t, "shardproxy started")
			metricsAddr, _ := started["metrics"].(string)
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS = %d, want %d", got, tc.want)
			}
			_, body := httpGet(t, "http://"+metricsAddr+"/metrics")
			if want := fmt.Sprintf("\nshardproxy_gomaxprocs %d\n", tc.want); !strings.Contains(body, want) {
				t.Errorf("metrics lack %q", strings.TrimSpace(want))
			}
			r.stop <- syscall.SIGTERM
			if code := <-r.exit; code != 0 {
				t.Errorf("exit status %d", code)
			}
			r.exit <- 0 // for the cleanup
		})
	}
}
