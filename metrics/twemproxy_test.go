package metrics

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func readStats(t *testing.T, addr string) map[string]any {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("stats document is not JSON: %v\n%s", err, b)
	}
	return doc
}

func TestTwemproxyStats(t *testing.T) {
	m := New("v1.2.3", "go")
	p, err := m.Pool("alpha", PoolOptions{CommandNames: []string{"get"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Accepted.Add(5)
	p.ClientConnections.Set(2)
	p.Rejected.Add(1)
	p.Ejections.Inc()
	p.Command(0).Observe(ResultOK, time.Millisecond)
	p.Command(0).Observe(ResultProxyError, time.Millisecond)
	p.Command(0).Observe(ResultProxyError, time.Millisecond)
	b := m.Backend("alpha", "s1", "127.0.0.1:7001")
	b.Up.Set(1)
	b.Requests.Add(10)
	b.BytesOut.Add(100)
	b.BytesIn.Add(50)
	for range 9 {
		b.Latency.Observe(0.001)
	}
	b.InFlight.Set(1)
	b.Errors.Closed.Inc()
	b.Errors.Connect.Add(2)
	b.Errors.Protocol.Inc()
	b.Errors.Timeout.Add(4)
	m.Backend("alpha", "s2", "127.0.0.1:7002")

	started := time.Unix(1000, 0)
	raw, err := m.TwemproxyStats(StatsInfo{Source: "host1", Version: "v1.2.3", Started: started}, time.Unix(1042, 0))
	if err != nil {
		t.Fatal(err)
	}
	// The layout nutcracker writes: "key":value pairs separated by ", ".
	if !strings.HasPrefix(string(raw), `{"service":"nutcracker", "source":"host1", "version":"v1.2.3", "uptime":42, "timestamp":1042, `) {
		t.Errorf("document starts %q", raw[:min(len(raw), 120)])
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	want := map[string]float64{"total_connections": 5, "curr_connections": 2}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %v", k, doc[k], v)
		}
	}
	alpha, ok := doc["alpha"].(map[string]any)
	if !ok {
		t.Fatalf("no pool alpha in %s", raw)
	}
	poolWant := map[string]float64{
		"client_eof": 3, "client_err": 1, "client_connections": 2,
		"server_ejects": 1, "forward_error": 2, "fragments": 0,
	}
	for k, v := range poolWant {
		if alpha[k] != v {
			t.Errorf("alpha.%s = %v, want %v", k, alpha[k], v)
		}
	}
	s1, ok := alpha["s1"].(map[string]any)
	if !ok {
		t.Fatalf("no server s1 in %s", raw)
	}
	serverWant := map[string]float64{
		"server_eof": 1, "server_err": 3, "server_timedout": 4, "server_connections": 1,
		"server_ejected_at": 0, "requests": 10, "request_bytes": 100, "responses": 9,
		"response_bytes": 50, "in_queue": 0, "in_queue_bytes": 0, "out_queue": 1, "out_queue_bytes": 0,
	}
	for k, v := range serverWant {
		if s1[k] != v {
			t.Errorf("alpha.s1.%s = %v, want %v", k, s1[k], v)
		}
	}
	if len(s1) != len(TwemproxyServerFields) {
		t.Errorf("s1 has %d fields, want %d: %v", len(s1), len(TwemproxyServerFields), s1)
	}
	if s2, ok := alpha["s2"].(map[string]any); !ok || s2["requests"] != 0.0 {
		t.Errorf("alpha.s2 = %v, want a server with 0 requests", alpha["s2"])
	}
	// Pool keys: its fields and its two servers, nothing else.
	if len(alpha) != len(TwemproxyPoolFields)+2 {
		t.Errorf("alpha has %d keys, want %d: %v", len(alpha), len(TwemproxyPoolFields)+2, alpha)
	}
}

func TestStatsServerInterval(t *testing.T) {
	m := New("v", "go")
	p, err := m.Pool("alpha", PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info := StatsInfo{Source: "h", Version: "v", Started: time.Now()}
	slow, err := ServeTwemproxyStats("127.0.0.1:0", time.Hour, m, info, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := ServeTwemproxyStats("127.0.0.1:0", time.Millisecond, m, info, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()

	p.Accepted.Add(1)
	if got := readStats(t, slow.Addr())["total_connections"]; got != 1.0 {
		t.Fatalf("first read: total_connections = %v, want 1", got)
	}
	p.Accepted.Add(1)
	// Within the interval the aggregated document does not change.
	if got := readStats(t, slow.Addr())["total_connections"]; got != 1.0 {
		t.Errorf("within the interval: total_connections = %v, want the cached 1", got)
	}
	time.Sleep(5 * time.Millisecond)
	if got := readStats(t, fast.Addr())["total_connections"]; got != 2.0 {
		t.Errorf("after the interval: total_connections = %v, want 2", got)
	}

	// A second listener on the same address fails at once.
	if _, err := ServeTwemproxyStats(slow.Addr(), 0, m, info, nil); err == nil {
		t.Error("listening twice on one address succeeded")
	}
	slow.Close()
	slow.Close() // idempotent
	if c, err := net.DialTimeout("tcp", slow.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("stats port still accepts after Close")
	}
}
