package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shardproxy/shardproxy/metrics"
)

// nutcracker's command line, so that init scripts and unit files written for
// twemproxy start shardproxy unchanged. Go's flag package takes -x and --x
// alike; nutcracker's combined short options (-dt) are not supported.
type ncFlags struct {
	daemonize     bool
	pidFile       string
	output        string
	statsPort     int
	statsAddr     string
	statsInterval int
	verbosity     int
	mbufSize      int
	e             bool
	describeStats bool
	version       bool
}

// Defaults of nutcracker 0.5 that shardproxy keeps, and the one it changes:
// the stats address is loopback, not 0.0.0.0 (the stats port is
// unauthenticated); pass -a 0.0.0.0 for nutcracker's behaviour.
const (
	defaultStatsPort     = 22222
	defaultStatsAddr     = "127.0.0.1"
	defaultStatsInterval = 30000 // milliseconds
	defaultVerbosity     = 5
)

// register adds nutcracker's short and long options to fs; confPath and
// testOnly are shardproxy's -c and -t, which nutcracker also spells
// --conf-file and --test-conf.
func (n *ncFlags) register(fs *flag.FlagSet, confPath *string, testOnly *bool) {
	fs.StringVar(confPath, "conf-file", *confPath, "same as -c (nutcracker)")
	fs.BoolVar(testOnly, "test-conf", false, "same as -t (nutcracker)")
	for _, name := range []string{"d", "daemonize"} {
		fs.BoolVar(&n.daemonize, name, false, "run as a daemon: detach once serving (nutcracker -d)")
	}
	for _, name := range []string{"p", "pid-file"} {
		fs.StringVar(&n.pidFile, name, "", "write the process id to this file while running (nutcracker -p)")
	}
	for _, name := range []string{"o", "output"} {
		fs.StringVar(&n.output, name, "", "log to this file instead of stderr; reopened on SIGUSR1 (nutcracker -o)")
	}
	for _, name := range []string{"s", "stats-port"} {
		fs.IntVar(&n.statsPort, name, defaultStatsPort, "serve twemproxy's JSON stats on this port; the stats port is on only when one of -s, -a, -i is given")
	}
	for _, name := range []string{"a", "stats-addr"} {
		fs.StringVar(&n.statsAddr, name, defaultStatsAddr, "address of the stats port (nutcracker's default is 0.0.0.0)")
	}
	for _, name := range []string{"i", "stats-interval"} {
		fs.IntVar(&n.statsInterval, name, defaultStatsInterval, "stats aggregation interval in milliseconds (nutcracker -i)")
	}
	for _, name := range []string{"v", "verbose", "verbosity"} {
		fs.IntVar(&n.verbosity, name, defaultVerbosity, "nutcracker log verbosity 0..11, mapped to --log-level: <=3 error, 4 warn, 5-6 info, >=7 debug")
	}
	for _, name := range []string{"m", "mbuf-size"} {
		fs.IntVar(&n.mbufSize, name, 0, "accepted for nutcracker compatibility and ignored: shardproxy sizes its buffers per connection")
	}
	fs.BoolVar(&n.e, "e", false, "accepted for compatibility with nutcracker command lines and ignored")
	for _, name := range []string{"D", "describe-stats"} {
		fs.BoolVar(&n.describeStats, name, false, "print the stats port's fields and where their values come from, then exit (nutcracker -D)")
	}
	fs.BoolVar(&n.version, "V", false, "same as --version (nutcracker)")
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// anySet reports whether any of names was given.
func anySet(set map[string]bool, names ...string) bool {
	for _, n := range names {
		if set[n] {
			return true
		}
	}
	return false
}

// verbosityLevel maps nutcracker's -v (syslog-like: 3 error, 4 warning,
// 5 notice, 6 info, 7 and up debug) to a log level.
func verbosityLevel(v int) (string, error) {
	switch {
	case v < 0 || v > 11:
		return "", fmt.Errorf("bad -v %d: want 0..11", v)
	case v <= 3:
		return "error", nil
	case v == 4:
		return "warn", nil
	case v <= 6:
		return "info", nil
	}
	return "debug", nil
}

// describeStats prints the stats document's fields, as nutcracker -D does,
// with the source of each value.
func describeStats(w io.Writer) {
	fmt.Fprintf(w, "shardproxy %s: twemproxy 0.5 stats document\n\npool stats:\n", version)
	for _, f := range metrics.TwemproxyPoolFields {
		fmt.Fprintf(w, "  %-19s %-50q %s\n", f.Name, f.Description, f.Source)
	}
	fmt.Fprintf(w, "\nserver stats:\n")
	for _, f := range metrics.TwemproxyServerFields {
		fmt.Fprintf(w, "  %-19s %-50q %s\n", f.Name, f.Description, f.Source)
	}
}

// statsListen returns the stats port's address and interval, or "" when the
// stats port is off.
func (n *ncFlags) statsListen(set map[string]bool) (string, time.Duration, error) {
	if !anySet(set, "s", "stats-port", "a", "stats-addr", "i", "stats-interval") {
		return "", 0, nil
	}
	if n.statsPort < 0 || n.statsPort > 65535 {
		return "", 0, fmt.Errorf("bad -s %d: want a port 0..65535", n.statsPort)
	}
	if n.statsInterval <= 0 {
		return "", 0, fmt.Errorf("bad -i %d: want milliseconds > 0", n.statsInterval)
	}
	addr := n.statsAddr
	if strings.Contains(addr, ":") && !strings.HasPrefix(addr, "[") {
		addr = "[" + addr + "]" // an IPv6 address
	}
	return addr + ":" + strconv.Itoa(n.statsPort), time.Duration(n.statsInterval) * time.Millisecond, nil
}

// logFile is the -o log file. Writes are serialised; Reopen (on SIGUSR1)
// opens the path again, so logrotate can move the file away first.
type logFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

func openLogFile(path string) (*logFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	return &logFile{path: path, f: f}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen switches to a fresh open of the path; on error the old file stays.
func (l *logFile) Reopen() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("reopen log file: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file.
func (l *logFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// writePidFile writes the process id to path, as nutcracker -p does, and
// returns a function that removes it again.
func writePidFile(path string) (func(), error) {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("write pid file: %w", err)
	}
	return func() { _ = os.Remove(path) }, nil
}

// logIgnored notes the nutcracker flags that are accepted but do nothing.
func logIgnored(log *slog.Logger, set map[string]bool) {
	if anySet(set, "m", "mbuf-size") {
		log.Info("flag accepted and ignored", "flag", "-m", "reason", "shardproxy sizes its buffers per connection")
	}
	if set["e"] {
		log.Info("flag accepted and ignored", "flag", "-e")
	}
}
