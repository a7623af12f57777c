package metrics

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

func TestHandlerEndpoints(t *testing.T) {
	ready := func(ok bool, detail string) func() (bool, string) {
		return func() (bool, string) { return ok, detail }
	}
	tests := []struct {
		name       string
		opt        HandlerOptions
		method     string
		path       string
		wantStatus int
		wantBody   string // exact body when wantSub is empty
		wantSub    string // substring of the body
	}{
		{"healthz", HandlerOptions{}, http.MethodGet, "/healthz", 200, "ok\n", ""},
		{"healthz head", HandlerOptions{}, http.MethodHead, "/healthz", 200, "", "ok"}, // the recorder keeps what a server would not send
		{"readyz ready", HandlerOptions{Ready: ready(true, "")}, http.MethodGet, "/readyz", 200, "ready\n", ""},
		{"readyz ready ignores detail", HandlerOptions{Ready: ready(true, "x")}, http.MethodGet, "/readyz", 200, "ready\n", ""},
		{"readyz not ready", HandlerOptions{Ready: ready(false, "pool main: shard redis-2 (127.0.0.1:7001) unreachable")},
			http.MethodGet, "/readyz", 503, "pool main: shard redis-2 (127.0.0.1:7001) unreachable\n", ""},
		{"readyz multi-line detail", HandlerOptions{Ready: ready(false, "pool a: 12 slots uncovered\npool b: shard s1 unreachable\n")},
			http.MethodGet, "/readyz", 503, "pool a: 12 slots uncovered\npool b: shard s1 unreachable\n", ""},
		{"readyz not ready no detail", HandlerOptions{Ready: ready(false, "")}, http.MethodGet, "/readyz", 503, "not ready\n", ""},
		{"readyz unwired", HandlerOptions{}, http.MethodGet, "/readyz", 503, "readiness check not configured\n", ""},
		{"metrics", HandlerOptions{}, http.MethodGet, "/metrics", 200, "", "shardproxy_build_info{"},
		{"metrics post", HandlerOptions{}, http.MethodPost, "/metrics", 405, "", ""},
		{"pprof off index", HandlerOptions{}, http.MethodGet, "/debug/pprof/", 404, "", ""},
		{"pprof off heap", HandlerOptions{}, http.MethodGet, "/debug/pprof/heap", 404, "", ""},
		{"pprof off cmdline", HandlerOptions{}, http.MethodGet, "/debug/pprof/cmdline", 404, "", ""},
		{"pprof on index", HandlerOptions{Pprof: true}, http.MethodGet, "/debug/pprof/", 200, "", "goroutine"},
		{"pprof on goroutine", HandlerOptions{Pprof: true}, http.MethodGet, "/debug/pprof/goroutine?debug=1", 200, "", "goroutine profile:"},
		{"pprof on cmdline", HandlerOptions{Pprof: true}, http.MethodGet, "/debug/pprof/cmdline", 200, "", "metrics.test"},
		{"index", HandlerOptions{}, http.MethodGet, "/", 200, "shardproxy\n/metrics\n/healthz\n/readyz\n", ""},
		{"index pprof", HandlerOptions{Pprof: true}, http.MethodGet, "/", 200, "", "/debug/pprof/\n"},
		{"unknown", HandlerOptions{}, http.MethodGet, "/nope", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New("v", "go").Handler(tt.opt)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			body := rec.Body.String()
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %q", rec.Code, tt.wantStatus, body)
			}
			switch {
			case tt.wantSub != "":
				if !strings.Contains(body, tt.wantSub) {
					t.Errorf("body does not contain %q:\n%s", tt.wantSub, body)
				}
			case tt.wantStatus == 200 || tt.wantStatus == 503:
				if body != tt.wantBody {
					t.Errorf("body %q, want %q", body, tt.wantBody)
				}
			}
		})
	}
}

// TestReadyIsCalledPerRequest checks that /readyz reflects the current
// state rather than a cached answer.
func TestReadyIsCalledPerRequest(t *testing.T) {
	var up atomic.Bool
	h := New("v", "go").Handler(HandlerOptions{Ready: func() (bool, string) {
		return up.Load(), "pool main: 16000/16384 slots covered"
	}})
	for _, want := range []int{503, 200, 503} {
		if want == 200 {
			up.Store(true)
		} else {
			up.Store(false)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != want {
			t.Fatalf("status %d, want %d", rec.Code, want)
		}
	}
}

// TestMetricsFormat checks that /metrics answers in the classic text format
// even to a client that prefers OpenMetrics, and gzips when asked.
func TestMetricsFormat(t *testing.T) {
	tests := []struct {
		name     string
		accept   string
		encoding string
	}{
		{"plain", "", ""},
		{"openmetrics preferred", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5", ""},
		{"gzip", "", "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New("v", "go").Handler(HandlerOptions{})
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			if tt.encoding != "" {
				req.Header.Set("Accept-Encoding", tt.encoding)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
				t.Errorf("Content-Type %q, want text/plain; version=0.0.4", ct)
			}
			if got := rec.Header().Get("Content-Encoding"); got != tt.encoding {
				t.Errorf("Content-Encoding %q, want %q", got, tt.encoding)
			}
		})
	}
}

// TestPromtoolCheckMetrics runs `promtool check metrics` (the Prometheus
// naming and exposition linter) on a scrape in which every handle was
// driven, and requires it to report nothing.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.RequireBinary(t, "promtool")
	m := driveEverything(t)
	text := scrapeText(t, m.Handler(HandlerOptions{}))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "" {
		t.Fatalf("promtool check metrics: err %v, output:\n%s", err, out.String())
	}
}

// driveEverything returns a Metrics in which every handle of a cluster pool,
// a ring pool and a backend has been used once, so that every family has
// series.
func driveEverything(t testing.TB) *Metrics {
	t.Helper()
	m := New("v1.2.3", "go1.26.0")
	for _, cluster := range []bool{true, false} {
		name := "ring"
		if cluster {
			name = "cluster"
		}
		p, err := m.Pool(name, PoolOptions{CommandNames: testCommands, Cluster: cluster, MaxClientConnections: 100})
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(testCommands) + 1 {
			c := p.Command(i)
			c.Observe(ResultOK, time.Millisecond)
			c.Observe(ResultError, time.Millisecond)
			c.Observe(ResultProxyError, time.Millisecond)
		}
		p.ClientConnections.Inc()
		p.Accepted.Inc()
		p.Rejected.Inc()
		p.BatchSize.Observe(4)
		p.ClientBytesIn.Add(10)
		p.ClientBytesOut.Add(10)
		p.RedirectMoved.Inc()
		p.RedirectAsk.Inc()
		p.SlotRefreshes.Inc()
		p.SlotsCovered.Set(16384)
		p.Ejections.Inc()
		p.OutputLimitNormal.Inc()
		p.OutputLimitPubsub.Inc()
		b := m.Backend(name, "s1", "127.0.0.1:7000")
		b.Up.Set(1)
		b.Requests.Inc()
		b.Errors.Timeout.Inc()
		b.Errors.Connect.Inc()
		b.Errors.Closed.Inc()
		b.Errors.Protocol.Inc()
		b.InFlight.Inc()
		b.Latency.Observe(0.001)
		b.WriteBatch.Observe(2)
		b.Reconnects.Inc()
		b.BytesIn.Add(10)
		b.BytesOut.Add(10)
	}
	m.ConfigReload(nil)
	m.ConfigReload(errors.New("x"))
	return m
}

// waitGoroutines waits until no more than n goroutines run, failing the
// test if that takes over 5 seconds.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	testenv.WaitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= n },
		"goroutines to drop to %d (now %d)", n, runtime.NumGoroutine())
}

func TestServe(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	before := runtime.NumGoroutine()
	m := New("v", "go")
	s, err := Serve("127.0.0.1:0", m.Handler(HandlerOptions{Ready: func() (bool, string) { return true, "" }}), nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if _, port, _ := net.SplitHostPort(addr); port == "0" || port == "" {
		t.Fatalf("Addr() = %q, want the bound port", addr)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: status %d", path, resp.StatusCode)
		}
	}

	// The port is taken while s runs.
	if s2, err := Serve(addr, http.NotFoundHandler(), nil); err == nil {
		s2.Close()
		t.Errorf("second Serve on %s succeeded", addr)
	}

	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after Close", addr)
	}
	waitGoroutines(t, before)
}

func TestServeShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Serve("127.0.0.1:0", New("v", "go").Handler(HandlerOptions{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-s.done:
	default:
		t.Fatal("serve goroutine still running after Shutdown")
	}
	if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		t.Error("GET after Shutdown succeeded")
	}
	waitGoroutines(t, before)
}

func TestServeBadAddress(t *testing.T) {
	tests := []string{"127.0.0.1:-1", "not-an-address", "256.0.0.1:0"}
	for _, addr := range tests {
		t.Run(addr, func(t *testing.T) {
			s, err := Serve(addr, http.NotFoundHandler(), nil)
			if err == nil {
				s.Close()
				t.Fatalf("Serve(%q) succeeded", addr)
			}
			if want := "metrics: listen " + addr + ": "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q does not start with %q", err, want)
			}
		})
	}
}
