package main

import (
	"log/slog"
	"strings"

	"github.com/shardproxy/shardproxy/metrics"
	"github.com/shardproxy/shardproxy/router"
)

// metricsServer is the running metrics endpoint, or none when its address
// is empty.
type metricsServer struct{ srv *metrics.Server }

// Addr returns the address served, with the actual port; "" when disabled.
func (s metricsServer) Addr() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.Addr()
}

// Close stops the server, if any.
func (s metricsServer) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
}

// serveMetrics starts the HTTP server for /metrics, /healthz and /readyz
// (and /debug/pprof/ when asked). An empty addr disables it.
func serveMetrics(p *router.Proxy, m *metrics.Metrics, addr string, pprof bool, log *slog.Logger) (metricsServer, error) {
	if addr == "" {
		return metricsServer{}, nil
	}
	h := m.Handler(metrics.HandlerOptions{
		Ready: func() (bool, string) { return ready(p) },
		Pprof: pprof,
		Log:   log,
	})
	srv, err := metrics.Serve(addr, h, log)
	if err != nil {
		return metricsServer{}, err
	}
	return metricsServer{srv}, nil
}

// ready reports whether every pool can serve every key; when not, the
// detail names what is missing, one pool per line. A proxy shutting down
// is not ready, so that a load balancer stops sending it clients.
func ready(p *router.Proxy) (bool, string) {
	if p.Draining() {
		return false, "shutting down"
	}
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
}
