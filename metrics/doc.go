// Package metrics owns shardproxy's Prometheus instrumentation and its
// operational HTTP endpoints: /metrics, /healthz, /readyz and, when enabled,
// /debug/pprof/.
//
// A Metrics value owns its own prometheus.Registry (never the global default
// registry), with the Go and process collectors and shardproxy_build_info, so
// several proxies can run in one process and tests see only their own series.
//
// The trade-off is in how handles are resolved. The data path never calls
// WithLabelValues: every series a pool or backend touches per request is
// resolved once, when the Pool or Backend handle is created, and a command's
// series are resolved the first time that command is used and then cached in
// an atomic pointer slot indexed by the command table's index. Recording a
// command therefore costs a bounds check, one atomic load and the atomic
// adds of the counter and histogram, with no map lookup and no allocation.
// The price is that handles are positional (the caller must pass the same
// command-table indexes it gave to Pool) and that a handle held after its
// series were removed (RemovePool, RemoveBackend) keeps counting into a series
// that is no longer exported.
//
// Label values are bounded by construction: pool and backend labels come from
// configuration or the cluster topology, command labels from the command table
// given to Pool (any other index is exported as "other"), and result, kind and
// error labels from fixed sets defined here.
package metrics
