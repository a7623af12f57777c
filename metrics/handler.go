package metrics

import (
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerOptions configures Metrics.Handler. The zero value serves
// /metrics and /healthz, reports not ready on /readyz and has no pprof.
type HandlerOptions struct {
	// Ready reports whether every pool can serve every key: each ring
	// shard reachable or ejected by policy, full slot coverage in cluster
	// mode. When it is not, detail says what is missing and is returned as
	// the body of a 503. Ready is called once per /readyz request, from the
	// HTTP server's goroutines, so it must be safe for concurrent use. Nil
	// means readiness is not wired and /readyz answers 503.
	Ready func() (ok bool, detail string)
	// Pprof mounts net/http/pprof under /debug/pprof/. Off by default:
	// profiles expose internals and cost CPU while they run.
	Pprof bool
	// Log receives errors from the metrics exposition; nil means
	// slog.Default().
	Log *slog.Logger
}

// Handler returns the HTTP handler of the proxy's operational endpoints:
//
//   - /metrics: the exposition of m's registry, in the Prometheus text
//     format 0.0.4 only. OpenMetrics is not offered: it would add nothing
//     used here (no exemplars), and the classic text format is what every
//     Prometheus version and `promtool check metrics` read.
//   - /healthz: 200 "ok" while the process serves HTTP (liveness).
//   - /readyz: 200 "ready" when opt.Ready reports ready, else 503 with the
//     detail it returned.
//   - /debug/pprof/...: the runtime profiles, only when opt.Pprof is set
//     (404 otherwise).
//   - /: a plain-text index of the above.
//
// The handler is safe for concurrent use. Each call registers nothing, so it
// may be called more than once.
func (m *Metrics) Handler(opt HandlerOptions) http.Handler {
	log := opt.Log
	if log == nil {
		log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: false,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if opt.Ready == nil {
			writeText(w, http.StatusServiceUnavailable, "readiness check not configured")
			return
		}
		ok, detail := opt.Ready()
		if ok {
			writeText(w, http.StatusOK, "ready")
			return
		}
		if detail == "" {
			detail = "not ready"
		}
		writeText(w, http.StatusServiceUnavailable, detail)
	})
	index := "shardproxy\n/metrics\n/healthz\n/readyz\n"
	if opt.Pprof {
		// Registered on this mux only; the handlers net/http/pprof adds to
		// http.DefaultServeMux as an import side effect are never served.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		index += "/debug/pprof/\n"
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, index)
	})
	return mux
}

// writeText writes body, newline-terminated, as an uncached plain-text
// response with the given status.
func writeText(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if body == "" || body[len(body)-1] != '\n' {
		body += "\n"
	}
	_, _ = w.Write([]byte(body))
}
