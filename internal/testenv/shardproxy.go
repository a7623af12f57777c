package testenv

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// BuildShardproxy builds the proxy binary (./cmd/proxy of this module) into
// a t.TempDir and returns its path. With a warm build cache it takes about a
// second. Tests that need the real process (daemonizing, signals, restarts
// seen by foreign clients) use it; the rest run router.New in-process.
func BuildShardproxy(t testing.TB) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		// go test does not always put the go command on PATH.
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(t.TempDir(), "shardproxy")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/shardproxy/shardproxy/cmd/proxy")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go build ./cmd/proxy: %v\n%s", err, b)
	}
	return out
}

// Shardproxy is a proxy process started by StartShardproxy.
type Shardproxy struct {
	// Addr is the address the test waits on (the first pool's listen
	// address).
	Addr string
	// LogFile is where the process's stdout and stderr go.
	LogFile string

	tb   testing.TB
	proc *process
}

// StartShardproxy starts the proxy binary bin with args and returns once
// addr accepts TCP connections. The process is killed in t.Cleanup; its
// output goes to a log file shown when the test fails.
func StartShardproxy(t testing.TB, bin, addr string, args ...string) *Shardproxy {
	t.Helper()
	logFile := filepath.Join(t.TempDir(), "shardproxy.log")
	p := &Shardproxy{Addr: addr, LogFile: logFile, tb: t}
	p.proc = newProcess(t, "shardproxy "+addr, bin, args, logFile, tcpReady(addr))
	if err := p.proc.start(); err != nil {
		t.Fatalf("testenv: start shardproxy %s: %v\n%s", strings.Join(args, " "), err, logTail(logFile, logTailLines))
	}
	return p
}

// Restart kills the proxy (SIGKILL, as a crash or an OOM kill would) and
// starts it again with the same command line, waiting until addr accepts
// connections.
func (p *Shardproxy) Restart() {
	p.tb.Helper()
	p.proc.kill()
	if err := p.proc.start(); err != nil {
		p.tb.Fatalf("testenv: restart shardproxy %s: %v", p.Addr, err)
	}
}

// Signal sends sig to the proxy's process group.
func (p *Shardproxy) Signal(sig syscall.Signal) error {
	return p.proc.signal(func(pid int) error { return signalGroup(pid, sig) })
}

// Kill sends SIGKILL and waits for the process to exit. It is idempotent.
func (p *Shardproxy) Kill() { p.proc.kill() }
