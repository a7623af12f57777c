package compat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// clientTimeout bounds one client's whole workload run; a healthy run takes
// well under a second.
const clientTimeout = 60 * time.Second

// target is a server a workload runs against: the plain redis-server or the
// proxy. restart makes every client connection break once: the proxy is
// killed and started again, the plain server kills its client connections.
type target struct {
	name    string
	host    string
	port    int
	restart func()
}

// client is one row of the matrix.
type client struct {
	name string
	// prepare checks the runtime (skipping, or failing under CI=true, when
	// it is missing), builds what needs building and returns the command
	// line that runs the workload (host and port are appended) and the
	// library's version.
	prepare func(t *testing.T) (argv []string, version string)
	// run, when set, runs the workload in-process instead (go-redis).
	run func(t *testing.T, tg target) []string
	// version of an in-process client.
	version string
}

// env is the servers every client shares: one plain redis-server and the
// proxy in front of three shards.
type env struct {
	plain, proxy target
}

func startEnv(t *testing.T) env {
	t.Helper()
	plain := testenv.StartRedis(t)
	shards := []*testenv.Redis{testenv.StartRedis(t), testenv.StartRedis(t), testenv.StartRedis(t)}
	bin := testenv.BuildShardproxy(t)
	port := testenv.FreePort(t)
	var cfg strings.Builder
	// FLUSHDB is the workload's clean slate; the proxy denies it unless
	// allow_commands names it, as a test setup's configuration would.
	fmt.Fprintf(&cfg, "compat:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n  allow_commands: [flushdb]\n  servers:\n", port)
	for i, s := range shards {
		fmt.Fprintf(&cfg, "    - %s:1 shard%d\n", s.Addr, i+1)
	}
	cfgPath := filepath.Join(t.TempDir(), "compat.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	proxy := testenv.StartShardproxy(t, bin, addr, "-c", cfgPath, "--metrics-listen", "", "--log-level", "warn")
	return env{
		plain: target{name: "redis", host: "127.0.0.1", port: plain.Port, restart: func() {
			// Every normal client but the one asking: what a client sees
			// when the server restarts, without losing the data.
			if _, err := testenv.Do(plain.Addr, "CLIENT", "KILL", "TYPE", "normal"); err != nil {
				t.Errorf("CLIENT KILL on the plain server: %v", err)
			}
		}},
		proxy: target{name: "proxy", host: "127.0.0.1", port: port, restart: proxy.Restart},
	}
}

// expected returns testdata/expected.txt with the plain server's version and
// command count filled in.
func expected(t *testing.T, plain target) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "expected.txt"))
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("%s:%d", plain.host, plain.port)
	info, err := testenv.Do(addr, "INFO", "server")
	if err != nil {
		t.Fatal(err)
	}
	version := ""
	for _, line := range strings.Split(info.(string), "\r\n") {
		if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
			version = v
		}
	}
	count, err := testenv.Do(addr, "COMMAND", "COUNT")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "{{REDIS_VERSION}}", version)
	s = strings.ReplaceAll(s, "{{COMMAND_COUNT}}", fmt.Sprint(count))
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

// TestClientMatrix runs the workload of every client against the plain
// server and through the proxy; both must print testdata/expected.txt.
func TestClientMatrix(t *testing.T) {
	e := startEnv(t)
	want := expected(t, e.plain)
	// What a client asking for RESP3 gets (the proxy accepts it too).
	// Logged for the matrix in the README.
	for _, tg := range []target{e.plain, e.proxy} {
		_, err := testenv.Do(fmt.Sprintf("%s:%d", tg.host, tg.port), "HELLO", "3")
		if err != nil {
			t.Logf("HELLO 3 via %s: %v (clients asking for RESP3 continue in RESP2)", tg.name, err)
		} else {
			t.Logf("HELLO 3 via %s: accepted (RESP3)", tg.name)
		}
	}
	for _, c := range clients(&nodeEnv{dir: t.TempDir()}) {
		t.Run(c.name, func(t *testing.T) {
			var argv []string
			version := c.version
			if c.prepare != nil {
				argv, version = c.prepare(t)
			}
			t.Logf("%s %s", c.name, version)
			for _, tg := range []target{e.plain, e.proxy} {
				start := time.Now()
				var got []string
				if c.run != nil {
					got = c.run(t, tg)
				} else {
					got = runExternal(t, argv, tg)
				}
				t.Logf("%s via %s: %d lines in %v", c.name, tg.name, len(got), time.Since(start).Round(time.Millisecond))
				if diff := diffLines(want, got); diff != "" {
					t.Errorf("%s via %s: output differs from testdata/expected.txt (-want +got):\n%s", c.name, tg.name, diff)
				}
			}
		})
	}
}

// runExternal runs argv host port, restarting the target when the program
// prints "restart" and answering it on stdin, and returns its other lines.
func runExternal(t *testing.T, argv []string, tg target) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], tg.host, strconv.Itoa(tg.port))...)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "restart" {
			tg.restart()
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				t.Errorf("write to %s: %v", argv[0], err)
			}
			continue
		}
		lines = append(lines, line)
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s against %s: %v\nstderr:\n%s", strings.Join(argv, " "), tg.name, err, stderr.String())
	}
	return lines
}

// diffLines returns "" when got equals want, else every differing line.
func diffLines(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		w, g := "(none)", "(none)"
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, w, g)
		}
	}
	return b.String()
}

// requireRuntime skips the test (fails under CI=true) with the install hint
// when ok is false.
func requireRuntime(t *testing.T, ok bool, what, install string) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf("%s missing; install it with: %s", what, install)
	if testenv.InCI() {
		t.Fatal(msg + " (CI=true: a missing client runtime fails)")
	}
	t.Skip(msg)
}

// output runs a short command and returns its trimmed stdout, or "" and the
// error.
func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	return strings.TrimSpace(string(out)), err
}

// testdataDir returns the absolute path of testdata/<sub>.
func testdataDir(t *testing.T, sub string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", sub))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func clients(n *nodeEnv) []client {
	return []client{
		{name: "go-redis-resp2", run: goRedisRun(2), version: goRedisVersion()},
		{name: "go-redis-resp3", run: goRedisRun(3), version: goRedisVersion()},
		{name: "redis-py", prepare: preparePython},
		{name: "ioredis", prepare: prepareNode(n, "ioredis")},
		{name: "node-redis", prepare: prepareNode(n, "node-redis")},
		{name: "hiredis", prepare: prepareHiredis},
		{name: "redis-rb", prepare: prepareRuby},
	}
}

// python is Debian's interpreter, where python3-redis installs the library
// (a python3 earlier on PATH may be another installation without it).
const python = "/usr/bin/python3"

func preparePython(t *testing.T) ([]string, string) {
	v, err := output(python, "-c", "import redis; print(redis.__version__)")
	requireRuntime(t, err == nil, "redis-py for "+python, "apt-get install -y python3-redis")
	return []string{python, filepath.Join(testdataDir(t, "python"), "workload.py")}, "redis-py " + v
}

func prepareRuby(t *testing.T) ([]string, string) {
	v, err := output("ruby", "-e", `require "redis"; puts Redis::VERSION`)
	requireRuntime(t, err == nil, "ruby with redis-rb", "apt-get install -y ruby-redis")
	return []string{"ruby", filepath.Join(testdataDir(t, "ruby"), "workload.rb")}, "redis-rb " + v
}

func prepareHiredis(t *testing.T) ([]string, string) {
	_, ccErr := exec.LookPath("cc")
	_, hErr := os.Stat("/usr/include/hiredis/hiredis.h")
	requireRuntime(t, ccErr == nil && hErr == nil, "cc and hiredis headers", "apt-get install -y gcc libc6-dev libhiredis-dev")
	bin := filepath.Join(t.TempDir(), "workload")
	src := filepath.Join(testdataDir(t, "hiredis"), "workload.c")
	if out, err := exec.Command("cc", "-O1", "-Wall", "-Werror", "-pthread", "-o", bin, src, "-lhiredis").CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", src, err, out)
	}
	v, err := output(bin, "--version")
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	return []string{bin}, v
}

// nodeEnv is the copy of testdata/node where `npm ci` ran, shared by the
// two Node.js clients. The copy keeps node_modules out of the source tree;
// npm's cache makes later runs work offline.
type nodeEnv struct {
	dir  string // a directory that outlives both subtests
	once sync.Once
	err  error
}

func (n *nodeEnv) install() error {
	n.once.Do(func() {
		src, err := filepath.Abs(filepath.Join("testdata", "node"))
		if err != nil {
			n.err = err
			return
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			n.err = err
			return
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err == nil {
				err = os.WriteFile(filepath.Join(n.dir, e.Name()), b, 0o644)
			}
			if err != nil {
				n.err = err
				return
			}
		}
		cmd := exec.Command("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = n.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			n.err = fmt.Errorf("npm ci in %s: %v\n%s", n.dir, err, out)
		}
	})
	return n.err
}

func prepareNode(n *nodeEnv, lib string) func(t *testing.T) ([]string, string) {
	return func(t *testing.T) ([]string, string) {
		_, nodeErr := exec.LookPath("node")
		_, npmErr := exec.LookPath("npm")
		requireRuntime(t, nodeErr == nil && npmErr == nil, "node and npm", "apt-get install -y nodejs npm")
		if err := n.install(); err != nil {
			t.Fatal(err)
		}
		dir := n.dir
		pkg := map[string]string{"ioredis": "ioredis", "node-redis": "redis"}[lib]
		v, err := output("node", "-p", fmt.Sprintf("require(%q).version", filepath.Join(dir, "node_modules", pkg, "package.json")))
		if err != nil {
			t.Fatalf("version of %s: %v", pkg, err)
		}
		return []string{"node", filepath.Join(dir, lib+".js")}, lib + " " + v
	}
}
