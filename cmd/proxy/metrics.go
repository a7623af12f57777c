package main

import (
	"log/slog"
	"strings"

	"github.com/shardproxy/shardproxy/metrics"
	"github.com/shardproxy/shardproxy/router"
)

// serveMetrics starts the HTTP server for /metrics, /healthz and /readyz
// (and /debug/pprof/ when asked). An empty addr disables it.
func serveMetrics(p *router.Proxy, m *metrics.Metrics, addr string, pprof bool, log *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	h := m.Handler(metrics.HandlerOptions{
		Ready: func() (bool, string) {
			var missing []string
			for _, pool := range p.Pools() {
				if ok, detail := pool.Ready(); !ok {
					missing = append(missing, detail)
				}
			}
			if len(missing) > 0 {
				return false, strings.Join(missing, "\n")
			}
			return true, ""
		},
		Pprof: pprof,
		Log:   log,
	})
	srv, err := metrics.Serve(addr, h, log)
	if err != nil {
		return nil, err
	}
	return func() { srv.Close() }, nil
}
