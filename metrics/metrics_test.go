package metrics

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

const (
	testPool   = "main"
	testServer = "redis-1"
	testAddr   = "127.0.0.1:7000"
)

var testCommands = []string{"get", "set", "mget"}

// fixture is a Metrics with one cluster pool and one backend, and its
// handler.
type fixture struct {
	m *Metrics
	p *Pool
	b *Backend
	h http.Handler
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	m := New("v1.2.3", "go1.26.0")
	p, err := m.Pool(testPool, PoolOptions{CommandNames: testCommands, Cluster: true, MaxClientConnections: 100})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{m: m, p: p, b: m.Backend(testPool, testServer, testAddr), h: m.Handler(HandlerOptions{})}
}

// Each case drives handles and states every shardproxy_ series that must
// have moved; any other series that moved fails the test.
func TestHandlesMoveExactlyTheirSeries(t *testing.T) {
	pool := func(name string, extra ...string) string {
		return seriesKey(name, append([]string{"pool", testPool}, extra...)...)
	}
	cmd := func(name, command string, extra ...string) string {
		return pool(name, append([]string{"command", command}, extra...)...)
	}
	backend := func(name string, extra ...string) string {
		return pool(name, append([]string{"server", testServer, "addr", testAddr}, extra...)...)
	}
	tests := []struct {
		name  string
		drive func(f fixture)
		want  map[string]float64
	}{
		{
			name:  "command ok",
			drive: func(f fixture) { f.p.Command(0).Observe(ResultOK, 2*time.Millisecond) },
			want: map[string]float64{
				cmd("shardproxy_commands_total", "get", "result", "ok"): 1,
				cmd("shardproxy_command_duration_seconds_count", "get"): 1,
				cmd("shardproxy_command_duration_seconds_sum", "get"):   0.002,
			},
		},
		{
			name:  "command redis error",
			drive: func(f fixture) { f.p.Command(1).Observe(ResultError, time.Millisecond) },
			want: map[string]float64{
				cmd("shardproxy_commands_total", "set", "result", "error"): 1,
				cmd("shardproxy_command_duration_seconds_count", "set"):    1,
				cmd("shardproxy_command_duration_seconds_sum", "set"):      0.001,
			},
		},
		{
			name: "command proxy error twice",
			drive: func(f fixture) {
				f.p.Command(2).Observe(ResultProxyError, time.Second)
				f.p.Command(2).Observe(ResultProxyError, time.Second)
			},
			want: map[string]float64{
				cmd("shardproxy_commands_total", "mget", "result", "proxy_error"): 2,
				cmd("shardproxy_command_duration_seconds_count", "mget"):          2,
				cmd("shardproxy_command_duration_seconds_sum", "mget"):            2,
			},
		},
		{
			name: "indexes outside the table are other",
			drive: func(f fixture) {
				for _, i := range []int{len(testCommands), -1, 1 << 20} {
					f.p.Command(i).OK.Inc()
				}
			},
			want: map[string]float64{cmd("shardproxy_commands_total", "other", "result", "ok"): 3},
		},
		{
			name:  "command fields directly",
			drive: func(f fixture) { c := f.p.Command(0); c.Error.Inc(); c.ProxyError.Inc(); c.Latency.Observe(0.5) },
			want: map[string]float64{
				cmd("shardproxy_commands_total", "get", "result", "error"):       1,
				cmd("shardproxy_commands_total", "get", "result", "proxy_error"): 1,
				cmd("shardproxy_command_duration_seconds_count", "get"):          1,
				cmd("shardproxy_command_duration_seconds_sum", "get"):            0.5,
			},
		},
		{
			name: "client connections",
			drive: func(f fixture) {
				f.p.ClientConnections.Inc()
				f.p.ClientConnections.Inc()
				f.p.Accepted.Add(2)
				f.p.Rejected.Inc()
				f.p.ClientConnectionsLimit.Set(200)
			},
			want: map[string]float64{
				pool("shardproxy_client_connections"):                2,
				pool("shardproxy_client_connections_accepted_total"): 2,
				pool("shardproxy_client_connections_rejected_total"): 1,
				pool("shardproxy_client_connections_limit"):          200,
			},
		},
		{
			name: "client batches and bytes",
			drive: func(f fixture) {
				f.p.BatchSize.Observe(16)
				f.p.BatchSize.Observe(1)
				f.p.ClientBytesIn.Add(100)
				f.p.ClientBytesOut.Add(40)
			},
			want: map[string]float64{
				pool("shardproxy_client_read_batch_commands_count"): 2,
				pool("shardproxy_client_read_batch_commands_sum"):   17,
				pool("shardproxy_client_received_bytes_total"):      100,
				pool("shardproxy_client_sent_bytes_total"):          40,
			},
		},
		{
			name: "cluster",
			drive: func(f fixture) {
				f.p.RedirectMoved.Inc()
				f.p.RedirectAsk.Add(2)
				f.p.SlotRefreshes.Inc()
				f.p.SlotsCovered.Set(16384)
			},
			want: map[string]float64{
				pool("shardproxy_cluster_redirects_total", "kind", "moved"): 1,
				pool("shardproxy_cluster_redirects_total", "kind", "ask"):   2,
				pool("shardproxy_cluster_slot_refreshes_total"):             1,
				pool("shardproxy_cluster_slots_covered"):                    16384,
			},
		},
		{
			name:  "ejections",
			drive: func(f fixture) { f.p.Ejections.Inc() },
			want:  map[string]float64{pool("shardproxy_ejections_total"): 1},
		},
		{
			name: "backend",
			drive: func(f fixture) {
				f.b.Up.Set(1)
				f.b.Requests.Add(3)
				f.b.InFlight.Inc()
				f.b.Latency.Observe(0.25)
				f.b.WriteBatch.Observe(3)
				f.b.Reconnects.Inc()
				f.b.BytesIn.Add(30)
				f.b.BytesOut.Add(60)
			},
			want: map[string]float64{
				backend("shardproxy_backend_up"):                             1,
				backend("shardproxy_backend_requests_total"):                 3,
				backend("shardproxy_backend_in_flight_requests"):             1,
				backend("shardproxy_backend_request_duration_seconds_count"): 1,
				backend("shardproxy_backend_request_duration_seconds_sum"):   0.25,
				backend("shardproxy_backend_write_batch_requests_count"):     1,
				backend("shardproxy_backend_write_batch_requests_sum"):       3,
				backend("shardproxy_backend_reconnects_total"):               1,
				backend("shardproxy_backend_received_bytes_total"):           30,
				backend("shardproxy_backend_sent_bytes_total"):               60,
			},
		},
		{
			name: "backend errors by kind",
			drive: func(f fixture) {
				f.b.Errors.Timeout.Inc()
				f.b.Errors.Connect.Add(2)
				f.b.Errors.Closed.Add(3)
				f.b.Errors.Protocol.Add(4)
			},
			want: map[string]float64{
				backend("shardproxy_backend_errors_total", "kind", "timeout"):  1,
				backend("shardproxy_backend_errors_total", "kind", "connect"):  2,
				backend("shardproxy_backend_errors_total", "kind", "closed"):   3,
				backend("shardproxy_backend_errors_total", "kind", "protocol"): 4,
			},
		},
		{
			name: "config reloads",
			drive: func(f fixture) {
				f.m.ConfigReload(nil)
				f.m.ConfigReload(errors.New("bad yaml"))
				f.m.ConfigReload(errors.New("bad yaml"))
			},
			want: map[string]float64{
				seriesKey("shardproxy_config_reloads_total", "result", "success"): 1,
				seriesKey("shardproxy_config_reloads_total", "result", "failure"): 2,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before := snapshot(t, f.h)
			tt.drive(f)
			if d := diffMaps(moved(before, snapshot(t, f.h)), tt.want); d != "" {
				t.Errorf("series moved differently:\n%s", d)
			}
		})
	}
}

// TestInitialSeries checks what a scrape shows before any traffic: build
// info, pool and backend series at their initial values, no command series,
// and cluster series only for cluster pools.
func TestInitialSeries(t *testing.T) {
	m := New("v1.2.3", "go1.26.0")
	if _, err := m.Pool("ring", PoolOptions{CommandNames: testCommands, MaxClientConnections: -5}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Pool("cl", PoolOptions{Cluster: true, MaxClientConnections: 10}); err != nil {
		t.Fatal(err)
	}
	m.Backend("ring", "r1", "127.0.0.1:1")
	got := snapshot(t, m.Handler(HandlerOptions{}))

	tests := []struct {
		key     string
		want    float64
		present bool
	}{
		{seriesKey("shardproxy_build_info", "version", "v1.2.3", "goversion", "go1.26.0"), 1, true},
		{seriesKey("shardproxy_client_connections_limit", "pool", "ring"), 0, true},
		{seriesKey("shardproxy_client_connections_limit", "pool", "cl"), 10, true},
		{seriesKey("shardproxy_client_connections", "pool", "ring"), 0, true},
		{seriesKey("shardproxy_client_connections_accepted_total", "pool", "ring"), 0, true},
		{seriesKey("shardproxy_ejections_total", "pool", "ring"), 0, true},
		{seriesKey("shardproxy_cluster_slots_covered", "pool", "cl"), 0, true},
		{seriesKey("shardproxy_cluster_redirects_total", "pool", "cl", "kind", "moved"), 0, true},
		{seriesKey("shardproxy_cluster_slots_covered", "pool", "ring"), 0, false},
		{seriesKey("shardproxy_cluster_redirects_total", "pool", "ring", "kind", "moved"), 0, false},
		{seriesKey("shardproxy_cluster_slot_refreshes_total", "pool", "ring"), 0, false},
		{seriesKey("shardproxy_backend_up", "pool", "ring", "server", "r1", "addr", "127.0.0.1:1"), 0, true},
		{seriesKey("shardproxy_backend_errors_total", "pool", "ring", "server", "r1", "addr", "127.0.0.1:1", "kind", "protocol"), 0, true},
		{seriesKey("shardproxy_config_reloads_total", "result", "success"), 0, true},
		{seriesKey("shardproxy_config_reloads_total", "result", "failure"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			v, ok := got[tt.key]
			if ok != tt.present || v != tt.want {
				t.Errorf("got %v (present %v), want %v (present %v)", v, ok, tt.want, tt.present)
			}
		})
	}
	for k := range got {
		if strings.HasPrefix(k, "shardproxy_command") {
			t.Errorf("command series %s exists before any command was used", k)
		}
	}
}

// TestDiscardedClusterHandles checks that the cluster handles of a ring pool
// are usable and export nothing.
func TestDiscardedClusterHandles(t *testing.T) {
	m := New("v", "go")
	p, err := m.Pool("ring", PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler(HandlerOptions{})
	before := snapshot(t, h)
	p.RedirectMoved.Inc()
	p.RedirectAsk.Inc()
	p.SlotRefreshes.Inc()
	p.SlotsCovered.Set(1)
	if d := diffMaps(moved(before, snapshot(t, h)), nil); d != "" {
		t.Errorf("ring pool exported cluster series:\n%s", d)
	}
}

// TestCommandSeriesAreLazy checks that a command's series appear on its
// first use only, and that each index keeps its own handle.
func TestCommandSeriesAreLazy(t *testing.T) {
	f := newFixture(t)
	f.p.Command(1).OK.Inc()
	var commands []string
	for k := range snapshot(t, f.h) {
		if strings.HasPrefix(k, "shardproxy_commands_total{") {
			commands = append(commands, k)
		}
	}
	slices.Sort(commands)
	want := []string{
		seriesKey("shardproxy_commands_total", "pool", testPool, "command", "set", "result", "error"),
		seriesKey("shardproxy_commands_total", "pool", testPool, "command", "set", "result", "ok"),
		seriesKey("shardproxy_commands_total", "pool", testPool, "command", "set", "result", "proxy_error"),
	}
	slices.Sort(want)
	if !slices.Equal(commands, want) {
		t.Errorf("command series %v, want %v", commands, want)
	}
	if f.p.Command(1) != f.p.Command(1) {
		t.Error("Command(1) returned different handles")
	}
	if f.p.Command(0) == f.p.Command(1) {
		t.Error("Command(0) and Command(1) share a handle")
	}
	if f.p.Command(-1) != f.p.Command(len(testCommands)) {
		t.Error("out-of-range indexes do not share the other handle")
	}
}

// TestCommandConcurrentFirstUse races the first use of one command from many
// goroutines (run with -race): all get the same handle and no count is lost.
func TestCommandConcurrentFirstUse(t *testing.T) {
	f := newFixture(t)
	const workers, each = 8, 100
	handles := make([]*Command, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				c := f.p.Command(2)
				c.Observe(ResultOK, time.Microsecond)
				handles[w] = c
			}
		})
	}
	wg.Wait()
	for w, c := range handles {
		if c != handles[0] {
			t.Fatalf("worker %d got a different handle", w)
		}
	}
	key := seriesKey("shardproxy_commands_total", "pool", testPool, "command", "mget", "result", "ok")
	if got := snapshot(t, f.h)[key]; got != workers*each {
		t.Errorf("%s = %v, want %d", key, got, workers*each)
	}
}

func TestPoolValidation(t *testing.T) {
	tests := []struct {
		name    string
		pool    string
		names   []string
		wantErr error
	}{
		{"ok", "p", []string{"get", "set"}, nil},
		{"no table", "p", nil, nil},
		{"empty pool name", "", nil, ErrEmptyPoolName},
		{"empty command", "p", []string{"get", ""}, ErrBadCommandName},
		{"reserved other", "p", []string{OtherCommand}, ErrBadCommandName},
		{"duplicate", "p", []string{"get", "set", "get"}, ErrDuplicateCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New("v", "go").Pool(tt.pool, PoolOptions{CommandNames: tt.names})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && p.Name() != tt.pool {
				t.Errorf("Name() = %q, want %q", p.Name(), tt.pool)
			}
		})
	}
}

// TestPoolCopiesCommandNames checks that changing the caller's slice after
// Pool does not change labels.
func TestPoolCopiesCommandNames(t *testing.T) {
	m := New("v", "go")
	names := []string{"get"}
	p, err := m.Pool("p", PoolOptions{CommandNames: names})
	if err != nil {
		t.Fatal(err)
	}
	names[0] = "set"
	p.Command(0).OK.Inc()
	key := seriesKey("shardproxy_commands_total", "pool", "p", "command", "get", "result", "ok")
	if got := snapshot(t, m.Handler(HandlerOptions{}))[key]; got != 1 {
		t.Errorf("%s = %v, want 1", key, got)
	}
}

func TestRemove(t *testing.T) {
	tests := []struct {
		name   string
		remove func(m *Metrics)
		// gone lists label pairs whose series must be gone; every other
		// series must remain.
		gone []string
	}{
		{"backend", func(m *Metrics) { m.RemoveBackend("a", "s1") }, []string{`pool="a"`, `server="s1"`}},
		{"pool", func(m *Metrics) { m.RemovePool("a") }, []string{`pool="a"`}},
		{"unknown backend", func(m *Metrics) { m.RemoveBackend("a", "nope") }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("v", "go")
			h := m.Handler(HandlerOptions{})
			for _, pool := range []string{"a", "b"} {
				p, err := m.Pool(pool, PoolOptions{CommandNames: testCommands, Cluster: true})
				if err != nil {
					t.Fatal(err)
				}
				p.Command(0).OK.Inc()
				for _, s := range []string{"s1", "s2"} {
					m.Backend(pool, s, pool+s).Requests.Inc()
				}
			}
			before := snapshot(t, h)
			tt.remove(m)
			after := snapshot(t, h)
			for k := range before {
				isGone := len(tt.gone) > 0
				for _, l := range tt.gone {
					isGone = isGone && strings.Contains(k, l)
				}
				if _, ok := after[k]; ok == isGone {
					t.Errorf("%s: present after removal = %v, want %v", k, ok, !isGone)
				}
			}
		})
	}
}

// TestRemovedBackendComesBack checks that a backend re-added after removal
// starts again from zero and that its old handle exports nothing.
func TestRemovedBackendComesBack(t *testing.T) {
	f := newFixture(t)
	f.b.Requests.Add(5)
	f.m.RemoveBackend(testPool, testServer)
	f.b.Requests.Inc()
	key := seriesKey("shardproxy_backend_requests_total", "pool", testPool, "server", testServer, "addr", testAddr)
	if _, ok := snapshot(t, f.h)[key]; ok {
		t.Fatalf("%s exported after RemoveBackend", key)
	}
	f.m.Backend(testPool, testServer, testAddr).Requests.Inc()
	if got := snapshot(t, f.h)[key]; got != 1 {
		t.Errorf("%s = %v after re-adding, want 1", key, got)
	}
}

// TestHistogramBuckets checks the exported bucket bounds and that an
// observation lands in the right bucket.
func TestHistogramBuckets(t *testing.T) {
	f := newFixture(t)
	f.p.Command(0).Observe(ResultOK, 300*time.Microsecond) // le 0.0005
	f.p.BatchSize.Observe(3)                               // le 4
	f.b.WriteBatch.Observe(1024)                           // le 1024
	f.b.Latency.Observe(10)                                // le +Inf only
	fams := parse(t, scrapeText(t, f.h))
	tests := []struct {
		family  string
		buckets []float64
		first   float64 // smallest finite upper bound whose cumulative count is 1; -1: none
	}{
		{"shardproxy_command_duration_seconds", LatencyBuckets(), 0.0005},
		{"shardproxy_client_read_batch_commands", BatchBuckets(), 4},
		{"shardproxy_backend_write_batch_requests", BatchBuckets(), 1024},
		{"shardproxy_backend_request_duration_seconds", LatencyBuckets(), -1},
	}
	for _, tt := range tests {
		t.Run(tt.family, func(t *testing.T) {
			fam := fams[tt.family]
			if fam == nil || fam.GetType() != dto.MetricType_HISTOGRAM || len(fam.GetMetric()) != 1 {
				t.Fatalf("family %s missing or not one histogram series: %v", tt.family, fam)
			}
			var bounds []float64
			for _, b := range fam.GetMetric()[0].GetHistogram().GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
				want := uint64(0)
				if math.IsInf(b.GetUpperBound(), 1) || tt.first >= 0 && b.GetUpperBound() >= tt.first {
					want = 1
				}
				if b.GetCumulativeCount() != want {
					t.Errorf("bucket le=%v: count %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
				}
			}
			if want := append(tt.buckets, math.Inf(1)); !slices.Equal(bounds, want) {
				t.Errorf("bounds %v, want %v", bounds, want)
			}
		})
	}
	if got := LatencyBuckets(); got[0] != 0.00005 || got[len(got)-1] != 2.5 || !slices.Contains(got, 0.05) {
		t.Errorf("LatencyBuckets() = %v, want 50µs..2.5s including the 50ms alert threshold", got)
	}
	if got := BatchBuckets(); got[0] != 1 || got[len(got)-1] != 1024 {
		t.Errorf("BatchBuckets() = %v, want 1..1024", got)
	}
}

// TestHotPathDoesNotAllocate asserts the 0-allocation contract of the
// per-command and per-request handles once resolved.
func TestHotPathDoesNotAllocate(t *testing.T) {
	f := newFixture(t)
	f.p.Command(0) // resolve outside the measurement
	tests := []struct {
		name string
		op   func()
	}{
		{"command", func() { f.p.Command(0).Observe(ResultOK, 150*time.Microsecond) }},
		{"command fields", func() { c := f.p.Command(0); c.OK.Inc(); c.Latency.Observe(0.00015) }},
		{"client batch", func() { f.p.BatchSize.Observe(8); f.p.ClientBytesIn.Add(64); f.p.ClientBytesOut.Add(64) }},
		{"backend request", func() {
			f.b.InFlight.Inc()
			f.b.Requests.Inc()
			f.b.Latency.Observe(0.0001)
			f.b.InFlight.Dec()
			f.b.WriteBatch.Observe(4)
			f.b.BytesOut.Add(128)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tt.op); n != 0 {
				t.Errorf("%v allocations per run, want 0", n)
			}
		})
	}
}

// TestBuildInfoLabels checks that label values are exported verbatim,
// including characters that need escaping.
func TestBuildInfoLabels(t *testing.T) {
	version := `v1.0.0-"dirty"\x`
	m := New(version, "go1.26.0")
	key := seriesKey("shardproxy_build_info", "version", version, "goversion", "go1.26.0")
	if got, ok := snapshot(t, m.Handler(HandlerOptions{}))[key]; !ok || got != 1 {
		t.Errorf("%s = %v (present %v), want 1; key form %s", key, got, ok, strconv.Quote(key))
	}
}
