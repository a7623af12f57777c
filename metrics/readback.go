package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// CommandTotals are one command's counters and latency histogram as they
// stand, read back for INFO commandstats and latencystats.
type CommandTotals struct {
	OK, Error, ProxyError uint64
	// Seconds is the sum of the observed latencies.
	Seconds float64
	// Bounds and Cumulative are the histogram's bucket upper bounds
	// (seconds) and the observations at or below each.
	Bounds     []float64
	Cumulative []uint64
}

// EachCommand calls fn, in index order, with the totals of every command
// index used so far (index len(CommandNames) is the "other" command). It
// reads the collectors, so it is for INFO, not the data path. Safe for
// concurrent use.
func (p *Pool) EachCommand(fn func(i int, t CommandTotals)) {
	for i := range p.cmds {
		c := p.cmds[i].Load()
		if c == nil {
			continue
		}
		var t CommandTotals
		t.OK = counterValue(c.OK)
		t.Error = counterValue(c.Error)
		t.ProxyError = counterValue(c.ProxyError)
		if m, ok := c.Latency.(prometheus.Metric); ok {
			var d dto.Metric
			if m.Write(&d) == nil && d.Histogram != nil {
				t.Seconds = d.Histogram.GetSampleSum()
				for _, b := range d.Histogram.GetBucket() {
					t.Bounds = append(t.Bounds, b.GetUpperBound())
					t.Cumulative = append(t.Cumulative, b.GetCumulativeCount())
				}
			}
		}
		fn(i, t)
	}
}

func counterValue(c prometheus.Counter) uint64 {
	var d dto.Metric
	if c.Write(&d) != nil || d.Counter == nil {
		return 0
	}
	return uint64(d.Counter.GetValue())
}
