package router

import (
	"time"

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
