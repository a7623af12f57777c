package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a server may take to become ready.
	startTimeout = 10 * time.Second
	// killTimeout bounds the wait for a SIGKILLed process to be reaped.
	killTimeout = 10 * time.Second
	// pollInterval is the pause between readiness probes.
	pollInterval = 10 * time.Millisecond
	// logTailLines is how much of a server log is shown on failure.
	logTailLines = 20
	// startAttempts is how often a server is started on a fresh port when
	// its port was taken between probing and binding.
	startAttempts = 3
)

// errAddrInUse means the server exited because its port was taken.
var errAddrInUse = errors.New("address already in use")

// process is one server child process that can be stopped and started again
// with the same command line. Its output goes to logPath.
type process struct {
	tb      testing.TB
	name    string // for messages, e.g. "redis-server 127.0.0.1:6379"
	path    string
	args    []string
	logPath string
	ready   func() error // nil once the server accepts work

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been reaped
}

// newProcess returns a process that is killed in tb's cleanup. When the test
// failed, the cleanup first logs the tail of the server's log.
func newProcess(tb testing.TB, name, path string, args []string, logPath string, ready func() error) *process {
	p := &process{tb: tb, name: name, path: path, args: args, logPath: logPath, ready: ready}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("testenv: last lines of %s log %s:\n%s", p.name, p.logPath, logTail(p.logPath, logTailLines))
		}
		p.kill()
	})
	return p
}

// start spawns the process in its own process group and waits until ready
// succeeds. It fails with errAddrInUse when the server exited because its
// port was taken, so the caller can retry on another port.
func (p *process) start() error {
	p.mu.Lock()
	if p.done != nil && !isClosed(p.done) {
		p.mu.Unlock()
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	f.Close() // the child holds its own descriptor
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait() // the exit status of a killed server says nothing useful
		close(done)
	}()
	return p.waitReady(done)
}

// waitReady polls p.ready until it succeeds, the process exits or
// startTimeout passes; on failure the process is killed.
func (p *process) waitReady(done chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := p.ready()
		if err == nil {
			return nil
		}
		if isClosed(done) {
			tail := logTail(p.logPath, logTailLines)
			if strings.Contains(strings.ToLower(tail), "address already in use") {
				return errAddrInUse
			}
			return fmt.Errorf("%s exited during startup; log %s:\n%s", p.name, p.logPath, tail)
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("%s not ready after %v: %v; log %s:\n%s",
				p.name, startTimeout, err, p.logPath, logTail(p.logPath, logTailLines))
		}
		time.Sleep(pollInterval)
	}
}

// running reports whether the process has been started and not yet reaped.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done != nil && !isClosed(p.done)
}

// kill sends SIGKILL to the process group and waits until the process is
// reaped. It does nothing when the process is not running.
func (p *process) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if done == nil || isClosed(done) {
		return
	}
	// Negative pid: the whole group, including anything the server forked
	// (redis forks for BGSAVE and full resyncs).
	_ = killGroup(cmd.Process.Pid)
	select {
	case <-done:
	case <-time.After(killTimeout):
		p.tb.Errorf("testenv: %s (pid %d) not reaped %v after SIGKILL", p.name, cmd.Process.Pid, killTimeout)
	}
}

// signal applies send (stopGroup, contGroup) to the process group of a
// running process.
func (p *process) signal(send func(pid int) error) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if done == nil || isClosed(done) {
		return fmt.Errorf("%s is not running", p.name)
	}
	return send(cmd.Process.Pid)
}

// pid returns the process id of the running process, or 0.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil || isClosed(p.done) {
		return 0
	}
	return p.cmd.Process.Pid
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// logTail returns the last n lines of the file at path.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// execOutput runs a short-lived command and returns its combined output.
func execOutput(path string, args ...string) ([]byte, error) {
	return exec.Command(path, args...).CombinedOutput()
}
