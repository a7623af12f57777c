package router

import (
	"fmt"
	"strings"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/metrics"
)

// INFO commandstats and latencystats, from the proxy's own per-command
// metrics (what clients saw, not what the shards ran): calls are the
// commands answered with a reply or a Redis error, failed_calls the Redis
// errors, rejected_calls the errors the proxy gave (NOPERM, CROSSSLOT,
// refused, backend unavailable or timed out). Latency percentiles come from
// the latency histogram's buckets, so they are bucket upper bounds.

// renderCommandstats writes cmdstat_<name>:calls=..,usec=..,usec_per_call=..,
// rejected_calls=..,failed_calls=.. for every command used.
func (p *Pool) renderCommandstats(b *strings.Builder) {
	p.m.EachCommand(func(i int, t metrics.CommandTotals) {
		if i >= command.Count {
			return // names Redis does not know; Redis does not list them either
		}
		calls := t.OK + t.Error
		usec := int64(t.Seconds * 1e6)
		per := 0.0
		if n := calls + t.ProxyError; n > 0 {
			per = float64(usec) / float64(n)
		}
		fmt.Fprintf(b, "cmdstat_%s:calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d\r\n",
			command.ByIndex(i).Name(), calls, usec, per, t.ProxyError, t.Error)
	})
}

// renderLatencystats writes latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=..
func (p *Pool) renderLatencystats(b *strings.Builder) {
	p.m.EachCommand(func(i int, t metrics.CommandTotals) {
		if i >= command.Count || len(t.Cumulative) == 0 {
			return
		}
		total := t.OK + t.Error + t.ProxyError
		if total == 0 {
			return
		}
		fmt.Fprintf(b, "latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,p99.9=%.3f\r\n", command.ByIndex(i).Name(),
			percentile(t, total, 0.5), percentile(t, total, 0.99), percentile(t, total, 0.999))
	})
}

// percentile returns the upper bound, in microseconds, of the first bucket
// holding the q-quantile of total observations (the largest finite bound
// when it lies beyond them).
func percentile(t metrics.CommandTotals, total uint64, q float64) float64 {
	want := uint64(q*float64(total) + 0.5)
	want = max(want, 1)
	for j, c := range t.Cumulative {
		if c >= want {
			return t.Bounds[j] * 1e6
		}
	}
	return t.Bounds[len(t.Bounds)-1] * 1e6
}
