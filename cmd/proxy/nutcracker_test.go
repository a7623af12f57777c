package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// daemon is a process started with -d, known by its pid file.
type daemon struct {
	name, pidFile, logFile, addr string
	statsPort                    int
	pid                          int
}

// startDaemon runs bin with nutcracker's init-style command line for a
// one-pool configuration over shards, waits for the pid file and the listen
// port, and kills the daemon in t.Cleanup.
func startDaemon(t *testing.T, name, bin string, shards []*testenv.Redis, extra ...string) *daemon {
	t.Helper()
	dir := t.TempDir()
	port, stats := testenv.FreePort(t), testenv.FreePort(t)
	d := &daemon{
		name: name, pidFile: filepath.Join(dir, name+".pid"), logFile: filepath.Join(dir, name+".log"),
		addr: "127.0.0.1:" + strconv.Itoa(port), statsPort: stats,
	}
	conf := fmt.Sprintf("alpha:\n  listen: %s\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  timeout: 400\n  servers:\n", d.addr)
	for i, s := range shards {
		conf += fmt.Sprintf("    - %s:1 s%d\n", s.Addr, i+1)
	}
	confPath := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// What /etc/init.d/nutcracker and typical unit files run.
	args := []string{"-d", "-c", confPath, "-p", d.pidFile, "-o", d.logFile,
		"-s", strconv.Itoa(stats), "-a", "127.0.0.1", "-i", "200", "-v", "6", "-m", "16384"}
	cmd := exec.Command(bin, append(args, extra...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	testenv.WaitFor(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(d.pidFile)
		if err != nil {
			return false
		}
		d.pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && d.pid > 0
	}, "%s wrote no pid file %s", name, d.pidFile)
	t.Cleanup(func() {
		_ = syscall.Kill(d.pid, syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(d.logFile)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	testenv.WaitFor(t, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "%s not listening on %s", name, d.addr)
	return d
}

// stats reads the daemon's JSON stats document.
func (d *daemon) stats(t *testing.T) map[string]any {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(d.statsPort), 2*time.Second)
	if err != nil {
		t.Fatalf("%s stats port: %v", d.name, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s stats: %v\n%s", d.name, err, b)
	}
	return doc
}

// alive reports whether the process exists and has not exited. A daemon is
// no child of the test, so once it exits it is a zombie until init reaps
// it; some container inits never do.
func alive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// keyTree returns the sorted key paths of a stats document: "a", "a.b", ...
func keyTree(prefix string, m map[string]any) []string {
	var keys []string
	for k, v := range m {
		keys = append(keys, prefix+k)
		if sub, ok := v.(map[string]any); ok {
			keys = append(keys, keyTree(prefix+k+".", sub)...)
		}
	}
	slices.Sort(keys)
	return keys
}

// num returns the number at path a.b.c of a stats document.
func num(t *testing.T, doc map[string]any, path string) float64 {
	t.Helper()
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("stats: no %s", path)
		}
		cur = m[k]
	}
	f, ok := cur.(float64)
	if !ok {
		t.Fatalf("stats: %s = %v, not a number", path, cur)
	}
	return f
}

// TestNutcrackerCommandLine starts Debian's nutcracker and shardproxy with
// the same init-style command line (-d -c -p -o -s -a -i -v -m), sends both
// the same traffic and compares their stats documents: same keys, comparable
// counts. Then it checks shardproxy's signals: SIGUSR1 reopens the log file,
// SIGHUP reloads, SIGTERM stops and removes the pid file.
func TestNutcrackerCommandLine(t *testing.T) {
	ncBin := testenv.RequireBinary(t, "nutcracker")
	spBin := testenv.BuildShardproxy(t)
	shards := []*testenv.Redis{testenv.StartRedis(t), testenv.StartRedis(t)}

	nc := startDaemon(t, "nutcracker", ncBin, shards)
	// The same flags; --metrics-listen only keeps the default :9122 free for
	// other tests running at the same time.
	sp := startDaemon(t, "shardproxy", spBin, shards, "--metrics-listen", "127.0.0.1:0")

	const n = 100
	for _, d := range []*daemon{nc, sp} {
		for i := range n {
			if _, err := testenv.Do(d.addr, "SET", fmt.Sprintf("key:%d", i), "v"); err != nil {
				t.Fatalf("%s SET: %v", d.name, err)
			}
			if v, err := testenv.Do(d.addr, "GET", fmt.Sprintf("key:%d", i)); err != nil || v != "v" {
				t.Fatalf("%s GET = %v, %v", d.name, v, err)
			}
		}
	}
	// Past one aggregation interval (-i 200), both documents include the
	// traffic: one connection per command, plus startDaemon's readiness
	// probe, each counted once the proxy has seen it close.
	const conns = 2*n + 1
	var ncDoc, spDoc map[string]any
	testenv.WaitFor(t, 10*time.Second, func() bool {
		ncDoc, spDoc = nc.stats(t), sp.stats(t)
		return num(t, ncDoc, "alpha.client_eof") >= conns && num(t, spDoc, "alpha.client_eof") >= conns
	}, "stats documents do not show %d closed client connections", conns)

	ncKeys, spKeys := keyTree("", ncDoc), keyTree("", spDoc)
	if !slices.Equal(ncKeys, spKeys) {
		t.Errorf("stats keys differ:\nnutcracker: %v\nshardproxy: %v", ncKeys, spKeys)
	}
	for _, doc := range []map[string]any{ncDoc, spDoc} {
		if doc["service"] != "nutcracker" {
			t.Errorf("service = %v, want nutcracker", doc["service"])
		}
	}

	// Comparable counts. Every command here is one request to one server in
	// both proxies; shardproxy's health checks may add a few requests.
	const slack = 20
	for _, d := range []struct {
		name string
		doc  map[string]any
	}{{"nutcracker", ncDoc}, {"shardproxy", spDoc}} {
		reqs, resps := 0.0, 0.0
		for i := range shards {
			reqs += num(t, d.doc, fmt.Sprintf("alpha.s%d.requests", i+1))
			resps += num(t, d.doc, fmt.Sprintf("alpha.s%d.responses", i+1))
			if c := num(t, d.doc, fmt.Sprintf("alpha.s%d.server_connections", i+1)); c < 1 {
				t.Errorf("%s: s%d server_connections = %v, want >= 1", d.name, i+1, c)
			}
		}
		if reqs < 2*n || reqs > 2*n+slack {
			t.Errorf("%s: %v requests to the servers, want %d..%d", d.name, reqs, 2*n, 2*n+slack)
		}
		if resps != reqs {
			t.Errorf("%s: %v responses for %v requests", d.name, resps, reqs)
		}
		if eof := num(t, d.doc, "alpha.client_eof"); eof != conns {
			t.Errorf("%s: client_eof = %v, want %d", d.name, eof, conns)
		}
		if tc := num(t, d.doc, "total_connections"); tc < 2*n || tc > 2*n+slack {
			t.Errorf("%s: total_connections = %v, want %d..%d", d.name, tc, 2*n, 2*n+slack)
		}
		if fe := num(t, d.doc, "alpha.forward_error"); fe != 0 {
			t.Errorf("%s: forward_error = %v, want 0", d.name, fe)
		}
	}
	t.Logf("nutcracker: %v", ncDoc)
	t.Logf("shardproxy: %v", spDoc)

	// SIGUSR1: logrotate moved the file; the proxy writes to a new one.
	if err := os.Rename(sp.logFile, sp.logFile+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(sp.pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(sp.logFile)
		return strings.Contains(string(b), "log file reopened")
	}, "no new log file after SIGUSR1")
	// SIGHUP stays a configuration reload.
	if err := syscall.Kill(sp.pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(sp.logFile)
		return strings.Contains(string(b), "configuration reloaded")
	}, "no reload logged after SIGHUP")
	old, _ := os.ReadFile(sp.logFile + ".1")
	if strings.Contains(string(old), "reloading configuration") {
		t.Errorf("the rotated log file got lines after SIGUSR1:\n%s", old)
	}
	// SIGTERM: the daemon stops and removes its pid file.
	if err := syscall.Kill(sp.pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, func() bool { return !alive(sp.pid) }, "shardproxy still running after SIGTERM")
	if _, err := os.Stat(sp.pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file %s left behind: %v", sp.pidFile, err)
	}
}

// TestDaemonStartFailure: with -d, a proxy that cannot serve makes the
// command fail with the reason, instead of exiting 0 as nutcracker does.
func TestDaemonStartFailure(t *testing.T) {
	bin := testenv.BuildShardproxy(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "p.yml")
	if err := os.WriteFile(conf, []byte("alpha:\n  listen: "+taken.Addr().String()+"\n  redis: true\n  servers:\n    - 127.0.0.1:1:1 s1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := filepath.Join(dir, "p.pid")
	out, err := exec.Command(bin, "-d", "-c", conf, "-p", pid, "-o", filepath.Join(dir, "p.log"), "--metrics-listen", "").CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "daemon failed to start") || !strings.Contains(string(out), "address already in use") {
		t.Errorf("output %q does not say why", out)
	}
	if _, err := os.Stat(pid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file written by a proxy that never served: %v", err)
	}
}

func TestVerbosityLevel(t *testing.T) {
	for v, want := range map[int]string{0: "error", 3: "error", 4: "warn", 5: "info", 6: "info", 7: "debug", 11: "debug"} {
		if got, err := verbosityLevel(v); err != nil || got != want {
			t.Errorf("verbosityLevel(%d) = %q, %v; want %q", v, got, err, want)
		}
	}
	for _, v := range []int{-1, 12} {
		if _, err := verbosityLevel(v); err == nil {
			t.Errorf("verbosityLevel(%d) accepted", v)
		}
	}
}

func TestHealthcheckFlag(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") }))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	}))
	defer bad.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		url  string
		code int
		out  string
	}{
		{ok.URL, 0, "ok"},
		{bad.URL, 1, "503"},
		{closed.URL, 1, "connection refused"},
	} {
		var stdout, stderr syncBuffer
		if code := run([]string{"--healthcheck", tc.url}, &stdout, &stderr, nil); code != tc.code {
			t.Errorf("--healthcheck %s: exit %d, want %d", tc.url, code, tc.code)
		}
		if !strings.Contains(stdout.String()+stderr.String(), tc.out) {
			t.Errorf("--healthcheck %s: output %q %q lacks %q", tc.url, stdout.String(), stderr.String(), tc.out)
		}
	}
}
