package report

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{3}, 3},
		{"odd unsorted", []float64{9, 1, 5}, 5},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := Median(in); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatal("Median modified its input")
				}
			}
		})
	}
}

func sample(target, test string, p, round int, rps, p50, p99 float64, cpu time.Duration) Sample {
	return Sample{Target: target, Test: test, Pipeline: p, Round: round, Requests: 100000,
		Row: BenchRow{Test: test, RPS: rps, P50Ms: p50, P99Ms: p99}, CPU: cpu}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]Sample{
		sample(Twemproxy, "SET", 1, 0, 100, 0.5, 1.0, 300*time.Millisecond),
		sample(Shardproxy, "SET", 1, 0, 120, 0.4, 0.9, 200*time.Millisecond),
		sample(Twemproxy, "SET", 1, 1, 300, 0.7, 3.0, 300*time.Millisecond),
		sample(Shardproxy, "SET", 1, 1, 80, 0.6, 0.8, 100*time.Millisecond),
		sample(Twemproxy, "SET", 1, 2, 200, 0.6, 2.0, 300*time.Millisecond),
		sample(Shardproxy, "SET", 1, 2, 100, 0.5, 1.1, 300*time.Millisecond),
	})
	if len(s) != 2 || s[0].Target != Twemproxy || s[1].Target != Shardproxy {
		t.Fatalf("groups = %+v, want twemproxy then shardproxy", s)
	}
	want := Summary{Target: Twemproxy, Test: "SET", Pipeline: 1, Rounds: 3, RPS: 200, P50Ms: 0.6, P99Ms: 2.0, CPUPerMreq: 3}
	if s[0] != want {
		t.Errorf("twemproxy: got %+v, want %+v", s[0], want)
	}
	if got := s[1].CPUPerMreq; got < 1.999 || got > 2.001 {
		t.Errorf("shardproxy CPU/Mreq = %v, want 2 (0.6 s over 300,000 requests)", got)
	}
}

// fixture holds the numbers the target tests vary; the rest are fixed.
type fixture struct {
	spP16, twP16     float64       // -P 16 ops/s, SET and GET
	spP1, twP1       float64       // -P 1 ops/s
	spP99, twP99     float64       // -P 1 p99 ms
	spCPU, twCPU     time.Duration // -P 1 CPU per run of 100,000 requests
	idlePer, peak    int64
	procs1P1, procs1 float64 // shardproxy --procs 1: -P 1 and -P 16 ops/s
}

func good() fixture {
	return fixture{spP16: 1600, twP16: 1000, spP1: 110, twP1: 100, spP99: 0.9, twP99: 1.0,
		spCPU: time.Second, twCPU: 1200 * time.Millisecond, idlePer: 8 << 10, peak: 100 << 20, procs1P1: 95, procs1: 1400}
}

var procs1 = ShardproxyProcs(1)

func (f fixture) results() *Results {
	var samples []Sample
	for _, test := range []string{"SET", "GET"} {
		samples = append(samples,
			sample(Direct, test, 16, 0, 900, 1, 2, time.Second),
			sample(Twemproxy, test, 16, 0, f.twP16, 1, 2, time.Second),
			sample(Shardproxy, test, 16, 0, f.spP16, 1, 2, time.Second),
			sample(procs1, test, 16, 0, f.procs1, 1, 2.5, 500*time.Millisecond),
			sample(Twemproxy, test, 1, 0, f.twP1, 0.4, f.twP99, f.twCPU),
			sample(Shardproxy, test, 1, 0, f.spP1, 0.4, f.spP99, f.spCPU),
			sample(procs1, test, 1, 0, f.procs1P1, 0.5, 1.5, 1500*time.Millisecond),
		)
	}
	return &Results{
		Date:    time.Date(2025, 11, 25, 14, 0, 0, 0, time.UTC),
		Targets: []string{Direct, Twemproxy, Shardproxy, procs1},
		Bench:   Summarize(samples),
		Samples: samples,
		Idle:    []IdleRow{{Target: Shardproxy, Conns: 1000, Before: 10 << 20, Connected: 10<<20 + 1000*f.idlePer, Pinged: 10<<20 + 500*f.idlePer}},
		Stream:  []StreamRow{{Target: Shardproxy, Commands: 1000000, Before: 10 << 20, Peak: f.peak}},
		Batch: []BatchPoint{
			{Target: Direct, Batch: 1, OpsPerSec: 10000}, {Target: Shardproxy, Batch: 1, OpsPerSec: 5000},
			{Target: Direct, Batch: 10, OpsPerSec: 90000}, {Target: Shardproxy, Batch: 10, OpsPerSec: 45000},
		},
		Latency:  []LatencyRow{{RTT: 2 * time.Millisecond, Commands: 1000, Sequential: 2100 * time.Millisecond, Pipelined: 3 * time.Millisecond}},
		Requests: map[string]int{"SET -P 1": 100000},
	}
}

func TestChecks(t *testing.T) {
	with := func(change func(*fixture)) *Results {
		f := good()
		change(&f)
		return f.results()
	}
	for _, tc := range []struct {
		name    string
		r       *Results
		wantMet []bool // P1 SET, P1 GET, P16 SET, P16 GET, idle, stream
	}{
		{"all met", good().results(), []bool{true, true, true, true, true, true}},
		{"P1 ratio exactly 1.0 and CPU equal", with(func(f *fixture) { f.spP1, f.spCPU = 100, f.twCPU }), []bool{true, true, true, true, true, true}},
		{"P16 ratio short", with(func(f *fixture) { f.spP16 = 1490 }), []bool{true, true, false, false, true, true}},
		{"P16 judged on default, not --procs 1", with(func(f *fixture) { f.spP16, f.procs1 = 1400, 2000 }), []bool{true, true, false, false, true, true}},
		{"P1 judged on default, not --procs 1", with(func(f *fixture) { f.spP1, f.procs1P1 = 90, 200 }), []bool{false, false, true, true, true, true}},
		{"P1 ops short", with(func(f *fixture) { f.spP1 = 99 }), []bool{false, false, true, true, true, true}},
		{"P1 CPU per request higher", with(func(f *fixture) { f.spCPU = 1300 * time.Millisecond }), []bool{false, false, true, true, true, true}},
		{"P1 CPU not measured", with(func(f *fixture) { f.spCPU = 0 }), []bool{false, false, true, true, true, true}},
		{"P1 p99 worse", with(func(f *fixture) { f.spP99 = 1.2 }), []bool{false, false, true, true, true, true}},
		{"idle and stream over", with(func(f *fixture) { f.idlePer, f.peak = 13<<10, 300<<20 }), []bool{true, true, true, true, false, false}},
		{"nothing measured", &Results{}, []bool{false, false, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks := tc.r.Checks()
			if len(checks) != len(tc.wantMet) {
				t.Fatalf("%d checks, want %d", len(checks), len(tc.wantMet))
			}
			for i, c := range checks {
				if c.Met != tc.wantMet[i] {
					t.Errorf("check %d (%s: %s): met %v, want %v", i, c.Target, c.Got, c.Met, tc.wantMet[i])
				}
				if c.Got == "" {
					t.Errorf("check %d has no measured text", i)
				}
			}
		})
	}
}

func TestAbbrev(t *testing.T) {
	for target, want := range map[string]string{Direct: "d", Twemproxy: "t", TwemproxyV4: "t4", Shardproxy: "s", ShardproxyProcs(1): "s1", ShardproxyProcs(2): "s2"} {
		if got := Abbrev(target); got != want {
			t.Errorf("Abbrev(%q) = %q, want %q", target, got, want)
		}
	}
	for target, want := range map[string]bool{Direct: false, Twemproxy: false, Shardproxy: true, "shardproxy --procs 1": true, "shardproxyx": false} {
		if got := IsShardproxy(target); got != want {
			t.Errorf("IsShardproxy(%q) = %v, want %v", target, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	f := good()
	f.spP16 = 1200
	md := string(f.results().Markdown())
	for _, want := range []string{
		"# shardproxy Benchmark, 2025-11-25",
		"| -P 16 SET: shardproxy ops/s >= 1.5x twemproxy | 1200 vs 1000 ops/s = 1.20x | **not met** |",
		"| -P 1 SET: shardproxy ops/s >= 1.0x twemproxy, proxy CPU per request <= twemproxy's, p99 no worse | " +
			"110 vs 100 ops/s = 1.10x; CPU 10.00 vs 12.00 s/Mreq = 0.83x; p99 0.900 vs 1.000 ms | met |",
		"| test | direct ops/s | twemproxy ops/s | shardproxy ops/s | shardproxy --procs 1 ops/s | s/d | s/t | s1/t | " +
			"p50 ms d / t / s / s1 | p99 ms d / t / s / s1 | CPU s/Mreq d / t / s / s1 | CPU s/t | CPU s1/t |",
		"| SET | 900 | 1000 | 1200 | 1400 | 1.33x | 1.20x | 1.40x | 1.000 / 1.000 / 1.000 / 1.000 | 2.000 / 2.000 / 2.000 / 2.500 | 10.00 / 10.00 / 10.00 / 5.00 | 1.00x | 0.50x |",
		"| GET | - | 100 | 110 | 95 | - | 1.10x | 0.95x | - / 0.400 / 0.400 / 0.500 | - / 1.000 / 0.900 / 1.500 | - / 12.00 / 10.00 / 15.00 | 0.83x | 1.25x |",
		"s = shardproxy with default flags, s1 = shardproxy --procs 1.",
		"## shardproxy by flags, relative to twemproxy",
		"| measure | shardproxy default | shardproxy --procs 1 | twemproxy |",
		"| -P 1 SET / GET ops/s vs twemproxy | 1.10x / 1.10x | 0.95x / 0.95x | 1 |",
		"| -P 1 SET / GET proxy CPU per request vs twemproxy | 0.83x / 0.83x | 1.25x / 1.25x | 1 |",
		"| -P 16 SET / GET ops/s vs twemproxy | 1.20x / 1.20x | 1.40x / 1.40x | 1 |",
		"| 10 | 90000 | 45000 | 9.00x | 9.00x |",
		"| 2 ms | 2100 ms | 3.00 ms | 700.00x |",
		"| shardproxy | 1000 | 10.0 MB | 17.8 MB |",
		"(direct, twemproxy, shardproxy, shardproxy --procs 1, for each test in turn; each round starts one target further along",
		"t = twemproxy with default flags",
		"SET -P 1: 100000",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q\n%s", want, md)
		}
	}
}

// TestMarkdownDefaultOnly checks the tables of a run without a second
// shardproxy (harness -procs 0, or results of an older run).
func TestMarkdownDefaultOnly(t *testing.T) {
	r := good().results()
	r.Targets = nil
	var kept []Sample
	for _, s := range r.Samples {
		if s.Target != procs1 {
			kept = append(kept, s)
		}
	}
	r.Samples, r.Bench = kept, Summarize(kept)
	md := string(r.Markdown())
	for _, want := range []string{
		"| test | direct ops/s | twemproxy ops/s | shardproxy ops/s | s/d | s/t | p50 ms d / t / s | p99 ms d / t / s | CPU s/Mreq d / t / s | CPU s/t |",
		"| SET | 900 | 1000 | 1600 | 1.78x | 1.60x |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q\n%s", want, md)
		}
	}
	for _, absent := range []string{"--procs", "## shardproxy by flags"} {
		if strings.Contains(md, absent) {
			t.Errorf("Markdown of a default-only run has %q", absent)
		}
	}
}

func TestPairedRatio(t *testing.T) {
	samples := []Sample{
		sample(Twemproxy, "GET", 1, 0, 100, 0.5, 1.0, time.Second),
		sample(Shardproxy, "GET", 1, 0, 110, 0.5, 1.2, time.Second),
		sample(Twemproxy, "GET", 1, 1, 200, 0.5, 1.0, time.Second),
		sample(Shardproxy, "GET", 1, 1, 180, 0.5, 0.9, time.Second),
		sample(Twemproxy, "GET", 1, 2, 50, 0.5, 2.0, time.Second),
		sample(Shardproxy, "GET", 1, 2, 50, 0.5, 2.0, time.Second),
		// Only one side measured round 3, and another test or depth
		// never counts.
		sample(Shardproxy, "GET", 1, 3, 1000, 0.5, 0.1, time.Second),
		sample(Twemproxy, "SET", 1, 0, 1, 0.5, 1.0, time.Second),
		sample(Twemproxy, "GET", 16, 0, 1, 0.5, 1.0, time.Second),
	}
	rps := func(b BenchRow) float64 { return b.RPS }
	med, lo, hi, n := PairedRatio(samples, Shardproxy, Twemproxy, "GET", 1, rps)
	if n != 3 || med != 1.0 || lo != 0.9 || hi < 1.0999 || hi > 1.1001 {
		t.Errorf("ops: median %v, range %v-%v over %d rounds; want 1.0, 0.9-1.1 over 3", med, lo, hi, n)
	}
	med, _, _, _ = PairedRatio(samples, Shardproxy, Twemproxy, "GET", 1, func(b BenchRow) float64 { return b.P99Ms })
	if med != 1.0 {
		t.Errorf("p99: median %v, want 1.0 (ratios 1.2, 0.9, 1.0)", med)
	}
	if _, _, _, n := PairedRatio(samples, Shardproxy, TwemproxyV4, "GET", 1, rps); n != 0 {
		t.Errorf("%d rounds paired with a target never measured", n)
	}
}

// TestChecksV4 checks that a run which also measured twemproxy -v 4 is
// judged against twemproxy with default flags first, then against -v 4.
func TestChecksV4(t *testing.T) {
	r := good().results()
	for _, test := range []string{"SET", "GET"} {
		r.Samples = append(r.Samples,
			sample(TwemproxyV4, test, 16, 0, 1200, 1, 2, time.Second),
			sample(TwemproxyV4, test, 1, 0, 100, 0.4, 0.8, time.Second),
		)
	}
	r.Targets = []string{Direct, Twemproxy, TwemproxyV4, Shardproxy, procs1}
	r.Bench = Summarize(r.Samples)
	checks := r.Checks()
	want := []bool{true, true, true, true, true, true, false, false, false, false}
	if len(checks) != len(want) {
		t.Fatalf("%d checks, want %d", len(checks), len(want))
	}
	for i, c := range checks {
		if c.Met != want[i] {
			t.Errorf("check %d (%s: %s): met %v, want %v", i, c.Target, c.Got, c.Met, want[i])
		}
		if i >= 6 && !strings.Contains(c.Target, TwemproxyV4) {
			t.Errorf("check %d is %q, want one against %s", i, c.Target, TwemproxyV4)
		}
	}
	md := string(r.Markdown())
	for _, w := range []string{"| s/t4 |", "| CPU s/t4 |", "t4 = twemproxy -v 4"} {
		if !strings.Contains(md, w) {
			t.Errorf("Markdown lacks %q", w)
		}
	}
}
