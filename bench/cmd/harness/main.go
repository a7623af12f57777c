// Command harness runs the side-by-side benchmark (direct Redis,
// twemproxy, shardproxy) and writes results/<date>.md and PNG charts.
// `make bench` runs it; `make bench-smoke` runs it with -smoke.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/shardproxy/shardproxy/bench/chart"
	"github.com/shardproxy/shardproxy/bench/harness"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		smoke   = fs.Bool("smoke", false, "short run (one round, small sizes; under a minute)")
		root    = fs.String("root", "..", "repository root (where cmd/proxy is)")
		proxy   = fs.String("proxy", "", "shardproxy binary (default <root>/bin/shardproxy, built if missing or stale)")
		outDir  = fs.String("out", "results", "directory for the results file and charts")
		rounds  = fs.Int("rounds", 0, "interleaved rounds (default 3, smoke 1)")
		profile = fs.Bool("profile", false, "also write CPU and allocation profiles of shardproxy (-P 1 and -P 16 SET) to <out>/profiles-<date>")
		verbose = fs.Bool("v", false, "log every run")
		procs   = fs.Int("procs", 1, "shardproxy's --procs: 1 runs it on one CPU at a time, as twemproxy is; 0 lets it use every CPU")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	bin := *proxy
	if bin == "" {
		bin = filepath.Join(*root, "bin", "shardproxy")
		built, err := harness.EnsureProxy(ctx, *root, bin)
		if err != nil {
			log.Error("build shardproxy", "err", err)
			return 1
		}
		if built {
			log.Info("built shardproxy", "bin", bin)
		}
	}
	plan := harness.FullPlan()
	if *smoke {
		plan = harness.SmokePlan()
	}
	if *rounds > 0 {
		plan.Rounds = *rounds
	}
	work, err := os.MkdirTemp("", "shardproxy-bench-")
	if err != nil {
		log.Error("work dir", "err", err)
		return 1
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		log.Error("results dir", "err", err)
		return 1
	}
	date := time.Now().Format("2006-01-02")
	if *smoke {
		date += "-smoke"
	}
	cfg := harness.Config{ShardproxyBin: bin, WorkDir: work, Plan: plan, Logger: log, Procs: *procs}
	if *profile {
		cfg.ProfileDir = filepath.Join(*outDir, "profiles-"+date)
	}
	start := time.Now()
	res, err := harness.Run(ctx, cfg)
	if err != nil {
		log.Error("benchmark failed", "err", err)
		return 1
	}
	res.Notes = append(res.Notes, fmt.Sprintf("The harness run took %v.", time.Since(start).Round(time.Second)))
	if *procs > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("shardproxy ran with --procs %d (GOMAXPROCS), twemproxy is single-threaded.", *procs))
	} else {
		res.Notes = append(res.Notes, "shardproxy ran with Go's default GOMAXPROCS (every CPU).")
	}
	md := filepath.Join(*outDir, date+".md")
	if err := os.WriteFile(md, res.Markdown(), 0o644); err != nil {
		log.Error("write results", "err", err)
		return 1
	}
	files, err := chart.Write(res, *outDir, date)
	if err != nil {
		log.Error("charts", "err", err)
		return 1
	}
	log.Info("results written", "file", md, "charts", files, "took", time.Since(start).Round(time.Second))
	for _, c := range res.Checks() {
		verdict := "NOT MET"
		if c.Met {
			verdict = "met"
		}
		fmt.Fprintf(stderr, "%-8s %s: %s\n", verdict, c.Target, c.Got)
	}
	return 0
}
