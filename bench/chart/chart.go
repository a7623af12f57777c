package chart

import (
	"fmt"
	"image/color"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/shardproxy/shardproxy/bench/report"
)

// targetColors gives each target one colour across charts.
func targetColors() map[string]color.Color {
	return map[string]color.Color{
		report.Direct:      color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
		report.Twemproxy:   color.RGBA{R: 0xe0, G: 0x8a, B: 0x1e, A: 0xff},
		report.TwemproxyV4: color.RGBA{R: 0xf2, G: 0xc0, B: 0x7a, A: 0xff},
		report.Shardproxy:  color.RGBA{R: 0x1f, G: 0x6f, B: 0xc0, A: 0xff},
	}
}

// Write renders every chart the results have data for into dir, with
// file names starting with prefix, and returns the files written.
func Write(r *report.Results, dir, prefix string) ([]string, error) {
	var files []string
	for _, p := range []int{1, 16} {
		name := filepath.Join(dir, fmt.Sprintf("%s-ops-P%d.png", prefix, p))
		ok, err := opsChart(r, p, name)
		if err != nil {
			return files, err
		}
		if ok {
			files = append(files, name)
		}
	}
	if len(r.Batch) > 0 {
		name := filepath.Join(dir, prefix+"-batch.png")
		if err := batchChart(r, name); err != nil {
			return files, err
		}
		files = append(files, name)
	}
	if len(r.Latency) > 0 {
		name := filepath.Join(dir, prefix+"-latency.png")
		if err := latencyChart(r, name); err != nil {
			return files, err
		}
		files = append(files, name)
	}
	return files, nil
}

// opsChart draws grouped bars of median ops/s per test at pipeline depth
// p. It reports false when there is nothing to draw.
func opsChart(r *report.Results, p int, file string) (bool, error) {
	targets := r.BenchTargets()
	// Only the tests that ran (a focused run may skip some).
	var tests []string
	for _, test := range report.BenchTests() {
		for _, target := range targets {
			if _, ok := report.Find(r.Bench, target, test, p); ok {
				tests = append(tests, test)
				break
			}
		}
	}
	if len(tests) == 0 {
		return false, nil
	}
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("redis-benchmark -c %d -P %d: median ops/s", r.Clients, p)
	pl.Y.Label.Text = "ops/s"
	pl.Legend.Top = true
	colors := targetColors()
	w := vg.Points(14)
	drawn := false
	for i, target := range targets {
		vals := make(plotter.Values, len(tests))
		for j, test := range tests {
			if s, ok := report.Find(r.Bench, target, test, p); ok {
				vals[j] = s.RPS
				drawn = true
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return false, err
		}
		bars.Color = colors[target]
		if bars.Color == nil {
			// Another shardproxy run (--procs N): light blue.
			bars.Color = color.RGBA{R: 0x7f, G: 0xb6, B: 0xea, A: 0xff}
		}
		bars.LineStyle.Width = 0
		bars.Offset = w * (vg.Length(i) - vg.Length(len(targets)-1)/2)
		pl.Add(bars)
		pl.Legend.Add(target, bars)
	}
	if !drawn {
		return false, nil
	}
	pl.NominalX(tests...)
	pl.Add(plotter.NewGrid())
	return true, pl.Save(9*vg.Inch, 4.5*vg.Inch, file)
}

// batchChart draws ops/s against batch size on a log-log plot.
func batchChart(r *report.Results, file string) error {
	pl := plot.New()
	pl.Title.Text = "SETs in batches on one connection"
	pl.X.Label.Text = "batch size (commands per write)"
	pl.Y.Label.Text = "ops/s"
	pl.X.Scale, pl.Y.Scale = plot.LogScale{}, plot.LogScale{}
	pl.X.Tick.Marker, pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	pl.Legend.Top = true
	pl.Legend.Left = true
	colors := targetColors()
	for _, target := range []string{report.Direct, report.Shardproxy} {
		var xys plotter.XYs
		for _, b := range r.Batch {
			if b.Target == target && b.OpsPerSec > 0 {
				xys = append(xys, plotter.XY{X: float64(b.Batch), Y: b.OpsPerSec})
			}
		}
		if len(xys) == 0 {
			continue
		}
		slices.SortFunc(xys, func(a, b plotter.XY) int { return int(a.X - b.X) })
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, points.Color = colors[target], colors[target]
		pl.Add(line, points)
		pl.Legend.Add(target, line, points)
	}
	pl.Add(plotter.NewGrid())
	return pl.Save(7*vg.Inch, 4.5*vg.Inch, file)
}

// latencyChart draws sequential and pipelined time per RTT, log scale.
func latencyChart(r *report.Results, file string) error {
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("%d SETs through shardproxy at emulated round trips", r.Latency[0].Commands)
	pl.Y.Label.Text = "total time (ms, log scale)"
	pl.Y.Scale = plot.LogScale{}
	pl.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	pl.Legend.Top = true
	pl.Legend.Left = true
	names := make([]string, len(r.Latency))
	var seq, pipe plotter.XYs
	for i, l := range r.Latency {
		names[i] = "no relay"
		if l.RTT > 0 {
			names[i] = strconv.FormatFloat(float64(l.RTT)/float64(time.Millisecond), 'g', -1, 64) + " ms RTT"
		}
		seq = append(seq, plotter.XY{X: float64(i), Y: msOf(l.Sequential)})
		pipe = append(pipe, plotter.XY{X: float64(i), Y: msOf(l.Pipelined)})
	}
	for _, s := range []struct {
		name string
		xys  plotter.XYs
		c    color.Color
	}{
		{"sequential", seq, color.RGBA{R: 0xc0, G: 0x30, B: 0x30, A: 0xff}},
		{"pipelined", pipe, color.RGBA{R: 0x1f, G: 0x6f, B: 0xc0, A: 0xff}},
	} {
		line, points, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return err
		}
		line.Color, points.Color = s.c, s.c
		pl.Add(line, points)
		pl.Legend.Add(s.name, line, points)
	}
	pl.NominalX(names...)
	pl.Add(plotter.NewGrid())
	return pl.Save(7*vg.Inch, 4.5*vg.Inch, file)
}

// msOf converts d to milliseconds, floored at 1 µs so the log scale never
// sees zero.
func msOf(d time.Duration) float64 {
	return max(float64(d)/float64(time.Millisecond), 0.001)
}
