package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestMain lets a test run the real program in a child process: the test
// binary re-executed with SHARDPROXY_TEST_MAIN=1 is the proxy, with real
// signals and its own resource limits and memory.
func TestMain(m *testing.M) {
	if os.Getenv("SHARDPROXY_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// child is the proxy running in a child process.
type child struct {
	cmd     *exec.Cmd
	log     *syncBuffer
	addr    string // the pool's listen address
	metrics string // the metrics HTTP address
	exited  chan struct{}
	err     error
}

// startChild runs the proxy on the configuration text conf, behind the
// command prefix wrap (such as prlimit), and waits until it serves.
func startChild(t *testing.T, conf string, wrap ...string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startChildExe(t, exe, conf, wrap...)
}

// startChildExe is startChild for the program exe (the test binary itself,
// or a proxy binary built for the test).
func startChildExe(t *testing.T, exe, conf string, wrap ...string) *child {
	t.Helper()
	path := writeFile(t, "proxy.yml", conf)
	args := append(append([]string{}, wrap...), exe, "-c", path, "--metrics-listen", "127.0.0.1:0", "--log-format", "json")
	c := &child{cmd: exec.Command(args[0], args[1:]...), log: &syncBuffer{}, exited: make(chan struct{})}
	c.cmd.Env = append(os.Environ(), "SHARDPROXY_TEST_MAIN=1")
	c.cmd.Stderr = c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
		if t.Failed() {
			t.Logf("proxy log:\n%s", c.log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for c.addr == "" || c.metrics == "" {
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not start:\n%s", c.log.String())
		}
		select {
		case <-c.exited:
			t.Fatalf("proxy exited: %v\n%s", c.err, c.log.String())
		case <-time.After(20 * time.Millisecond):
		}
		for _, line := range strings.Split(c.log.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			switch m["msg"] {
			case "pool serving":
				c.addr, _ = m["listen"].(string)
			case "shardproxy started":
				c.metrics, _ = m["metrics"].(string)
			}
		}
	}
	return c
}

func (c *child) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// waitExit waits up to d for the child to exit and returns its status.
func (c *child) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("proxy still running %v later", d)
		return -1
	}
}

// procStat reads the child's resident memory in bytes and its CPU time.
func (c *child) procStat(t *testing.T) (rss int64, cpu time.Duration) {
	t.Helper()
	pid := c.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return rss, time.Duration(utime+stime) * 10 * time.Millisecond // USER_HZ = 100
}

// SIGTERM, sent to the real process while five clients pipeline SETs:
// /readyz turns 503 at once, every command sent before the signal gets its
// reply, idle clients are closed, and the process exits 0.
func TestSIGTERMDrainsPipeliningClients(t *testing.T) {
	rs := []*testenv.Redis{testenv.StartRedis(t), testenv.StartRedis(t)}
	c := startChild(t, ringConfig(rs...)+"  shutdown_timeout: 5000\n")
	idle, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	const clients = 5
	var (
		mu          sync.Mutex
		signalled   bool
		sentBefore  [clients]int
		answered    [clients]int
		wg          sync.WaitGroup
		stopWriting = make(chan struct{})
	)
	for i := 0; i < clients; i++ {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wg.Add(2)
		go func() {
			defer wg.Done()
			for n := 0; ; n += 20 {
				var b []byte
				for j := 0; j < 20; j++ {
					key := fmt.Sprintf("term:%d:%d", i, n+j)
					b = fmt.Appendf(b, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n", len(key), key)
				}
				mu.Lock()
				before := !signalled
				mu.Unlock()
				if _, err := nc.Write(b); err != nil {
					return
				}
				if before {
					mu.Lock()
					sentBefore[i] = n + 20
					mu.Unlock()
				}
				select {
				case <-stopWriting:
					return
				default:
				}
			}
		}()
		go func() {
			defer wg.Done()
			br := bufio.NewReader(nc)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line != "+OK\r\n" {
					t.Errorf("client %d: reply %q", i, line)
					return
				}
				mu.Lock()
				answered[i]++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	mu.Lock()
	signalled = true // writes that start from now on may go unanswered
	mu.Unlock()
	// A write that started before the flag but returns after the signal
	// counts as after: only those that returned before it count.
	mu.Lock()
	before := sentBefore
	mu.Unlock()
	c.signal(t, syscall.SIGTERM)
	waitFor(t, 2*time.Second, func() bool {
		code, _ := httpGet(t, "http://"+c.metrics+"/readyz")
		return code == http.StatusServiceUnavailable
	}, "/readyz to turn 503 after SIGTERM")
	time.Sleep(200 * time.Millisecond)
	close(stopWriting)
	if code := c.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	wg.Wait()
	total := 0
	for i := range before {
		if answered[i] < before[i] {
			t.Errorf("client %d: %d SETs sent before SIGTERM, %d answered", i, before[i], answered[i])
		}
		total += before[i]
	}
	if total == 0 {
		t.Fatal("no command was sent before the signal")
	}
	t.Logf("SETs sent before SIGTERM per client: %v; answered: %v", before, answered)
	idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle client: %v, want EOF", err)
	}
	if !strings.Contains(c.log.String(), `"msg":"clients drained"`) {
		t.Error("no drain summary in the log")
	}
}

// A second SIGTERM stops the process at once, even with a client still
// busy and a long shutdown_timeout.
func TestSecondSIGTERMStopsAtOnce(t *testing.T) {
	rs := []*testenv.Redis{testenv.StartRedis(t)}
	c := startChild(t, ringConfig(rs...)+"  shutdown_timeout: 60000\n")
	nc, err := net.Dial("tcp", c.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	go func() { // busy: a PING every 20 ms, replies never read
		for {
			if _, err := nc.Write([]byte("PING\r\n")); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	c.signal(t, syscall.SIGTERM)
	time.Sleep(500 * time.Millisecond)
	select {
	case <-c.exited:
		t.Fatal("exited with a busy client before shutdown_timeout")
	default:
	}
	start := time.Now()
	c.signal(t, syscall.SIGTERM)
	c.waitExit(t, 3*time.Second)
	t.Logf("exited %v after the second SIGTERM", time.Since(start))
}

// With file descriptors scarce (RLIMIT_NOFILE 64), clients over the budget
// get Redis's "max number of clients reached", the proxy does not spin,
// /metrics keeps answering, and once clients leave new ones are served
// (issue 12, D5: the accept loop spun at 1.1 cores and /metrics hung).
func TestFileDescriptorExhaustion(t *testing.T) {
	prlimit := testenv.RequireBinary(t, "prlimit")
	rs := []*testenv.Redis{testenv.StartRedis(t)}
	c := startChild(t, ringConfig(rs...), prlimit, "--nofile=64:64", "--")
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	refused := 0
	for i := 0; i < 100; i++ {
		nc, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, nc)
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write([]byte("PING\r\n")); err != nil {
			t.Fatalf("client %d: write: %v", i, err)
		}
		line, err := bufio.NewReader(nc).ReadString('\n')
		switch {
		case line == "+PONG\r\n":
		case line == "-ERR max number of clients reached\r\n":
			refused++
		default:
			t.Fatalf("client %d: %q, %v", i, line, err)
		}
	}
	if refused == 0 || refused == 100 {
		t.Fatalf("%d of 100 clients refused; want some, with a limit of 64 descriptors", refused)
	}
	_, cpu0 := c.procStat(t)
	time.Sleep(2 * time.Second)
	_, cpu1 := c.procStat(t)
	if used := cpu1 - cpu0; used > 400*time.Millisecond {
		t.Errorf("proxy used %v of CPU in 2 s with descriptors exhausted", used)
	}
	code, body := httpGet(t, "http://"+c.metrics+"/metrics")
	if code != 200 || !strings.Contains(body, `shardproxy_client_connections_rejected_total{pool="alpha"}`) {
		t.Fatalf("/metrics: %d", code)
	}
	for _, nc := range conns {
		nc.Close()
	}
	conns = nil
	waitFor(t, 5*time.Second, func() bool {
		nc, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err != nil {
			return false
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(time.Second))
		nc.Write([]byte("PING\r\n"))
		line, _ := bufio.NewReader(nc).ReadString('\n')
		return line == "+PONG\r\n"
	}, "a new client to be served after the others left")
}

// Hostile input costs the real process little memory: the prefix that
// used to switch the limits off, then a declared 1 GB bulk, and a length
// line that never ends (issue 12, D1: 1.65 GB RSS; D2: 786 MB).
func TestHostileInputRSS(t *testing.T) {
	rs := []*testenv.Redis{testenv.StartRedis(t)}
	c := startChild(t, ringConfig(rs...))
	base, _ := c.procStat(t)
	payload := bytes.Repeat([]byte("x"), 1<<20)
	digits := bytes.Repeat([]byte("1"), 1<<20)
	for _, tc := range []struct {
		name  string
		head  string
		chunk []byte
	}{
		{"prefix then 1 GB bulk", "*+1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$1073741824\r\n", payload},
		{"count line without end", "*", digits},
		{"bulk length line without end", "*2\r\n$4\r\nECHO\r\n$", digits},
	} {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		sent := 0
		if _, err := nc.Write([]byte(tc.head)); err == nil {
			for sent < 256<<20 {
				n, err := nc.Write(tc.chunk)
				sent += n
				if err != nil {
					break
				}
			}
		}
		rss, _ := c.procStat(t)
		nc.Close()
		t.Logf("%s: proxy took %d MB, RSS %d MB (started at %d MB)", tc.name, sent>>20, rss>>20, base>>20)
		if sent > 32<<20 || rss > base+32<<20 {
			t.Errorf("%s: proxy took %d MB and its RSS grew from %d to %d MB", tc.name, sent>>20, base>>20, rss>>20)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
