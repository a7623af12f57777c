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

func resultsFor(spSet16, twSet16, spP99, twP99 float64, idlePer int64, peak int64) *Results {
	var samples []Sample
	for _, test := range []string{"SET", "GET"} {
		samples = append(samples,
			sample(Direct, test, 16, 0, 900, 1, 2, time.Second),
			sample(Twemproxy, test, 16, 0, twSet16, 1, 2, time.Second),
			sample(Shardproxy, test, 16, 0, spSet16, 1, 2, time.Second),
			sample(Twemproxy, test, 1, 0, 100, 0.4, twP99, time.Second),
			sample(Shardproxy, test, 1, 0, 110, 0.4, spP99, time.Second),
		)
	}
	return &Results{
		Date:    time.Date(2025, 11, 25, 14, 0, 0, 0, time.UTC),
		Bench:   Summarize(samples),
		Samples: samples,
		Idle:    []IdleRow{{Target: Shardproxy, Conns: 1000, Before: 10 << 20, Connected: 10<<20 + 1000*idlePer, Pinged: 10<<20 + 500*idlePer}},
		Stream:  []StreamRow{{Target: Shardproxy, Commands: 1000000, Before: 10 << 20, Peak: peak}},
		Batch: []BatchPoint{
			{Target: Direct, Batch: 1, OpsPerSec: 10000}, {Target: Shardproxy, Batch: 1, OpsPerSec: 5000},
			{Target: Direct, Batch: 10, OpsPerSec: 90000}, {Target: Shardproxy, Batch: 10, OpsPerSec: 45000},
		},
		Latency:  []LatencyRow{{RTT: 2 * time.Millisecond, Commands: 1000, Sequential: 2100 * time.Millisecond, Pipelined: 3 * time.Millisecond}},
		Requests: map[string]int{"SET -P 1": 100000},
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		r       *Results
		wantMet []bool // P16 SET, P16 GET, P1 SET, P1 GET, idle, stream
	}{
		{"all met", resultsFor(1400, 1000, 0.9, 1.0, 8<<10, 100<<20), []bool{true, true, true, true, true, true}},
		{"P16 ratio short", resultsFor(1200, 1000, 0.9, 1.0, 8<<10, 100<<20), []bool{false, false, true, true, true, true}},
		{"P1 p99 worse", resultsFor(1400, 1000, 1.2, 1.0, 8<<10, 100<<20), []bool{true, true, false, false, true, true}},
		{"idle and stream over", resultsFor(1400, 1000, 0.9, 1.0, 13<<10, 300<<20), []bool{true, true, true, true, false, false}},
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

func TestMarkdown(t *testing.T) {
	r := resultsFor(1200, 1000, 0.9, 1.0, 8<<10, 100<<20)
	md := string(r.Markdown())
	for _, want := range []string{
		"# shardproxy Benchmark, 2025-11-25",
		"| -P 16 SET: shardproxy ops/s >= 1.3x twemproxy | 1200 vs 1000 ops/s = 1.20x | **not met** |",
		"| -P 1 SET: shardproxy ops/s >= 1.0x twemproxy and p99 no worse | 110 vs 100 ops/s = 1.10x; p99 0.900 vs 1.000 ms | met |",
		"| SET | 900 | 1000 | 1200 | 1.33x | 1.20x |",
		"| 10 | 90000 | 45000 | 9.00x | 9.00x |",
		"| 2 ms | 2100 ms | 3.00 ms | 700.00x |",
		"| shardproxy | 1000 | 10.0 MB | 17.8 MB |",
		"SET -P 1: 100000",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q\n%s", want, md)
		}
	}
}
