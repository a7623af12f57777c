// Command shardproxy is a Redis sharding proxy. See the repository README.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/autoprocs"
	"github.com/shardproxy/shardproxy/metrics"
	"github.com/shardproxy/shardproxy/router"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, notifySignals...)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, stop))
}

// run is the whole program: it parses args, serves until a signal arrives on
// stop and returns the exit status: 0 on success, 1 when the configuration
// is invalid or serving fails, 2 for bad flags.
//
// Signals: SIGHUP reloads the configuration, SIGUSR1 reopens the -o log
// file (nutcracker uses SIGHUP for that; here SIGHUP keeps meaning reload),
// SIGINT and SIGTERM stop the proxy.
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
		procs         = fs.Int("procs", 0, "CPUs the proxy may run Go code on at once (GOMAXPROCS); 0 (default) lets the proxy choose from its CPU use and the machine's idle CPU")
		healthcheck   = fs.String("healthcheck", "", "GET this URL (e.g. http://127.0.0.1:9122/healthz) and exit 0 on 200, else 1; for container HEALTHCHECKs in images without curl")
	)
	var nc ncFlags
	nc.register(fs, confPath, testOnly)
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
	if *showVersion || nc.version {
		fmt.Fprintf(stdout, "shardproxy %s (%s)\n", version, runtime.Version())
		return 0
	}
	if *healthcheck != "" {
		return checkHealth(*healthcheck, stdout, stderr)
	}
	if nc.describeStats {
		describeStats(stdout)
		return 0
	}
	set := setFlags(fs)
	if *procs < 0 {
		fmt.Fprintf(stderr, "shardproxy: bad --procs %d: want 0 (automatic) or more\n", *procs)
		return 2
	}
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	if anySet(set, "v", "verbose", "verbosity") {
		if set["log-level"] {
			fmt.Fprintln(stderr, "shardproxy: -v and --log-level both given: use one")
			return 2
		}
		lv, err := verbosityLevel(nc.verbosity)
		if err != nil {
			fmt.Fprintln(stderr, "shardproxy:", err)
			return 2
		}
		*logLevel = lv
	}
	// Check the log flags before anything else happens.
	if _, err := newLogger(io.Discard, *logLevel, *logFormat); err != nil {
		fmt.Fprintln(stderr, "shardproxy:", err)
		return 2
	}
	statsAddr, statsInterval, err := nc.statsListen(set)
	if err != nil {
		fmt.Fprintln(stderr, "shardproxy:", err)
		return 2
	}
	cfg, err := config.Load(*confPath)
	if err == nil {
		err = router.CheckConfig(cfg) // ACL users and command names
	}
	if err != nil {
		fmt.Fprintf(stderr, "shardproxy: configuration file '%s' syntax is invalid:\n%v\n", *confPath, err)
		return 1
	}
	if *testOnly {
		fmt.Fprintf(stdout, "shardproxy: configuration file '%s' syntax is ok\n", *confPath)
		return 0
	}
	ready := daemonChild()
	if nc.daemonize && ready == nil {
		return daemonize(args, stderr)
	}
	// fail reports a start-up failure to the log and, for a daemon child,
	// to the waiting parent.
	var log *slog.Logger
	fail := func(msg string, err error, attrs ...any) int {
		log.Error(msg, append(attrs, "err", err)...)
		notifyReady(ready, fmt.Errorf("%s: %w", msg, err))
		return 1
	}

	logOut := stderr
	var lf *logFile
	if nc.output != "" && nc.output != "stderr" {
		if lf, err = openLogFile(nc.output); err != nil {
			fmt.Fprintln(stderr, "shardproxy:", err)
			notifyReady(ready, err)
			return 1
		}
		defer lf.Close()
		logOut = lf
	}
	log, _ = newLogger(logOut, *logLevel, *logFormat)
	logIgnored(log, set)

	m := metrics.New(version, runtime.Version())
	// GOMAXPROCS: --procs or the environment variable fixes it; else the
	// proxy chooses it (internal/autoprocs), starting at one P.
	if *procs == 0 && os.Getenv("GOMAXPROCS") == "" && autoprocs.Supported() {
		ap := autoprocs.Start(autoprocs.Options{OnChange: m.SetProcs, Log: log})
		defer ap.Stop()
	} else {
		m.SetProcs(runtime.GOMAXPROCS(0))
	}
	p, err := router.New(cfg, router.Options{Version: version, Logger: log, Metrics: m})
	if err != nil {
		return fail("start failed", err)
	}
	ms, err := serveMetrics(p, m, *metricsListen, *pprof, log)
	if err != nil {
		p.Close()
		return fail("metrics listener failed", err, "addr", *metricsListen)
	}
	defer ms.Close()
	if statsAddr != "" {
		host, _ := os.Hostname()
		ss, err := metrics.ServeTwemproxyStats(statsAddr, statsInterval, m,
			metrics.StatsInfo{Source: host, Version: version, Started: time.Now()}, log)
		if err != nil {
			p.Close()
			return fail("stats listener failed", err, "addr", statsAddr)
		}
		defer ss.Close()
		statsAddr = ss.Addr()
	}
	if nc.pidFile != "" {
		remove, err := writePidFile(nc.pidFile)
		if err != nil {
			p.Close()
			return fail("start failed", err, "pid_file", nc.pidFile)
		}
		defer remove()
	}
	logStartup(log, cfg, p, ms.Addr(), statsAddr, *pprof)
	notifyReady(ready, nil)

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
				switch sig {
				case reloadSignal:
					reload(log, p, *confPath)
					continue
				case reopenSignal:
					reopenLog(log, lf)
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

// reopenLog reopens the -o log file on SIGUSR1 (after logrotate moved it).
func reopenLog(log *slog.Logger, lf *logFile) {
	if lf == nil {
		log.Info("SIGUSR1: no log file to reopen (logging to stderr)")
		return
	}
	if err := lf.Reopen(); err != nil {
		log.Error("log file not reopened", "file", lf.path, "err", err)
		return
	}
	log.Info("log file reopened", "file", lf.path)
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
func logStartup(log *slog.Logger, cfg *config.Config, p *router.Proxy, metricsAddr, statsAddr string, pprof bool) {
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
		"config", cfg.File, "metrics", metricsAddr, "stats", statsAddr, "pprof", pprof)
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

// checkHealth is --healthcheck: one GET with a short timeout.
func checkHealth(url string, stdout, stderr io.Writer) int {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "shardproxy: healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "shardproxy: healthcheck: %s: %s\n%s", url, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s", body)
	return 0
}
