package chart

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/bench/report"
)

func TestWrite(t *testing.T) {
	full := &report.Results{Clients: 50}
	for i, target := range []string{report.Direct, report.Twemproxy, report.Shardproxy} {
		for _, test := range report.BenchTests() {
			for _, p := range []int{1, 16} {
				full.Samples = append(full.Samples, report.Sample{Target: target, Test: test, Pipeline: p, Requests: 1000,
					Row: report.BenchRow{RPS: float64(50000 * (i + 1) * p)}})
			}
		}
	}
	full.Bench = report.Summarize(full.Samples)
	for _, n := range []int{1, 10, 100} {
		full.Batch = append(full.Batch, report.BatchPoint{Target: report.Direct, Batch: n, OpsPerSec: float64(10000 * n)},
			report.BatchPoint{Target: report.Shardproxy, Batch: n, OpsPerSec: float64(8000 * n)})
	}
	full.Latency = []report.LatencyRow{
		{RTT: 0, Commands: 1000, Sequential: 40 * time.Millisecond, Pipelined: time.Millisecond},
		{RTT: 2 * time.Millisecond, Commands: 1000, Sequential: 2 * time.Second, Pipelined: 3 * time.Millisecond},
	}
	// A focused run: four targets, SET and GET at -P 1 only.
	four := []string{report.Direct, report.Twemproxy, report.Shardproxy, report.ShardproxyProcs(1)}
	partial := &report.Results{Clients: 50, Targets: four}
	for i, target := range four {
		for _, test := range []string{"SET", "GET"} {
			partial.Samples = append(partial.Samples, report.Sample{Target: target, Test: test, Pipeline: 1, Requests: 1000,
				Row: report.BenchRow{RPS: float64(10000 * (i + 1))}})
		}
	}
	partial.Bench = report.Summarize(partial.Samples)
	for _, tc := range []struct {
		name  string
		r     *report.Results
		files []string
	}{
		{"everything", full, []string{"x-ops-P1.png", "x-ops-P16.png", "x-batch.png", "x-latency.png"}},
		{"partial", partial, []string{"x-ops-P1.png"}},
		{"nothing", &report.Results{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := Write(tc.r, dir, "x")
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != len(tc.files) {
				t.Fatalf("wrote %v, want %v", files, tc.files)
			}
			for i, f := range files {
				if filepath.Base(f) != tc.files[i] {
					t.Errorf("file %d = %s, want %s", i, filepath.Base(f), tc.files[i])
				}
				fh, err := os.Open(f)
				if err != nil {
					t.Fatal(err)
				}
				img, err := png.Decode(fh)
				fh.Close()
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
					t.Errorf("%s is %v, too small", f, b)
				}
			}
		})
	}
}
