package router

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/metrics"
)

// backendObserver feeds a backend server's events into its metrics.
type backendObserver struct{ m *metrics.Backend }

func (o backendObserver) Up(up bool) {
	if up {
		o.m.Up.Set(1)
	} else {
		o.m.Up.Set(0)
	}
}

func (o backendObserver) Reconnect() { o.m.Reconnects.Inc() }

func (o backendObserver) Failed(kind backend.ErrorKind) {
	switch kind {
	case backend.KindConnect:
		o.m.Errors.Connect.Inc()
	case backend.KindTimeout:
		o.m.Errors.Timeout.Inc()
	case backend.KindProtocol:
		o.m.Errors.Protocol.Inc()
	default:
		o.m.Errors.Closed.Inc()
	}
}

// Wrote runs once per write to the server, not per request, so pipelined
// requests cost the metrics one update per batch.
func (o backendObserver) Wrote(n, bytes int) {
	o.m.Requests.Add(float64(n))
	o.m.WriteBatch.Observe(float64(n))
	o.m.BytesOut.Add(float64(bytes))
}

func (o backendObserver) Replied(latency time.Duration, bytes int) {
	o.m.Latency.Observe(latency.Seconds())
	o.m.BytesIn.Add(float64(bytes))
}

// backendLatency summarises the reply latency of srv for INFO: the replies counted since start, their mean and an
// estimate of their 99th percentile, in microseconds. INFO is rare, so it
// reads the histogram the metrics already keep rather than making the data
// path record more.
func (p *Pool) backendLatency(srv *backend.Server) (n uint64, avgUsec, p99Usec float64) {
	if m := p.topology().backendMetrics(srv); m != nil {
		return histogramSummary(m.Latency)
	}
	return 0, 0, 0
}

// histogramSummary returns the sample count of the histogram behind o, the
// mean and the estimated 99th percentile of its samples, in millionths of
// the observed unit.
func histogramSummary(o prometheus.Observer) (n uint64, avgUsec, p99Usec float64) {
	m, ok := o.(prometheus.Metric)
	if !ok {
		return 0, 0, 0
	}
	var d dto.Metric
	if err := m.Write(&d); err != nil || d.GetHistogram() == nil {
		return 0, 0, 0
	}
	h := d.GetHistogram()
	n = h.GetSampleCount()
	if n == 0 {
		return 0, 0, 0
	}
	avgUsec = h.GetSampleSum() / float64(n) * 1e6
	p99Usec = bucketQuantile(0.99, h.GetBucket(), n) * 1e6
	return n, avgUsec, p99Usec
}

// bucketQuantile estimates the q-quantile of n observations from cumulative
// histogram buckets (the +Inf bucket left out) as Prometheus's
// histogram_quantile does: linear interpolation inside the bucket where
// the rank falls, the first bucket starting at 0. A rank beyond the last
// finite bound returns that bound.
func bucketQuantile(q float64, buckets []*dto.Bucket, n uint64) float64 {
	rank := q * float64(n)
	lower, below := 0.0, uint64(0)
	for _, bk := range buckets {
		upper, cum := bk.GetUpperBound(), bk.GetCumulativeCount()
		if float64(cum) >= rank && cum > below {
			return lower + (upper-lower)*(rank-float64(below))/float64(cum-below)
		}
		lower, below = upper, cum
	}
	return lower
}
