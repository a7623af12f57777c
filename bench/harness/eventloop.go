package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shardproxy/shardproxy/bench/load"
	"github.com/shardproxy/shardproxy/bench/procstat"
	"github.com/shardproxy/shardproxy/bench/report"
)

// EventLoopConfig sizes the event-loop comparison (issue 8): the
// event-loop relay (bench/relay.Loop, default GOMAXPROCS and 1), the
// goroutine relay (one shard only), twemproxy and shardproxy with default
// flags, on 3 shards and on 1, in interleaved redis-benchmark rounds.
type EventLoopConfig struct {
	ShardproxyBin, RelayBin string
	WorkDir                 string
	Rounds                  int
	Clients, KeySpace       int
	// Requests is -n per pipeline depth (1 and 16).
	Requests map[int]int
	// Shards lists the shard counts to run, e.g. {3, 1}.
	Shards []int
	// IdleConns, when > 0, measures RSS per idle client at that many
	// connections for the loop relay, shardproxy and twemproxy (3 shards).
	IdleConns int
	Logger    *slog.Logger
}

// EventLoopRow is the median of one (shards, target, test, pipeline).
type EventLoopRow struct {
	Shards   int
	Target   string
	Test     string
	Pipeline int
	RPS      float64
	// CPUPerM is the proxy's CPU seconds (user+sys) per million requests.
	CPUPerM float64
	P99Ms   float64
}

// EventLoopResult is what RunEventLoop measured.
type EventLoopResult struct {
	Rows []EventLoopRow
	Idle []report.IdleRow
	// Samples holds every run, for the record.
	Samples map[int][]report.Sample
	Load    [2]string
}

// Target names of the event-loop comparison.
const (
	LoopRelay      = "loop relay"
	LoopRelayProcs = "loop relay GOMAXPROCS=1"
	GoRelay        = "goroutine relay"
)

// RunEventLoop runs the comparison; every server it starts is stopped
// before it returns.
func RunEventLoop(ctx context.Context, cfg EventLoopConfig) (*EventLoopResult, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b bins
	var err error
	if b.redis, err = lookBin("redis-server", "/usr/bin/redis-server"); err != nil {
		return nil, err
	}
	if b.benchmark, err = lookBin("redis-benchmark", "/usr/bin/redis-benchmark"); err != nil {
		return nil, err
	}
	if b.nutcracker, err = lookBin("nutcracker", "/usr/sbin/nutcracker"); err != nil {
		return nil, err
	}
	b.shardproxy = cfg.ShardproxyBin
	if _, err := raiseNoFile(uint64(2*cfg.IdleConns + 4096)); err != nil {
		return nil, err
	}
	res := &EventLoopResult{Samples: map[int][]report.Sample{}}
	res.Load[0] = procstat.LoadAvg()
	for _, n := range cfg.Shards {
		if err := runEventLoopShards(ctx, cfg, b, n, res, log); err != nil {
			return res, fmt.Errorf("%d shards: %w", n, err)
		}
	}
	res.Load[1] = procstat.LoadAvg()
	return res, nil
}

func runEventLoopShards(ctx context.Context, cfg EventLoopConfig, b bins, nShards int, res *EventLoopResult, log *slog.Logger) error {
	dir := filepath.Join(cfg.WorkDir, fmt.Sprintf("shards%d", nShards))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var procs []*proc
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
	}()
	var shardAddrs []string
	for i := 1; i <= nShards; i++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		sdir := filepath.Join(dir, fmt.Sprintf("shard%d", i))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return err
		}
		p, err := startProc(fmt.Sprintf("redis shard%d", i), b.redis, filepath.Join(sdir, "redis.log"),
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", sdir, "--daemonize", "no", "--maxclients", "20000")
		if err != nil {
			return err
		}
		procs = append(procs, p)
		shardAddrs = append(shardAddrs, hostPort(port))
		if err := waitPong(ctx, p, hostPort(port)); err != nil {
			return err
		}
	}
	// twemproxy and shardproxy with the harness's pool, nutcracker with
	// default flags like the main harness since 2026-12-01 (the event-loop
	// results of 2026-11-30 ran it with -v 4).
	twAddr, _, tw, err := startTwemproxy(ctx, shardAddrs, b, dir, report.Twemproxy, "nutcracker")
	if err != nil {
		return err
	}
	procs = append(procs, tw)
	targets := []target{{name: report.Twemproxy, addr: twAddr, proc: tw}}
	port, err := freePort()
	if err != nil {
		return err
	}
	mport, err := freePort()
	if err != nil {
		return err
	}
	spAddr := hostPort(port)
	file := filepath.Join(dir, "shardproxy.yml")
	if err := os.WriteFile(file, []byte(poolYAML(spAddr, shardAddrs)), 0o644); err != nil {
		return err
	}
	sp, err := startProc(report.Shardproxy, b.shardproxy, filepath.Join(dir, "shardproxy.log"), "-c", file, "--metrics-listen", hostPort(mport), "--log-level", "warn")
	if err != nil {
		return err
	}
	procs = append(procs, sp)
	if err := waitPong(ctx, sp, spAddr); err != nil {
		return err
	}
	targets = append(targets, target{name: report.Shardproxy, addr: spAddr, proc: sp})
	relays := []struct {
		name string
		args []string
	}{
		{LoopRelay, []string{"-mode", "loop", "-shards", strings.Join(shardAddrs, ",")}},
		{LoopRelayProcs, []string{"-mode", "loop", "-procs", "1", "-shards", strings.Join(shardAddrs, ",")}},
	}
	if nShards == 1 {
		relays = append(relays, struct {
			name string
			args []string
		}{GoRelay, []string{"-mode", "goroutine", "-shards", shardAddrs[0]}})
	}
	for i, rl := range relays {
		logFile := filepath.Join(dir, fmt.Sprintf("relay%d.log", i))
		p, err := startProc(rl.name, cfg.RelayBin, logFile, rl.args...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		addr, err := firstLine(ctx, p, logFile)
		if err != nil {
			return err
		}
		if err := waitPong(ctx, p, addr); err != nil {
			return err
		}
		targets = append(targets, target{name: rl.name, addr: addr, proc: p})
	}
	log.Info("servers up", "shards", shardAddrs)

	r := &runner{plan: Plan{Clients: cfg.Clients, KeySpace: cfg.KeySpace}, bins: b, log: log}
	tests := selectTests([]string{"set", "get"})
	for round := range cfg.Rounds {
		for _, pl := range []int{1, 16} {
			for _, bt := range tests {
				for _, t := range targets {
					s, err := r.benchmark(ctx, t, bt, pl, cfg.Requests[pl])
					if err != nil {
						return fmt.Errorf("round %d, %s -P %d against %s: %w", round+1, bt.name, pl, t.name, err)
					}
					s.Round = round
					res.Samples[nShards] = append(res.Samples[nShards], s)
				}
			}
		}
		log.Info("round done", "shards", nShards, "round", round+1, "of", cfg.Rounds)
	}
	res.Rows = append(res.Rows, summarizeLoop(nShards, res.Samples[nShards])...)

	if cfg.IdleConns > 0 && nShards == 3 {
		for _, t := range targets {
			if t.name == LoopRelayProcs {
				continue
			}
			row, err := idleOnce(ctx, r, t, cfg.IdleConns)
			if err != nil {
				return fmt.Errorf("idle %s: %w", t.name, err)
			}
			res.Idle = append(res.Idle, row)
			log.Info("idle", "target", t.name, "per_conn_kb", row.PerConn()/1024)
		}
	}
	return nil
}

// idleOnce measures RSS per idle connection at n connections to t.
func idleOnce(ctx context.Context, r *runner, t target, n int) (report.IdleRow, error) {
	pid := t.proc.pid()
	fds, err := procstat.OpenFDs(pid)
	if err != nil {
		return report.IdleRow{}, err
	}
	before, err := procstat.Mem(pid)
	if err != nil {
		return report.IdleRow{}, err
	}
	idle, err := load.OpenIdle(ctx, t.addr, n)
	if err != nil {
		return report.IdleRow{}, err
	}
	row, err := r.measureIdle(ctx, t, idle, fds, before.RSS)
	idle.Close()
	if err != nil {
		return row, err
	}
	return row, waitFDs(ctx, pid, func(k int) bool { return k <= fds+16 })
}

// firstLine waits for the first line of a process's log: the address the
// relay command prints.
func firstLine(ctx context.Context, p *proc, file string) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if err := p.alive(); err != nil {
			return "", err
		}
		if b, err := os.ReadFile(file); err == nil {
			if line, _, ok := strings.Cut(string(b), "\n"); ok {
				return strings.TrimSpace(line), nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", errors.New(p.name + " printed no address")
}

func summarizeLoop(nShards int, samples []report.Sample) []EventLoopRow {
	type key struct {
		target, test string
		p            int
	}
	rps, cpu, p99 := map[key][]float64{}, map[key][]float64{}, map[key][]float64{}
	var order []key
	for _, s := range samples {
		k := key{s.Target, s.Test, s.Pipeline}
		if _, ok := rps[k]; !ok {
			order = append(order, k)
		}
		rps[k] = append(rps[k], s.Row.RPS)
		cpu[k] = append(cpu[k], s.CPU.Seconds()/float64(s.Requests)*1e6)
		p99[k] = append(p99[k], s.Row.P99Ms)
	}
	var rows []EventLoopRow
	for _, k := range order {
		rows = append(rows, EventLoopRow{Shards: nShards, Target: k.target, Test: k.test, Pipeline: k.p,
			RPS: report.Median(rps[k]), CPUPerM: report.Median(cpu[k]), P99Ms: report.Median(p99[k])})
	}
	return rows
}

// Markdown renders the result: per shard count, one table per pipeline
// depth with each target's ops/s, CPU per request and p99, absolute and
// relative to twemproxy; then the idle table.
func (res *EventLoopResult) Markdown(cfg EventLoopConfig) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Medians of %d interleaved rounds; redis-benchmark -c %d -r %d, -n %d at -P 1 and %d at -P 16. "+
		"CPU is the proxy process's user+sys from /proc/<pid>/stat over the run, per million requests. "+
		"Ratios are against twemproxy in the same round set.\n\n",
		cfg.Rounds, cfg.Clients, cfg.KeySpace, cfg.Requests[1], cfg.Requests[16])
	shardCounts := map[int]bool{}
	for _, r := range res.Rows {
		shardCounts[r.Shards] = true
	}
	var ns []int
	for n := range shardCounts {
		ns = append(ns, n)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ns)))
	for _, n := range ns {
		for _, pl := range []int{1, 16} {
			fmt.Fprintf(&b, "### %d shard(s), -P %d\n\n", n, pl)
			b.WriteString("| target | SET ops/s | GET ops/s | SET CPU s/Mreq | GET CPU s/Mreq | SET p99 ms | GET p99 ms | SET / GET ops vs twemproxy | SET / GET CPU/req vs twemproxy | SET / GET p99 vs twemproxy |\n")
			b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
			get := func(target, test string) (EventLoopRow, bool) {
				for _, r := range res.Rows {
					if r.Shards == n && r.Pipeline == pl && r.Target == target && r.Test == test {
						return r, true
					}
				}
				return EventLoopRow{}, false
			}
			var names []string
			for _, r := range res.Rows {
				if r.Shards == n && r.Pipeline == pl && r.Test == "SET" {
					names = append(names, r.Target)
				}
			}
			for _, name := range names {
				s, _ := get(name, "SET")
				g, _ := get(name, "GET")
				ts, _ := get(report.Twemproxy, "SET")
				tg, _ := get(report.Twemproxy, "GET")
				fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.1f | %.1f | %.2f | %.2f | %.2fx / %.2fx | %.2fx / %.2fx | %.2fx / %.2fx |\n",
					name, s.RPS, g.RPS, s.CPUPerM, g.CPUPerM, s.P99Ms, g.P99Ms,
					s.RPS/ts.RPS, g.RPS/tg.RPS, s.CPUPerM/ts.CPUPerM, g.CPUPerM/tg.CPUPerM, s.P99Ms/ts.P99Ms, g.P99Ms/tg.P99Ms)
			}
			b.WriteString("\n")
		}
	}
	if len(res.Idle) > 0 {
		b.WriteString("### Idle clients (3 shards)\n\n| target | connections | RSS before (MB) | RSS connected (MB) | RSS after one PING each (MB) | KB per connection |\n|---|---|---|---|---|---|\n")
		for _, r := range res.Idle {
			fmt.Fprintf(&b, "| %s | %d | %.1f | %.1f | %.1f | %.2f |\n", r.Target, r.Conns,
				float64(r.Before)/(1<<20), float64(r.Connected)/(1<<20), float64(r.Pinged)/(1<<20), r.PerConn()/1024)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", res.Load[0], res.Load[1])
	return []byte(b.String())
}

// BuildRelay builds bench/cmd/relay into bin (moduleDir is the bench
// module's directory).
func BuildRelay(ctx context.Context, moduleDir, bin string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/relay")
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build relay: %v\n%s", err, out)
	}
	return nil
}
