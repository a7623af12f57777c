package metrics

import "github.com/prometheus/client_golang/prometheus"

// Backend holds the pre-resolved series of one backend server of a pool,
// labelled pool, server (the configured name, or the address in cluster
// mode) and addr. Create it with Metrics.Backend. Every field is safe for
// concurrent use and is a handle to be used, not reassigned.
//
// Updates are atomic operations on memory shared by all goroutines that make
// them, so they are cheapest from the goroutines that own a connection: the
// writer adds a whole write's worth (Requests.Add(n), InFlight.Add(n),
// WriteBatch.Observe(n), BytesOut.Add) once per write, and the reader counts
// replies. Updating them from every client session per request works but
// makes the cores contend for the same cache lines (see
// BenchmarkBackendRequest).
type Backend struct {
	// Up is 1 while the proxy holds a working connection to the backend and
	// 0 otherwise; it starts at 0 and is set by the connection's owner.
	Up prometheus.Gauge
	// Requests counts requests sent to the backend.
	Requests prometheus.Counter
	// Errors counts failures by kind.
	Errors BackendErrors
	// InFlight is the number of requests sent and not yet answered: Add(n)
	// per write, Dec per reply or failed request.
	InFlight prometheus.Gauge
	// Latency observes seconds from enqueuing a request to reading its
	// reply (observed by the reader, which knows both times).
	Latency prometheus.Observer
	// WriteBatch observes the number of requests in each write to a backend
	// connection.
	WriteBatch prometheus.Observer
	// Reconnects counts connections re-established after a failure.
	Reconnects prometheus.Counter
	// BytesIn counts bytes read from the backend (Add per read).
	BytesIn prometheus.Counter
	// BytesOut counts bytes written to the backend (Add per write).
	BytesOut prometheus.Counter
}

// BackendErrors holds one counter per error kind of a backend
// (shardproxy_backend_errors_total{kind}).
type BackendErrors struct {
	// Timeout counts requests that got no reply within the timeout.
	Timeout prometheus.Counter
	// Connect counts failed connection attempts.
	Connect prometheus.Counter
	// Closed counts connections lost while in use (EOF, reset), each
	// failing its pending requests.
	Closed prometheus.Counter
	// Protocol counts replies that could not be parsed.
	Protocol prometheus.Counter
}

// Backend returns the handles of one backend, creating its series. Calling
// Backend again with the same labels returns handles to the same series.
// Meant for setup and topology changes, not the data path; see RemoveBackend
// for dropping a backend's series.
func (m *Metrics) Backend(pool, server, addr string) *Backend {
	return &Backend{
		Up:       m.backendUp.WithLabelValues(pool, server, addr),
		Requests: m.backendRequests.WithLabelValues(pool, server, addr),
		Errors: BackendErrors{
			Timeout:  m.backendErrors.WithLabelValues(pool, server, addr, errTimeout),
			Connect:  m.backendErrors.WithLabelValues(pool, server, addr, errConnect),
			Closed:   m.backendErrors.WithLabelValues(pool, server, addr, errClosed),
			Protocol: m.backendErrors.WithLabelValues(pool, server, addr, errProtocol),
		},
		InFlight:   m.backendInFlight.WithLabelValues(pool, server, addr),
		Latency:    m.backendLatency.WithLabelValues(pool, server, addr),
		WriteBatch: m.backendWriteBatch.WithLabelValues(pool, server, addr),
		Reconnects: m.backendReconnects.WithLabelValues(pool, server, addr),
		BytesIn:    m.backendBytesIn.WithLabelValues(pool, server, addr),
		BytesOut:   m.backendBytesOut.WithLabelValues(pool, server, addr),
	}
}
