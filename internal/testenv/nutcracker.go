package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ListenPlaceholder is replaced by StartNutcracker with the pool's
// 127.0.0.1:port listen address.
const ListenPlaceholder = "{{LISTEN}}"

// Nutcracker is a twemproxy (nutcracker) process started by
// StartNutcracker.
type Nutcracker struct {
	// Addr is the pool's listen address, "127.0.0.1:Port".
	Addr string
	// Port is the pool's listen port.
	Port int
	// StatsPort is the port of nutcracker's JSON stats endpoint on 127.0.0.1.
	StatsPort int
	// ConfigPath is the written nutcracker.yml.
	ConfigPath string
	// LogFile is nutcracker's log.
	LogFile string

	proc *process
}

// StartNutcracker writes yamlText, with {{LISTEN}} replaced by a free
// 127.0.0.1 address, to a nutcracker.yml in a t.TempDir, validates it with
// nutcracker -t, and starts nutcracker with stats on another free port
// (aggregated every second). It returns once the listen port accepts
// connections; nutcracker is killed in t.Cleanup. yamlText must contain
// {{LISTEN}} exactly once (one pool).
func StartNutcracker(t testing.TB, yamlText string) *Nutcracker {
	t.Helper()
	bin := RequireBinary(t, "nutcracker")
	if n := strings.Count(yamlText, ListenPlaceholder); n != 1 {
		t.Fatalf("testenv: StartNutcracker: config must contain %s exactly once, found %d times", ListenPlaceholder, n)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "nutcracker.yml")
	logFile := filepath.Join(dir, "nutcracker.log")
	var lastErr error
	for range startAttempts {
		port, stats := FreePort(t), FreePort(t)
		for stats == port {
			stats = FreePort(t)
		}
		addr := hostPort(port)
		cfg := strings.ReplaceAll(yamlText, ListenPlaceholder, addr)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatalf("testenv: write nutcracker config: %v", err)
		}
		if out, err := execOutput(bin, "-t", "-c", cfgPath); err != nil {
			t.Fatalf("testenv: nutcracker -t rejects the config: %v\n%s\n--- config ---\n%s", err, out, cfg)
		}
		args := []string{
			"-c", cfgPath,
			"-s", strconv.Itoa(stats),
			"-a", "127.0.0.1",
			"-i", "1000",
			"-o", logFile,
			"-p", filepath.Join(dir, "nutcracker.pid"),
		}
		n := &Nutcracker{Addr: addr, Port: port, StatsPort: stats, ConfigPath: cfgPath, LogFile: logFile}
		n.proc = newProcess(t, "nutcracker "+addr, bin, args, logFile, tcpReady(addr))
		lastErr = n.proc.start()
		if lastErr == nil {
			return n
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

// Kill sends SIGKILL and waits for nutcracker to exit. It is idempotent.
func (n *Nutcracker) Kill() { n.proc.kill() }
