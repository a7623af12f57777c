package testenv

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis is a redis-server (or redis-sentinel) process started by this
// package. Its fields are fixed for its lifetime: Restart reuses the same
// port and directory. Methods report failures through the testing.TB given
// to the Start function and must be called from the test goroutine.
type Redis struct {
	// Addr is "127.0.0.1:Port".
	Addr string
	// Port is the client port.
	Port int
	// Dir is the server's working directory (RDB, nodes.conf, log).
	Dir string
	// LogFile is the path of the server's stdout/stderr log inside Dir.
	LogFile string

	tb   testing.TB
	proc *process
}

// StartRedis starts redis-server on a free 127.0.0.1 port with persistence
// off, repl-diskless-sync-delay 0 and its directory in a t.TempDir, followed
// by extraArgs (a later directive overrides an earlier one), e.g.
// "--maxmemory", "10mb" or, for a replica, "--replicaof", "127.0.0.1",
// strconv.Itoa(master.Port). Output goes to LogFile. It returns once the
// server answers PING (10 s at most, else the test fails showing the log);
// the server is killed in t.Cleanup.
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	bin := RequireBinary(t, "redis-server")
	return startRedisServer(t, bin, false, extraArgs)
}

// startRedisServer starts bin with the standard test arguments. With
// cluster set the port is chosen so that port+10000 (the bus) is free too.
func startRedisServer(t testing.TB, bin string, cluster bool, extraArgs []string) *Redis {
	t.Helper()
	dir := t.TempDir()
	var lastErr error
	for range startAttempts {
		port := 0
		if cluster {
			port = FreePortPair(t)
		} else {
			port = FreePort(t)
		}
		args := append([]string{
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--dir", dir,
			"--daemonize", "no",
			// Replicas sync at once instead of after the default 5 s.
			"--repl-diskless-sync-delay", "0",
		}, extraArgs...)
		r := newRedis(t, "redis-server", bin, port, dir, args)
		lastErr = r.proc.start()
		if lastErr == nil {
			return r
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

// newRedis wraps a not yet started redis-server or redis-sentinel process.
func newRedis(t testing.TB, kind, bin string, port int, dir string, args []string) *Redis {
	addr := hostPort(port)
	logFile := filepath.Join(dir, kind+".log")
	return &Redis{
		Addr:    addr,
		Port:    port,
		Dir:     dir,
		LogFile: logFile,
		tb:      t,
		proc:    newProcess(t, kind+" "+addr, bin, args, logFile, pingReady(addr)),
	}
}

// Client returns a go-redis client connected directly to the server,
// closed in t.Cleanup, built from ClientOptions.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(ClientOptions(r.Addr))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ClientOptions returns go-redis options for addr with the fewest
// connection-setup commands go-redis v9 allows: RESP2, no CLIENT SETINFO, no
// CLIENT MAINT_NOTIFICATIONS. go-redis still sends HELLO 2 first and falls
// back to RESP2 on an error reply; nutcracker instead closes the connection,
// so talk to nutcracker with Do.
func ClientOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                     addr,
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// Running reports whether the server process is alive (paused counts as
// alive).
func (r *Redis) Running() bool { return r.proc.running() }

// Pid returns the server's process id, or 0 when it is not running.
func (r *Redis) Pid() int { return r.proc.pid() }

// Kill sends SIGKILL and waits for the process to exit. It is idempotent.
func (r *Redis) Kill() { r.proc.kill() }

// Restart starts the server again with the same port, directory and
// arguments (killing it first if it still runs) and waits until it answers
// PING. A cluster node keeps its identity through nodes.conf in Dir.
func (r *Redis) Restart() {
	r.tb.Helper()
	r.proc.kill()
	if err := r.proc.start(); err != nil {
		r.tb.Fatalf("testenv: restart %s: %v", r.Addr, err)
	}
}

// Pause stops the server with SIGSTOP: connections stay open but nothing is
// answered, as with a hung host. Undo with Resume.
func (r *Redis) Pause() {
	r.tb.Helper()
	if err := r.proc.signal(stopGroup); err != nil {
		r.tb.Fatalf("testenv: pause %s: %v", r.Addr, err)
	}
}

// Resume continues a paused server with SIGCONT.
func (r *Redis) Resume() {
	r.tb.Helper()
	if err := r.proc.signal(contGroup); err != nil {
		r.tb.Fatalf("testenv: resume %s: %v", r.Addr, err)
	}
}

// String returns the address, for test messages.
func (r *Redis) String() string { return fmt.Sprintf("redis %s", r.Addr) }
