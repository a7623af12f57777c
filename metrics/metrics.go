package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace is the prefix of every metric family this package defines.
const Namespace = "shardproxy"

// Label names and fixed label values. Every label value exported by this
// package is either one of these constants, a configured pool, server or
// address name, or a name from the command table given to Pool.
const (
	labelPool    = "pool"
	labelCommand = "command"
	labelResult  = "result"
	labelServer  = "server"
	labelAddr    = "addr"
	labelKind    = "kind"

	// OtherCommand is the command label of every command index outside the
	// command table given to Pool.
	OtherCommand = "other"

	resultOK         = "ok"
	resultError      = "error"
	resultProxyError = "proxy_error"

	redirectMoved = "moved"
	redirectAsk   = "ask"

	errTimeout  = "timeout"
	errConnect  = "connect"
	errClosed   = "closed"
	errProtocol = "protocol"

	reloadSuccess = "success"
	reloadFailure = "failure"
)

// LatencyBuckets returns the upper bounds, in seconds, of the command and
// backend latency histograms: 50µs to 2.5s. A proxy in front of Redis adds
// tens of microseconds on a healthy path, so the low end is fine-grained; the
// top end covers timeouts. 50ms is a bucket bound so that the p99 alert
// threshold in deploy/prometheus/alerts.yml is measured exactly.
func LatencyBuckets() []float64 {
	return []float64{
		0.00005, 0.0001, 0.00025, 0.0005,
		0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
		0.1, 0.25, 0.5, 1, 2.5,
	}
}

// BatchBuckets returns the upper bounds of the batch-size histograms
// (commands per client read, requests per backend write): 1, 2, 4, ... 1024.
func BatchBuckets() []float64 {
	return prometheus.ExponentialBuckets(1, 2, 11)
}

// Metrics holds every metric family of one proxy and the registry they are
// registered on. Create it with New. All methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	// Per pool.
	clientConns      *prometheus.GaugeVec
	clientConnsLimit *prometheus.GaugeVec
	accepted         *prometheus.CounterVec
	rejected         *prometheus.CounterVec
	acceptErrors     *prometheus.CounterVec
	disconnects      *prometheus.CounterVec
	commands         *prometheus.CounterVec
	commandLatency   *prometheus.HistogramVec
	clientBatch      *prometheus.HistogramVec
	clientBytesIn    *prometheus.CounterVec
	clientBytesOut   *prometheus.CounterVec
	redirects        *prometheus.CounterVec
	slotRefreshes    *prometheus.CounterVec
	slotsCovered     *prometheus.GaugeVec
	ejections        *prometheus.CounterVec
	failovers        *prometheus.CounterVec
	outputLimit      *prometheus.CounterVec
	blockedClients   *prometheus.GaugeVec
	dedicatedConns   *prometheus.GaugeVec

	// Per backend.
	backendUp         *prometheus.GaugeVec
	backendRequests   *prometheus.CounterVec
	backendErrors     *prometheus.CounterVec
	backendInFlight   *prometheus.GaugeVec
	backendLatency    *prometheus.HistogramVec
	backendWriteBatch *prometheus.HistogramVec
	backendReconnects *prometheus.CounterVec
	backendBytesIn    *prometheus.CounterVec
	backendBytesOut   *prometheus.CounterVec

	// Process wide.
	reloadOK     prometheus.Counter
	reloadFailed prometheus.Counter
	procs        prometheus.Gauge

	poolVecs    []deleter
	backendVecs []deleter
}

// deleter is a registered metric vector whose series RemovePool and
// RemoveBackend delete.
type deleter interface {
	prometheus.Collector
	DeletePartialMatch(labels prometheus.Labels) int
}

// New returns a Metrics with a fresh registry holding the Go and process
// collectors, shardproxy_build_info{version,goversion} (always 1) and every
// shardproxy_ family. version is the proxy's build version and goVersion the
// runtime's (runtime.Version()).
func New(version, goVersion string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}

	pool := []string{labelPool}
	backend := []string{labelPool, labelServer, labelAddr}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}

	m.clientConns = gauge("client_connections",
		"Client connections currently open.", pool...)
	m.clientConnsLimit = gauge("client_connections_limit",
		"Configured maximum of client connections; 0 means unlimited.", pool...)
	m.accepted = counter("client_connections_accepted_total",
		"Client connections accepted.", pool...)
	m.rejected = counter("client_connections_rejected_total",
		"Client connections refused because the pool was at its connection limit or shutting down.", pool...)
	m.acceptErrors = counter("accept_errors_total",
		"Failed accepts of client connections (such as no file descriptor left); the listener backs off after each.", pool...)
	m.disconnects = counter("client_disconnects_total",
		"Client connections closed by the proxy, by kind: protocol (a protocol error), query_buffer (client_query_buffer_limit), idle (client_idle_timeout) or shutdown (closed at shutdown_timeout).",
		labelPool, labelKind)
	m.commands = counter("commands_total",
		"Commands answered, by result: ok, error (a Redis error reply) or proxy_error (unavailable, timeout, cross-slot or refused by the proxy).",
		labelPool, labelCommand, labelResult)
	m.commandLatency = histogram("command_duration_seconds",
		"Time from reading a command to having its reply ready, as seen by the proxy.",
		LatencyBuckets(), labelPool, labelCommand)
	m.clientBatch = histogram("client_read_batch_commands",
		"Commands per batch read from a client connection (client pipelining).",
		BatchBuckets(), pool...)
	m.clientBytesIn = counter("client_received_bytes_total",
		"Bytes read from client connections.", pool...)
	m.clientBytesOut = counter("client_sent_bytes_total",
		"Bytes written to client connections.", pool...)
	m.redirects = counter("cluster_redirects_total",
		"Cluster redirections followed, by kind: moved or ask.", labelPool, labelKind)
	m.slotRefreshes = counter("cluster_slot_refreshes_total",
		"Slot-map refreshes of a cluster pool.", pool...)
	m.slotsCovered = gauge("cluster_slots_covered",
		"Hash slots (of 16384) that the current slot map of a cluster pool assigns to a reachable node.", pool...)
	m.ejections = counter("ejections_total",
		"Backends ejected from a pool's ring by the failure policy.", pool...)
	m.failovers = counter("failovers_total",
		"Master address changes of a Sentinel-managed pool that the proxy followed.", pool...)
	m.outputLimit = counter("client_output_buffer_disconnects_total",
		"Client connections closed because their output buffer went over the pool's client_output_buffer_limit, by class: normal or pubsub.",
		labelPool, "class")
	m.blockedClients = gauge("blocked_clients",
		"Clients waiting in a blocking command (BLPOP, XREAD BLOCK, ...) or WAIT.", pool...)
	m.dedicatedConns = gauge("dedicated_connections",
		"Backend connections dedicated to one client (transactions, blocking commands, WAIT), including idle ones kept for reuse.", pool...)

	m.backendUp = gauge("backend_up",
		"Whether the proxy currently holds a working connection to the backend (1) or not (0).", backend...)
	m.backendRequests = counter("backend_requests_total",
		"Requests sent to the backend.", backend...)
	m.backendErrors = counter("backend_errors_total",
		"Backend request and connection failures, by kind: timeout, connect, closed or protocol.",
		labelPool, labelServer, labelAddr, labelKind)
	m.backendInFlight = gauge("backend_in_flight_requests",
		"Requests sent to the backend and not yet answered.", backend...)
	m.backendLatency = histogram("backend_request_duration_seconds",
		"Time from enqueuing a request for the backend to reading its reply.",
		LatencyBuckets(), backend...)
	m.backendWriteBatch = histogram("backend_write_batch_requests",
		"Requests per write to a backend connection (coalescing of many clients' requests).",
		BatchBuckets(), backend...)
	m.backendReconnects = counter("backend_reconnects_total",
		"Connections to the backend re-established after a failure.", backend...)
	m.backendBytesIn = counter("backend_received_bytes_total",
		"Bytes read from backend connections.", backend...)
	m.backendBytesOut = counter("backend_sent_bytes_total",
		"Bytes written to backend connections.", backend...)

	reloads := counter("config_reloads_total",
		"Configuration reloads, by result: success or failure.", labelResult)
	m.reloadOK = reloads.WithLabelValues(reloadSuccess)
	m.reloadFailed = reloads.WithLabelValues(reloadFailure)

	m.procs = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "gomaxprocs",
		Help: "Ps the proxy runs Go code on at once (GOMAXPROCS): chosen by the proxy from its CPU use and the machine's idle CPU, or fixed by --procs or the GOMAXPROCS environment variable."})

	buildInfo := gauge("build_info",
		"Build information of the running proxy; always 1.", "version", "goversion")
	buildInfo.WithLabelValues(version, goVersion).Set(1)

	m.poolVecs = []deleter{
		m.clientConns, m.clientConnsLimit, m.accepted, m.rejected,
		m.acceptErrors, m.disconnects, m.commands, m.commandLatency, m.clientBatch, m.clientBytesIn, m.clientBytesOut,
		m.redirects, m.slotRefreshes, m.slotsCovered, m.ejections, m.failovers, m.outputLimit,
		m.blockedClients, m.dedicatedConns,
	}
	m.backendVecs = []deleter{
		m.backendUp, m.backendRequests, m.backendErrors, m.backendInFlight,
		m.backendLatency, m.backendWriteBatch, m.backendReconnects,
		m.backendBytesIn, m.backendBytesOut,
	}

	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo, reloads, m.procs,
	)
	for _, v := range m.poolVecs {
		reg.MustRegister(v)
	}
	for _, v := range m.backendVecs {
		reg.MustRegister(v)
	}
	return m
}

// Registry returns the registry that holds every collector of m, for
// exposition or for tests that gather it directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ConfigReload records the outcome of one configuration reload: success when
// err is nil, failure otherwise. Safe for concurrent use.
func (m *Metrics) ConfigReload(err error) {
	if err != nil {
		m.reloadFailed.Inc()
		return
	}
	m.reloadOK.Inc()
}

// SetProcs records the GOMAXPROCS value in force. Safe for concurrent use.
func (m *Metrics) SetProcs(n int) { m.procs.Set(float64(n)) }

// RemovePool deletes every series of the named pool, including those of its
// backends, e.g. when a reload drops the pool. Handles obtained earlier keep
// working but no longer export anything; a later Pool or Backend call for the
// same name starts new series from zero. Safe for concurrent use.
func (m *Metrics) RemovePool(pool string) {
	match := prometheus.Labels{labelPool: pool}
	for _, v := range m.poolVecs {
		v.DeletePartialMatch(match)
	}
	for _, v := range m.backendVecs {
		v.DeletePartialMatch(match)
	}
}

// RemoveBackend deletes every series of one backend of a pool (all
// addresses it was exported under), e.g. when the cluster topology drops a
// node or a reload removes a server. Handles obtained earlier keep working but
// no longer export anything. Safe for concurrent use.
func (m *Metrics) RemoveBackend(pool, server string) {
	match := prometheus.Labels{labelPool: pool, labelServer: server}
	for _, v := range m.backendVecs {
		v.DeletePartialMatch(match)
	}
}
