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
	"strings"
	"syscall"
	"time"

	"github.com/shardproxy/shardproxy/bench/chart"
	"github.com/shardproxy/shardproxy/bench/harness"
	"github.com/shardproxy/shardproxy/bench/report"
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
		procs   = fs.Int("procs", 1, "also measure a second shardproxy run with --procs N in the same redis-benchmark rounds (0: only the default)")
		only    = fs.String("only", "", "comma-separated phases to run (default all): "+strings.Join(harness.PhaseNames(), ", "))
		tests   = fs.String("tests", "", "comma-separated redis-benchmark tests to run (default all): "+strings.Join(harness.TestNames(), ", "))
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "harness: unexpected arguments %q\n", fs.Args())
		return 2
	}
	phases, testNames := splitList(*only), splitList(*tests)
	if err := harness.CheckSelection(phases, testNames); err != nil {
		fmt.Fprintln(stderr, err)
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
	if len(phases) > 0 || len(testNames) > 0 {
		// A focused run must not overwrite the day's full results.
		date += "-partial"
	}
	cfg := harness.Config{ShardproxyBin: bin, WorkDir: work, Plan: plan, Logger: log, Procs: *procs,
		Phases: phases, Tests: testNames}
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
	note := "shardproxy ran with default flags (what users run; the targets judge it, and the batch, latency and memory phases measure it); twemproxy is single-threaded."
	if *procs > 0 {
		note += fmt.Sprintf(" The redis-benchmark rounds also measured a second shardproxy with the same pool and --procs %d (GOMAXPROCS), shown as %q.",
			*procs, report.ShardproxyProcs(*procs))
	}
	res.Notes = append(res.Notes, note)
	if len(phases) > 0 || len(testNames) > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("Partial run: phases %q, redis-benchmark tests %q (empty: all); targets of phases not run show as not measured.",
			*only, *tests))
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

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
