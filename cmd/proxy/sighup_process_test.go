package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// buildProxy builds the shardproxy binary into a temporary directory.
func buildProxy(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "shardproxy")
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSighupProcess sends real signals to a real proxy process: SIGHUP
// reloads the file (a server added takes keys) and the process keeps
// running; a SIGHUP whose file changes redis_auth is refused and the
// process serves on; SIGTERM ends it with status 0. A proxy that does not
// catch SIGHUP dies of it, which this test sees.
func TestSighupProcess(t *testing.T) {
	bin := buildProxy(t)
	rs := []*testenv.Redis{testenv.StartRedis(t), testenv.StartRedis(t)}
	listen := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	confText := func(rs ...*testenv.Redis) string {
		return strings.Replace(ringConfig(rs...), "127.0.0.1:0", listen, 1)
	}
	conf := writeFile(t, "shardproxy.yml", confText(rs[0]))
	var stderr syncBuffer
	cmd := exec.Command(bin, "-c", conf, "--metrics-listen", "", "--log-format", "json")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("proxy log:\n%s", stderr.String())
		}
	})
	c := redis.NewClient(&redis.Options{Addr: listen, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	testenv.WaitFor(t, 20*time.Second, func() bool { return c.Ping(t.Context()).Err() == nil }, "the proxy process to answer PING")

	// alive fails the test if the process has exited.
	alive := func(after string) {
		t.Helper()
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the proxy exited after %s: %v", after, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	// logged waits for the n-th log line containing msg; the process
	// exiting meanwhile fails the test at once.
	logged := func(msg string, n int) {
		t.Helper()
		testenv.WaitFor(t, 10*time.Second, func() bool {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("the proxy exited while the test waited for %q: %v", msg, err)
			default:
			}
			return strings.Count(stderr.String(), msg) >= n
		}, "log line %q (number %d)", msg, n)
	}
	hup := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP: %v", err)
		}
	}

	// Add the second shard.
	if err := os.WriteFile(conf, []byte(confText(rs...)), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	alive("the first SIGHUP")
	logged(`"msg":"configuration reloaded"`, 1)
	for i := range 100 {
		if err := c.Set(t.Context(), fmt.Sprint("hup:", i), i, 0).Err(); err != nil {
			t.Fatalf("SET after the reload: %v", err)
		}
	}
	if n := rs[1].Client(t).DBSize(t.Context()).Val(); n == 0 {
		t.Fatal("no key went to the server the reload added")
	}

	// A restart-only change is refused; the process serves on.
	if err := os.WriteFile(conf, []byte(strings.Replace(confText(rs...), "  redis: true\n", "  redis: true\n  redis_auth: changed\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	alive("a refused SIGHUP")
	logged(`"msg":"config reload failed; running configuration kept"`, 1)
	if !strings.Contains(stderr.String(), "[redis_auth] changed: needs a restart") {
		t.Fatalf("the refusal does not name redis_auth:\n%s", stderr.String())
	}
	if err := c.Set(t.Context(), "still", "serving", 0).Err(); err != nil {
		t.Fatalf("SET after the refused reload: %v", err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not exit after SIGTERM")
	}
}
