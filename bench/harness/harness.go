package harness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardproxy/shardproxy/bench/procstat"
	"github.com/shardproxy/shardproxy/bench/report"
)

// Config is one run's settings. Plan returns the sizes for a full or a
// smoke run; zero fields of Config itself are errors, not defaults.
type Config struct {
	// ShardproxyBin is the proxy binary to measure.
	ShardproxyBin string
	// WorkDir holds the servers' configs, data and logs.
	WorkDir string
	// ProfileDir, if set, is where CPU and allocation profiles of
	// shardproxy during -P 1 and -P 16 SET runs are written (shardproxy
	// is started with --pprof).
	ProfileDir string
	// Procs, when > 0, adds a second shardproxy target run with --procs
	// Procs (GOMAXPROCS), measured in the same interleaved redis-benchmark
	// rounds as shardproxy with default flags. The default is what the
	// targets judge and what the other phases measure.
	Procs int
	// Phases, when not empty, runs only these phases (PhaseNames lists
	// them); empty runs every phase.
	Phases []string
	// Tests, when not empty, runs only these redis-benchmark tests (names
	// as in TestNames, case-insensitive); empty runs all of them.
	Tests []string
	// Plan is what to measure and how much.
	Plan Plan
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Plan sizes a run.
type Plan struct {
	Smoke bool
	// Rounds of interleaved redis-benchmark runs (and batch runs).
	Rounds int
	// Clients and KeySpace are redis-benchmark's -c and -r.
	Clients, KeySpace int
	// Requests is -n for the fast tests; SlowRequests for LRANGE_100 and
	// MSET, per pipeline depth.
	Requests, SlowRequests map[int]int
	// BatchSizes and BatchTime: each batch size runs for BatchTime.
	BatchSizes []int
	BatchTime  time.Duration
	// RTTs emulated by the relay (0: direct to the proxy, no relay) and
	// LatencyCommands sent at each.
	RTTs            []time.Duration
	LatencyCommands int
	// IdleConns and StreamCommands (with StreamValue-byte values) size the
	// memory tests; StreamSample is the RSS sampling period.
	IdleConns, StreamCommands, StreamValue int
	StreamSample                           time.Duration
	// PinnedTime is one transaction run's length and PinnedHandoffs the
	// elements pushed per BLPOP hand-off run (pinned phase).
	PinnedTime     time.Duration
	PinnedHandoffs int
}

// FullPlan is the plan of `make bench`: about ten minutes on two cores.
func FullPlan() Plan {
	return Plan{
		Rounds: 3, Clients: 50, KeySpace: 100000,
		Requests:        map[int]int{1: 100000, 16: 400000},
		SlowRequests:    map[int]int{1: 50000, 16: 100000},
		BatchSizes:      []int{1, 10, 50, 100, 500, 1000},
		BatchTime:       time.Second,
		RTTs:            []time.Duration{0, 100 * time.Microsecond, 500 * time.Microsecond, 2 * time.Millisecond, 50 * time.Millisecond},
		LatencyCommands: 1000,
		IdleConns:       10000, StreamCommands: 1000000, StreamValue: 100,
		StreamSample: 50 * time.Millisecond,
		PinnedTime:   3 * time.Second, PinnedHandoffs: 20000,
	}
}

// SmokePlan is the plan of `make bench-smoke`: under a minute.
func SmokePlan() Plan {
	return Plan{
		Smoke: true, Rounds: 1, Clients: 50, KeySpace: 100000,
		Requests:        map[int]int{1: 5000, 16: 5000},
		SlowRequests:    map[int]int{1: 5000, 16: 5000},
		BatchSizes:      []int{1, 10, 50, 100},
		BatchTime:       200 * time.Millisecond,
		RTTs:            []time.Duration{100 * time.Microsecond, 2 * time.Millisecond},
		LatencyCommands: 1000,
		IdleConns:       1000, StreamCommands: 100000, StreamValue: 100,
		StreamSample: 50 * time.Millisecond,
		PinnedTime:   500 * time.Millisecond, PinnedHandoffs: 2000,
	}
}

// bins are the external programs a run needs.
type bins struct {
	redis, benchmark, nutcracker, shardproxy string
}

func findBins(cfg *Config) (bins, error) {
	var b bins
	var err error
	if b.redis, err = lookBin("redis-server", "/usr/bin/redis-server"); err != nil {
		return b, err
	}
	if b.benchmark, err = lookBin("redis-benchmark", "/usr/bin/redis-benchmark"); err != nil {
		return b, err
	}
	if b.nutcracker, err = lookBin("nutcracker", "/usr/sbin/nutcracker"); err != nil {
		return b, err
	}
	if st, err := os.Stat(cfg.ShardproxyBin); err != nil || st.IsDir() {
		return b, fmt.Errorf("%w: shardproxy binary %q", errMissing, cfg.ShardproxyBin)
	}
	b.shardproxy = cfg.ShardproxyBin
	return b, nil
}

// runner carries one run's state between phases.
type runner struct {
	cfg  *Config
	plan Plan
	bins bins
	env  *env
	log  *slog.Logger
	res  *report.Results
	// tests are the redis-benchmark tests this run measures.
	tests []benchTest
}

type phase struct {
	name string
	fn   func(context.Context) error
}

// phases are the measurement phases in run order.
func (r *runner) phases() []phase {
	return []phase{
		{"rb", r.benchPhase},
		{"profile", r.profilePhase},
		{"batch", r.batchPhase},
		{"latency", r.latencyPhase},
		// Idle first: twemproxy keeps the buffers a long pipeline made it
		// allocate, which would hide what idle connections cost.
		{"idle", r.idlePhase},
		{"stream", r.streamPhase},
		{"acl", r.aclPhase},
		{"pinned", r.pinnedPhase},
	}
}

// PhaseNames lists the phases Config.Phases may name, in run order: rb
// (redis-benchmark), profile (only with ProfileDir), batch (batch sizes),
// latency (latency multiplier), idle (idle connections' RSS) and stream
// (peak RSS of a long pipeline), acl (SET and GET through shardproxy with
// an authenticated ACL user) and pinned (transactions/s and BLPOP
// hand-offs/s through shardproxy on 1 and 3 shards vs direct Redis).
func PhaseNames() []string {
	var r runner
	var names []string
	for _, ph := range r.phases() {
		names = append(names, ph.name)
	}
	return names
}

// TestNames lists the redis-benchmark tests Config.Tests may name.
func TestNames() []string {
	var names []string
	for _, bt := range benchTests() {
		names = append(names, bt.flag)
	}
	return names
}

// selectTests returns the tests named in names (all when empty), in table
// order.
func selectTests(names []string) []benchTest {
	var out []benchTest
	for _, bt := range benchTests() {
		if len(names) == 0 || containsFold(names, bt.flag) {
			out = append(out, bt)
		}
	}
	return out
}

// CheckSelection returns an error if phases or tests name an unknown
// phase or redis-benchmark test.
func CheckSelection(phases, tests []string) error {
	if err := validate(phases, PhaseNames()); err != nil {
		return fmt.Errorf("harness: phase %w", err)
	}
	if err := validate(tests, TestNames()); err != nil {
		return fmt.Errorf("harness: test %w", err)
	}
	return nil
}

// validate returns an error naming the first of got not in known.
func validate(got, known []string) error {
	for _, g := range got {
		if !containsFold(known, g) {
			return fmt.Errorf("%q unknown (known: %s)", g, strings.Join(known, ", "))
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Run starts the servers, measures everything in cfg.Plan and stops the
// servers. Any failed run (an error in redis-benchmark's output, a
// server that died, a wrong reply) fails the whole Run.
func Run(ctx context.Context, cfg Config) (*report.Results, error) {
	if cfg.Plan.Rounds < 1 || cfg.Plan.Clients < 1 || cfg.WorkDir == "" {
		return nil, errors.New("harness: Config needs a Plan with Rounds and Clients, and a WorkDir")
	}
	if err := CheckSelection(cfg.Phases, cfg.Tests); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := findBins(&cfg)
	if err != nil {
		return nil, err
	}
	// Each idle connection costs the harness one descriptor and the proxy
	// one; the proxies inherit the limit.
	want := uint64(2*cfg.Plan.IdleConns + 4096)
	got, err := raiseNoFile(want)
	if err != nil {
		return nil, fmt.Errorf("harness: raise RLIMIT_NOFILE: %w", err)
	}
	if got < uint64(cfg.Plan.IdleConns+1024) {
		return nil, fmt.Errorf("harness: RLIMIT_NOFILE is %d, too low for %d idle connections", got, cfg.Plan.IdleConns)
	}
	e, err := startEnv(ctx, &cfg, b, cfg.WorkDir, log)
	if err != nil {
		return nil, err
	}
	defer e.stop()

	r := &runner{cfg: &cfg, plan: cfg.Plan, bins: b, env: e, log: log, tests: selectTests(cfg.Tests)}
	var names []string
	for _, t := range e.targets() {
		names = append(names, t.name)
	}
	r.res = &report.Results{
		Date:              time.Now(),
		Smoke:             cfg.Plan.Smoke,
		Machine:           procstat.Describe(),
		RedisVersion:      versionOf(b.redis, "--version"),
		NutcrackerVersion: versionOf(b.nutcracker, "--version"),
		ShardproxyVersion: versionOf(b.shardproxy, "--version"),
		Clients:           cfg.Plan.Clients,
		KeySpace:          cfg.Plan.KeySpace,
		Rounds:            cfg.Plan.Rounds,
		Targets:           names,
		Requests:          map[string]int{},
		ShardproxyConfig:  e.spConfig,
		TwemproxyConfig:   e.twemConfig,
	}
	r.res.Notes = append(r.res.Notes,
		"redis-benchmark prints `WARNING: Could not fetch server CONFIG` against twemproxy, which does not serve CONFIG GET; the runs are otherwise unaffected.",
		fmt.Sprintf("RLIMIT_NOFILE for the harness and the servers: %d.", got))
	loadBefore := procstat.LoadAvg()
	for _, ph := range r.phases() {
		if len(cfg.Phases) > 0 && !containsFold(cfg.Phases, ph.name) {
			continue
		}
		start := time.Now()
		log.Info("phase start", "phase", ph.name)
		if err := ph.fn(ctx); err != nil {
			return r.res, fmt.Errorf("%s: %w", ph.name, err)
		}
		if err := e.alive(); err != nil {
			return r.res, fmt.Errorf("%s: %w", ph.name, err)
		}
		log.Info("phase done", "phase", ph.name, "took", time.Since(start).Round(time.Millisecond))
	}
	r.res.Bench = report.Summarize(r.res.Samples)
	r.res.Notes = append(r.res.Notes, fmt.Sprintf("Load average (1, 5, 15 min) at the start: %s; at the end: %s. "+
		"Anything above the CPU count means other work shared the machine during the run.", loadBefore, procstat.LoadAvg()))
	return r.res, nil
}

// benchTest is one redis-benchmark test: its table name, its name for
// the -tests flag and its arguments.
type benchTest struct {
	name string
	flag string
	args []string
	slow bool
}

func benchTests() []benchTest {
	return []benchTest{
		{name: "SET", flag: "set", args: []string{"-t", "set"}},
		{name: "GET", flag: "get", args: []string{"-t", "get"}},
		{name: "INCR", flag: "incr", args: []string{"-t", "incr"}},
		{name: "LPUSH", flag: "lpush", args: []string{"-t", "lpush"}},
		// A custom command instead of -t lrange_100, which would first
		// LPUSH -n elements each run; the list is prepared once instead.
		{name: "LRANGE_100", flag: "lrange_100", args: []string{"lrange", "mylist", "0", "99"}, slow: true},
		{name: "MSET (10 keys)", flag: "mset", args: []string{"-t", "mset"}, slow: true},
	}
}

// prepareList gives every target a 100-element "mylist" (the same key
// redis-benchmark's LRANGE_100 reads).
func (r *runner) prepareList(ctx context.Context) error {
	args := []string{"RPUSH", "mylist"}
	for i := range 100 {
		args = append(args, "element:"+strconv.Itoa(i))
	}
	for _, t := range r.env.targets() {
		if err := doCmd(ctx, t.addr, "DEL", "mylist"); err != nil {
			return fmt.Errorf("%s: DEL mylist: %w", t.name, err)
		}
		if err := doCmd(ctx, t.addr, args...); err != nil {
			return fmt.Errorf("%s: RPUSH mylist: %w", t.name, err)
		}
	}
	return nil
}

func (r *runner) benchPhase(ctx context.Context) error {
	if err := r.prepareList(ctx); err != nil {
		return err
	}
	for round := range r.plan.Rounds {
		targets := rotate(r.env.targets(), round)
		for _, p := range []int{1, 16} {
			for _, bt := range r.tests {
				n := r.plan.Requests[p]
				if bt.slow {
					n = r.plan.SlowRequests[p]
				}
				r.res.Requests[fmt.Sprintf("%s -P %d", bt.name, p)] = n
				for _, t := range targets {
					s, err := r.benchmark(ctx, t, bt, p, n)
					if err != nil {
						return fmt.Errorf("round %d, %s -P %d against %s: %w", round+1, bt.name, p, t.name, err)
					}
					s.Round = round
					r.res.Samples = append(r.res.Samples, s)
					r.log.Debug("run", "round", round+1, "target", t.name, "test", bt.name, "P", p, "rps", s.Row.RPS, "p99", s.Row.P99Ms)
				}
			}
		}
		r.log.Info("round done", "round", round+1, "of", r.plan.Rounds)
	}
	return nil
}

// rotate returns ts starting at index k (mod its length): round k's order,
// so that every target runs at every position as often as the rounds allow
// and none always follows the same one (a proxy run right after another
// meets the shards and the machine as that one left them).
func rotate(ts []target, k int) []target {
	if len(ts) == 0 {
		return ts
	}
	k %= len(ts)
	return slices.Concat(ts[k:], ts[:k])
}

// benchmark runs redis-benchmark once and charges the CPU used by t.proc.
func (r *runner) benchmark(ctx context.Context, t target, bt benchTest, p, n int) (report.Sample, error) {
	host, port, _ := strings.Cut(t.addr, ":")
	args := []string{"-h", host, "-p", port, "-c", strconv.Itoa(r.plan.Clients), "-r", strconv.Itoa(r.plan.KeySpace),
		"-n", strconv.Itoa(n), "-P", strconv.Itoa(p), "--csv"}
	args = append(args, t.auth...)
	args = append(args, bt.args...)
	before, err := procstat.CPU(t.proc.pid())
	if err != nil {
		return report.Sample{}, err
	}
	out, runErr := exec.CommandContext(ctx, r.bins.benchmark, args...).CombinedOutput()
	after, err := procstat.CPU(t.proc.pid())
	if err != nil {
		return report.Sample{}, fmt.Errorf("%w (did %s die?)", err, t.proc.name)
	}
	if runErr != nil {
		return report.Sample{}, fmt.Errorf("redis-benchmark %s: %v\n%s", strings.Join(args, " "), runErr, out)
	}
	if err := report.CheckOutput(out); err != nil {
		return report.Sample{}, err
	}
	if err := t.proc.alive(); err != nil {
		return report.Sample{}, err
	}
	rows, err := report.ParseCSV(out)
	if err != nil {
		return report.Sample{}, fmt.Errorf("%w\n%s", err, out)
	}
	if len(rows) != 1 {
		return report.Sample{}, fmt.Errorf("redis-benchmark printed %d results, want 1:\n%s", len(rows), out)
	}
	return report.Sample{Target: t.name, Test: bt.name, Pipeline: p, Requests: n, Row: rows[0], CPU: after - before}, nil
}
