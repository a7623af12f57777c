// Command shardproxy is a Redis sharding proxy. See the repository README.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/metrics"
	"github.com/shardproxy/shardproxy/router"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, stop))
}

// run is the whole program: it parses args, serves until a signal arrives on
// stop and returns the exit status: 0 on success, 1 when the configuration
// is invalid or serving fails, 2 for bad flags.
func run(args []string, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	fs := flag.NewFlagSet("shardproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		confPath      = fs.String("c", "conf/shardproxy.yml", "configuration file (nutcracker.yml compatible)")
		testOnly      = fs.Bool("t", false, "check the configuration file and exit (0 if valid)")
		showVersion   = fs.Bool("version", false, "print the version and exit")
		metricsListen = fs.String("metrics-listen", metrics.DefaultListen, "address of the metrics and health HTTP server (empty to disable)")
		logLevel      = fs.String("log-level", "info", "log level: debug, info, warn, error")
		logFormat     = fs.String("log-format", "text", "log format: text or json")
		pprof         = fs.Bool("pprof", false, "serve /debug/pprof/ on the metrics address")
		procs         = fs.Int("procs", 0, "CPUs the proxy may run Go code on at once (GOMAXPROCS); 0 keeps Go's default, all CPUs")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shardproxy: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "shardproxy %s (%s)\n", version, runtime.Version())
		return 0
	}
	if *procs < 0 {
		fmt.Fprintf(stderr, "shardproxy: bad --procs %d: want 0 (all CPUs) or more\n", *procs)
		return 2
	}
	if *procs > 0 {
		// On a small machine shared with Redis and the clients, one
		// thread (as twemproxy has) measured cheapest per request; see
		// the README's performance notes.
		runtime.GOMAXPROCS(*procs)
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, "shardproxy:", err)
		return 2
	}
	cfg, err := config.Load(*confPath)
	if err != nil {
		fmt.Fprintf(stderr, "shardproxy: configuration file '%s' syntax is invalid:\n%v\n", *confPath, err)
		return 1
	}
	if *testOnly {
		fmt.Fprintf(stdout, "shardproxy: configuration file '%s' syntax is ok\n", *confPath)
		return 0
	}
	m := metrics.New(version, runtime.Version())
	p, err := router.New(cfg, router.Options{Version: version, Logger: log, Metrics: m})
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	ms, err := serveMetrics(p, m, *metricsListen, *pprof, log)
	if err != nil {
		p.Close()
		log.Error("metrics listener failed", "addr", *metricsListen, "err", err)
		return 1
	}
	defer ms.Close()
	logStartup(log, cfg, p, ms.Addr(), *pprof)

	// The signal loop and a graceful shutdown it starts end before run
	// returns: Serve returns once the proxy is closed, and both are
	// waited for.
	var bg sync.WaitGroup
	defer bg.Wait()
	done := make(chan struct{})
	defer close(done)
	bg.Add(1)
	go func() {
		defer bg.Done()
		draining := false
		for {
			select {
			case sig := <-stop:
				if sig == syscall.SIGHUP {
					reload(log, p, *confPath)
					continue
				}
				if !draining {
					// First SIGTERM/SIGINT: /readyz turns 503 now;
					// clients are drained, then the proxy stops.
					draining = true
					log.Info("shutting down: draining clients (a second signal stops at once)", "signal", sig.String())
					bg.Add(1)
					go func() {
						defer bg.Done()
						p.Shutdown()
					}()
					continue
				}
				log.Warn("second signal: stopping at once", "signal", sig.String())
				p.Close()
				return
			case <-done:
				return
			}
		}
	}()
	if err := p.Serve(); err != nil {
		log.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

// reload re-reads the configuration file on SIGHUP and applies what can
// change without a restart; on any error the running configuration stays.
func reload(log *slog.Logger, p *router.Proxy, path string) {
	log.Info("reloading configuration", "config", path)
	cfg, err := config.Load(path)
	if err == nil {
		err = p.Reload(cfg)
	} else {
		p.ReloadFailed(err)
	}
	if err == nil {
		log.Info("configuration reloaded", "config", path)
	}
}

// logStartup logs the start-up summary: one line per pool, then one for
// the process.
func logStartup(log *slog.Logger, cfg *config.Config, p *router.Proxy, metricsAddr string, pprof bool) {
	for i, pool := range p.Pools() {
		pc := cfg.Pools[i] // router.New keeps the configuration's order
		up := 0
		for _, s := range pool.Servers() {
			if s.Up() {
				up++
			}
		}
		log.Info("pool serving", "pool", pool.Name(), "listen", pool.Addr(), "mode", pc.Mode,
			"distribution", pc.Distribution, "hash", pc.Hash, "servers", len(pool.Servers()), "servers_up", up)
	}
	log.Info("shardproxy started", "version", version, "go", runtime.Version(), "pid", os.Getpid(),
		"config", cfg.File, "metrics", metricsAddr, "pprof", pprof)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q: want text or json", format)
}
