package metrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// DefaultStatsInterval is twemproxy's default stats aggregation interval
// (nutcracker -i).
const DefaultStatsInterval = 30 * time.Second

// TwemproxyPoolFields and TwemproxyServerFields are the per-pool and
// per-server fields of twemproxy 0.5's stats document, in its order, with
// nutcracker's descriptions (nutcracker -D) followed by where shardproxy's
// value comes from.
var (
	TwemproxyPoolFields = []StatField{
		{"client_eof", "# eof on client connections", "client connections closed: accepted - open"},
		{"client_err", "# errors on client connections", "client connections refused (shardproxy_client_connections_rejected_total)"},
		{"client_connections", "# active client connections", "shardproxy_client_connections"},
		{"server_ejects", "# times backend server was ejected", "shardproxy_ejections_total"},
		{"forward_error", "# times we encountered a forwarding error", "commands answered with a proxy error (shardproxy_commands_total{result=\"proxy_error\"})"},
		{"fragments", "# fragments created from a multi-vector request", "not counted by shardproxy: always 0"},
	}
	TwemproxyServerFields = []StatField{
		{"server_eof", "# eof on server connections", "shardproxy_backend_errors_total{kind=\"closed\"}"},
		{"server_err", "# errors on server connections", "shardproxy_backend_errors_total{kind=~\"connect|protocol\"}"},
		{"server_timedout", "# timeouts on server connections", "shardproxy_backend_errors_total{kind=\"timeout\"}"},
		{"server_connections", "# active server connections", "shardproxy_backend_up (1 while connected)"},
		{"server_ejected_at", "timestamp when server was ejected in usec since epoch", "not tracked by shardproxy: always 0"},
		{"requests", "# requests", "shardproxy_backend_requests_total"},
		{"request_bytes", "total request bytes", "shardproxy_backend_sent_bytes_total"},
		{"responses", "# responses", "replies read (count of shardproxy_backend_request_duration_seconds)"},
		{"response_bytes", "total response bytes", "shardproxy_backend_received_bytes_total"},
		{"in_queue", "# requests in incoming queue", "not tracked by shardproxy: always 0"},
		{"in_queue_bytes", "current request bytes in incoming queue", "not tracked by shardproxy: always 0"},
		{"out_queue", "# requests in outgoing queue", "shardproxy_backend_in_flight_requests"},
		{"out_queue_bytes", "current request bytes in outgoing queue", "not tracked by shardproxy: always 0"},
	}
)

// StatField is one field of the twemproxy stats document.
type StatField struct {
	// Name is the JSON key.
	Name string
	// Description is nutcracker's own description of the field.
	Description string
	// Source says which shardproxy counter fills it.
	Source string
}

// StatsInfo is the process-wide part of the twemproxy stats document.
type StatsInfo struct {
	// Source is the host name (twemproxy's "source").
	Source string
	// Version is the proxy's version.
	Version string
	// Started is when the process started (for "uptime").
	Started time.Time
}

// TwemproxyStats renders the stats document twemproxy 0.5 serves on its
// stats port (nutcracker -s), from m's own series: the top-level fields
// service, source, version, uptime, timestamp, total_connections and
// curr_connections, then one object per pool with TwemproxyPoolFields and
// one object per server of the pool with TwemproxyServerFields, as
// TwemproxyPoolFields documents. Pools and servers appear in name order.
// "service" is "nutcracker", as exporters written for twemproxy expect.
// Safe for concurrent use.
func (m *Metrics) TwemproxyStats(info StatsInfo, now time.Time) ([]byte, error) {
	families, err := m.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: gather: %w", err)
	}
	type server map[string]float64
	type pool struct {
		fields  map[string]float64
		servers map[string]server
	}
	pools := map[string]*pool{}
	poolOf := func(name string) *pool {
		p := pools[name]
		if p == nil {
			p = &pool{fields: map[string]float64{}, servers: map[string]server{}}
			pools[name] = p
		}
		return p
	}
	serverOf := func(pl, name string) server {
		p := poolOf(pl)
		s := p.servers[name]
		if s == nil {
			s = server{}
			p.servers[name] = s
		}
		return s
	}
	var accepted float64
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			l := labels(mt)
			pl, ok := l[labelPool]
			if !ok {
				continue
			}
			v := value(mt)
			switch f.GetName() {
			case Namespace + "_client_connections":
				poolOf(pl).fields["client_connections"] += v
			case Namespace + "_client_connections_accepted_total":
				poolOf(pl).fields["accepted"] += v
				accepted += v
			case Namespace + "_client_connections_rejected_total":
				poolOf(pl).fields["client_err"] += v
			case Namespace + "_ejections_total":
				poolOf(pl).fields["server_ejects"] += v
			case Namespace + "_commands_total":
				if l[labelResult] == resultProxyError {
					poolOf(pl).fields["forward_error"] += v
				}
			case Namespace + "_backend_errors_total":
				s := serverOf(pl, l[labelServer])
				switch l[labelKind] {
				case errClosed:
					s["server_eof"] += v
				case errTimeout:
					s["server_timedout"] += v
				default:
					s["server_err"] += v
				}
			case Namespace + "_backend_up":
				serverOf(pl, l[labelServer])["server_connections"] += v
			case Namespace + "_backend_requests_total":
				serverOf(pl, l[labelServer])["requests"] += v
			case Namespace + "_backend_sent_bytes_total":
				serverOf(pl, l[labelServer])["request_bytes"] += v
			case Namespace + "_backend_request_duration_seconds":
				serverOf(pl, l[labelServer])["responses"] += float64(mt.GetHistogram().GetSampleCount())
			case Namespace + "_backend_received_bytes_total":
				serverOf(pl, l[labelServer])["response_bytes"] += v
			case Namespace + "_backend_in_flight_requests":
				serverOf(pl, l[labelServer])["out_queue"] += v
			}
		}
	}
	var curr float64
	for _, p := range pools {
		curr += p.fields["client_connections"]
	}

	var b bytes.Buffer
	b.WriteByte('{')
	str := func(k, v string) {
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(v)
		b.Write(kb)
		b.WriteString(":")
		b.Write(vb)
	}
	num := func(k string, v float64) {
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteString(":")
		b.WriteString(strconv.FormatInt(int64(v), 10))
	}
	str("service", "nutcracker")
	b.WriteString(", ")
	str("source", info.Source)
	b.WriteString(", ")
	str("version", info.Version)
	b.WriteString(", ")
	num("uptime", now.Sub(info.Started).Seconds())
	b.WriteString(", ")
	num("timestamp", float64(now.Unix()))
	b.WriteString(", ")
	num("total_connections", accepted)
	b.WriteString(", ")
	num("curr_connections", curr)
	for _, pn := range sortedKeys(pools) {
		p := pools[pn]
		p.fields["client_eof"] = max(0, p.fields["accepted"]-p.fields["client_connections"])
		b.WriteString(", ")
		kb, _ := json.Marshal(pn)
		b.Write(kb)
		b.WriteString(": {")
		for i, f := range TwemproxyPoolFields {
			if i > 0 {
				b.WriteString(", ")
			}
			num(f.Name, p.fields[f.Name])
		}
		for _, sn := range sortedKeys(p.servers) {
			s := p.servers[sn]
			b.WriteString(", ")
			kb, _ := json.Marshal(sn)
			b.Write(kb)
			b.WriteString(": {")
			for i, f := range TwemproxyServerFields {
				if i > 0 {
					b.WriteString(", ")
				}
				num(f.Name, s[f.Name])
			}
			b.WriteByte('}')
		}
		b.WriteByte('}')
	}
	b.WriteString("}\n")
	return b.Bytes(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func labels(m *dto.Metric) map[string]string {
	l := make(map[string]string, len(m.GetLabel()))
	for _, lp := range m.GetLabel() {
		l[lp.GetName()] = lp.GetValue()
	}
	return l
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}

// StatsServer serves the twemproxy stats document on a TCP port as
// nutcracker does: each connection gets the document, then is closed.
// Create it with ServeTwemproxyStats; stop it with Close.
type StatsServer struct {
	ln       net.Listener
	m        *Metrics
	info     StatsInfo
	interval time.Duration
	log      *slog.Logger
	done     chan struct{}
	once     sync.Once

	mu   sync.Mutex
	doc  []byte
	when time.Time
}

// statsWriteTimeout bounds how long a stats reader may take to accept the
// document; the accept loop serves one reader at a time, as nutcracker does.
const statsWriteTimeout = 2 * time.Second

// ServeTwemproxyStats listens on addr synchronously (so a bind error is
// returned at once) and serves m's TwemproxyStats on a goroutine owned by the
// returned server. Like nutcracker's -i, the document is recomputed at most
// once per interval; interval <= 0 means DefaultStatsInterval.
func ServeTwemproxyStats(addr string, interval time.Duration, m *Metrics, info StatsInfo, log *slog.Logger) (*StatsServer, error) {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = DefaultStatsInterval
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("stats: listen %s: %w", addr, err)
	}
	s := &StatsServer{ln: ln, m: m, info: info, interval: interval, log: log, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

// Addr returns the address served, with the actual port.
func (s *StatsServer) Addr() string { return s.ln.Addr().String() }

// Close stops the server and waits for its goroutine. Idempotent.
func (s *StatsServer) Close() {
	s.once.Do(func() {
		_ = s.ln.Close()
		<-s.done
	})
}

func (s *StatsServer) serve() {
	defer close(s.done)
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("stats server stopped", "addr", s.Addr(), "err", err)
			}
			return
		}
		doc := s.document()
		_ = c.SetWriteDeadline(time.Now().Add(statsWriteTimeout))
		_, _ = c.Write(doc)
		_ = c.Close()
	}
}

// document returns the cached document, recomputed when older than the
// interval.
func (s *StatsServer) document() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.doc != nil && now.Sub(s.when) < s.interval {
		return s.doc
	}
	doc, err := s.m.TwemproxyStats(s.info, now)
	if err != nil {
		s.log.Error("stats document", "err", err)
		if s.doc != nil {
			return s.doc
		}
		return []byte("{}\n")
	}
	s.doc, s.when = doc, now
	return doc
}
