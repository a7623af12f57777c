package router

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/metrics"
	"github.com/shardproxy/shardproxy/resp"
)

// observed is a pool served with its own metrics registry and a captured
// log, and the HTTP handler of its operational endpoints.
type observed struct {
	*Pool
	m    *metrics.Metrics
	h    http.Handler
	logs *logBuffer
}

// startObserved is startProxy with the metrics and the log kept for the
// test: the log at info level, as JSON.
func startObserved(t *testing.T, rs []*testenv.Redis, edit func(*config.Pool)) *observed {
	t.Helper()
	pc := ringPool(t, rs, edit)
	m := metrics.New("test", runtime.Version())
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	pool := serve(t, pc, Options{Version: "test", Logger: log, Metrics: m}, func() {
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs.String())
		}
	})
	return &observed{Pool: pool, m: m, h: m.Handler(metrics.HandlerOptions{Ready: pool.Ready}), logs: logs}
}

// logBuffer collects JSON log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records returns "<level> <msg> server=<server>" for every record so far.
func (b *logBuffer) records(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, fmt.Sprintf("%v %v server=%v", r["level"], r["msg"], r["server"]))
	}
	return out
}

// count returns how many records equal rec.
func countRecords(recs []string, rec string) int {
	n := 0
	for _, r := range recs {
		if r == rec {
			n++
		}
	}
	return n
}

// get serves one request on h and returns its status and body.
func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// scrape returns the exposition text of h's /metrics and every shardproxy_
// series in it by "name{label="value",...}" (labels sorted), a histogram as
// its _count and _sum.
func scrape(t *testing.T, h http.Handler) (string, map[string]float64) {
	t.Helper()
	code, text := get(t, h, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, text)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, text)
	}
	out := map[string]float64{}
	for name, fam := range fams {
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			sort.Strings(labels)
			key := func(n string) string { return n + "{" + strings.Join(labels, ",") + "}" }
			switch fam.GetType() {
			case dto.MetricType_COUNTER:
				out[key(name)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key(name)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[key(name+"_count")] = float64(m.GetHistogram().GetSampleCount())
				out[key(name+"_sum")] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return text, out
}

// Series names, as scrape renders them, of the pool "test".
func cmdSeries(command, result string) string {
	return fmt.Sprintf(`shardproxy_commands_total{command=%q,pool="test",result=%q}`, command, result)
}

func cmdLatencyCount(command string) string {
	return fmt.Sprintf(`shardproxy_command_duration_seconds_count{command=%q,pool="test"}`, command)
}

func poolSeries(name string) string { return name + `{pool="test"}` }

func backendSeries(o *observed, name string, srv int) string {
	s := o.Servers()[srv]
	return fmt.Sprintf(`%s{addr=%q,pool="test",server=%q}`, name, s.Addr(), s.Name())
}

func backendErrSeries(o *observed, kind string, srv int) string {
	s := o.Servers()[srv]
	return fmt.Sprintf(`shardproxy_backend_errors_total{addr=%q,kind=%q,pool="test",server=%q}`, s.Addr(), kind, s.Name())
}

// deltaProblems describes every series of want whose value did not move
// from before to after by exactly the wanted amount; "" when all did.
func deltaProblems(before, after, want map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := after[k]; !ok && want[k] != 0 {
			fmt.Fprintf(&b, "missing series %s (want it to move by %v)\n", k, want[k])
			continue
		}
		if d := after[k] - before[k]; math.Abs(d-want[k]) > 1e-9 {
			fmt.Fprintf(&b, "%s moved by %v, want %v\n", k, d, want[k])
		}
	}
	return b.String()
}

// settle scrapes h until every series of want has moved from before by
// exactly the wanted amount, and fails the test if that does not happen
// within two seconds. It returns the last scrape. Waiting is needed because
// a backend connection's writer accounts for a write after flushing it, so
// the reply may reach the client (and the test scrape) first.
func settle(t *testing.T, h http.Handler, before, want map[string]float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, after := scrape(t, h)
		problems := deltaProblems(before, after, want)
		if problems == "" {
			return after
		}
		if time.Now().After(deadline) {
			t.Errorf("series did not move as expected:\n%s", problems)
			return after
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkUnmoved fails the test for every series starting with prefix whose
// value changed.
func checkUnmoved(t *testing.T, before, after map[string]float64, prefix string) {
	t.Helper()
	for k, v := range after {
		if strings.HasPrefix(k, prefix) && v != before[k] {
			t.Errorf("%s moved by %v, want no change", k, v-before[k])
		}
	}
}

// cmd encodes one command as RESP.
func cmd(args ...string) string { return string(resp.AppendCommand(nil, args...)) }

// keysOnShards returns n keys with the given prefix and the shard of each.
func keysOnShards(o *observed, prefix string, n int) ([]string, []int) {
	keys, shard := make([]string, n), make([]int, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s:%d", prefix, i)
		shard[i] = o.pick([]byte(keys[i]))
	}
	return keys, shard
}

// TestMetricsFollowTraffic drives traffic through a proxy (plain commands,
// a pipeline, a Redis error, a CROSSSLOT, a timeout, a killed and restarted
// backend), scrapes /metrics after each step and checks that exactly the
// right series moved by exactly the right amounts, that the backend's up
// and down transitions are logged once each and nothing per request, that
// /readyz follows the killed shard, and that promtool finds the scrape clean.
func TestMetricsFollowTraffic(t *testing.T) {
	rs := shards(t, 3)
	// Two connections per server: a timeout replaces one of them while
	// the other keeps the server up, which the timeout case checks.
	o := startObserved(t, rs, func(pc *config.Pool) {
		pc.Timeout = 300 * time.Millisecond
		pc.ServerConnections = 2
	})
	keys, shard := keysOnShards(o, "obs", 12)
	// Two keys on different shards, for the CROSSSLOT.
	other := slices.IndexFunc(shard, func(s int) bool { return s != shard[0] })
	if other < 0 {
		t.Fatal("every key on one shard")
	}

	t.Run("traffic", func(t *testing.T) {
		_, before := scrape(t, o.h)
		c := dialRaw(t, o.Pool)
		perShard := make([]float64, len(rs))
		var sent, received int
		exchange := func(wire string, replies ...string) {
			t.Helper()
			c.send(wire)
			sent += len(wire)
			for _, want := range replies {
				got, err := c.reply()
				if err != nil || (want != "*" && got != want) {
					t.Fatalf("reply %q, %v; want %q", got, err, want)
				}
				received += len(got)
			}
		}
		// One pipelined batch of 12 SETs.
		var pipe strings.Builder
		oks := make([]string, len(keys))
		for i, k := range keys {
			pipe.WriteString(cmd("SET", k, "v"+strconv.Itoa(i)))
			oks[i] = "+OK\r\n"
			perShard[shard[i]]++
		}
		exchange(pipe.String(), oks...)
		// 12 GETs, one batch each.
		for i, k := range keys {
			v := "v" + strconv.Itoa(i)
			exchange(cmd("GET", k), fmt.Sprintf("$%d\r\n%s\r\n", len(v), v))
			perShard[shard[i]]++
		}
		exchange(cmd("INCR", keys[0]), "-ERR value is not an integer or out of range\r\n")
		perShard[shard[0]]++
		exchange(cmd("RENAME", keys[0], keys[other]), "-"+errCrossSlot+"\r\n")
		mget := append([]string{"MGET"}, keys...)
		exchange(cmd(mget...), "*")
		for s := range rs {
			if slices.Contains(shard, s) {
				perShard[s]++
			}
		}
		exchange(cmd("PING"), "+PONG\r\n")

		want := map[string]float64{
			cmdSeries("set", "ok"):             12,
			cmdSeries("get", "ok"):             12,
			cmdSeries("incr", "error"):         1,
			cmdSeries("rename", "proxy_error"): 1,
			cmdSeries("mget", "ok"):            1,
			cmdSeries("ping", "ok"):            1,
			cmdLatencyCount("set"):             12,
			cmdLatencyCount("get"):             12,
			cmdLatencyCount("incr"):            1,
			cmdLatencyCount("rename"):          1,
			cmdLatencyCount("mget"):            1,
			cmdLatencyCount("ping"):            1,
			// The pipeline is one batch, every other command its own.
			poolSeries("shardproxy_client_read_batch_commands_count"):  1 + 12 + 4,
			poolSeries("shardproxy_client_read_batch_commands_sum"):    12 + 12 + 4,
			poolSeries("shardproxy_client_connections"):                1,
			poolSeries("shardproxy_client_connections_accepted_total"): 1,
			poolSeries("shardproxy_client_received_bytes_total"):       float64(sent),
			poolSeries("shardproxy_client_sent_bytes_total"):           float64(received),
		}
		for s := range rs {
			// Every request was answered, so the reader observed as many
			// latencies as the writers wrote requests.
			want[backendSeries(o, "shardproxy_backend_requests_total", s)] = perShard[s]
			want[backendSeries(o, "shardproxy_backend_request_duration_seconds_count", s)] = perShard[s]
			want[backendSeries(o, "shardproxy_backend_write_batch_requests_sum", s)] = perShard[s]
			want[backendSeries(o, "shardproxy_backend_up", s)] = 0 // stays 1
		}
		after := settle(t, o.h, before, want)
		checkUnmoved(t, before, after, "shardproxy_backend_errors_total")
		checkUnmoved(t, before, after, "shardproxy_backend_reconnects_total")
		for s := range rs {
			if v := after[backendSeries(o, "shardproxy_backend_up", s)]; v != 1 {
				t.Errorf("backend %d up = %v", s, v)
			}
		}
	})

	t.Run("timeout", func(t *testing.T) {
		c := dialRaw(t, o.Pool)
		_, before := scrape(t, o.h)
		s := shard[0]
		rs[s].Pause()
		c.send(cmd("GET", keys[0]))
		reply, err := c.reply()
		rs[s].Resume()
		if want := fmt.Sprintf("-ERR backend shard%d timed out after 300ms\r\n", s+1); err != nil || reply != want {
			t.Fatalf("GET on a paused shard: %q, %v; want %q", reply, err, want)
		}
		after := settle(t, o.h, before, map[string]float64{
			cmdSeries("get", "proxy_error"):                                          1,
			cmdLatencyCount("get"):                                                   1,
			backendErrSeries(o, "timeout", s):                                        1,
			backendSeries(o, "shardproxy_backend_requests_total", s):                 1,
			backendSeries(o, "shardproxy_backend_request_duration_seconds_count", s): 0,
		})
		getSum := `shardproxy_command_duration_seconds_sum{command="get",pool="test"}`
		if d := after[getSum] - before[getSum]; d < 0.3 {
			t.Errorf("the timed-out GET added %vs of latency, want at least the 0.3s timeout", d)
		}
		// The timed-out connection is replaced; the other kept the server up.
		if v := after[backendSeries(o, "shardproxy_backend_up", s)]; v != 1 {
			t.Errorf("backend up = %v after a timeout", v)
		}
		testenv.WaitFor(t, 5*time.Second, func() bool {
			_, now := scrape(t, o.h)
			return now[backendSeries(o, "shardproxy_backend_reconnects_total", s)]-before[backendSeries(o, "shardproxy_backend_reconnects_total", s)] >= 1
		}, "reconnect after the timeout")
		c.send(cmd("GET", keys[0]))
		c.mustReply("$2\r\nv0\r\n")
	})

	t.Run("killed", func(t *testing.T) {
		s := shard[other]
		dead := fmt.Sprintf("shard%d", s+1)
		c := dialRaw(t, o.Pool)
		_, before := scrape(t, o.h)
		logsBefore := o.logs.records(t)
		rs[s].Kill()
		// The proxy learns of the death from the traffic: each connection
		// to the server fails on its next request.
		failed := 0
		testenv.WaitFor(t, 5*time.Second, func() bool {
			c.send(cmd("GET", keys[other]))
			reply, err := c.reply()
			if err != nil || !strings.HasPrefix(reply, "-ERR backend "+dead+" unavailable: ") {
				t.Fatalf("GET on a killed shard: %q, %v", reply, err)
			}
			failed++
			return !o.Servers()[s].Up()
		}, "%s to be seen down", dead)
		code, body := get(t, o.h, "/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, dead) {
			t.Errorf("/readyz with %s dead: %d %q", dead, code, body)
		}
		// More requests fail fast and log nothing.
		start := time.Now()
		for range 50 {
			c.send(cmd("GET", keys[other]))
			if reply, _ := c.reply(); !strings.HasPrefix(reply, "-ERR backend "+dead+" unavailable: ") {
				t.Fatalf("GET on a dead shard: %q", reply)
			}
			failed++
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("50 GETs on a dead shard took %v", d)
		}
		after := settle(t, o.h, before, map[string]float64{
			cmdSeries("get", "proxy_error"):                                          float64(failed),
			cmdLatencyCount("get"):                                                   float64(failed),
			backendSeries(o, "shardproxy_backend_up", s):                             -1,
			backendSeries(o, "shardproxy_backend_request_duration_seconds_count", s): 0,
		})
		if d := after[backendErrSeries(o, "closed", s)] - before[backendErrSeries(o, "closed", s)]; d < 1 {
			t.Errorf("closed errors moved by %v, want at least 1", d)
		}
		if d := after[backendErrSeries(o, "connect", s)] - before[backendErrSeries(o, "connect", s)]; d < 1 {
			t.Errorf("connect errors moved by %v, want at least 1", d)
		}
		recs := o.logs.records(t)[len(logsBefore):]
		if want := []string{"WARN backend down server=" + dead}; !slices.Equal(recs, want) {
			t.Errorf("log records while %s died and %d requests failed: %q, want %q", dead, failed, recs, want)
		}

		rs[s].Restart()
		testenv.WaitFor(t, 5*time.Second, func() bool {
			c.send(cmd("GET", keys[other]))
			reply, err := c.reply()
			return err == nil && !strings.HasPrefix(reply, "-")
		}, "%s to serve again", dead)
		if code, body := get(t, o.h, "/readyz"); code != http.StatusOK {
			t.Errorf("/readyz after restart: %d %q", code, body)
		}
		_, final := scrape(t, o.h)
		if v := final[backendSeries(o, "shardproxy_backend_up", s)]; v != 1 {
			t.Errorf("backend up = %v after restart", v)
		}
		if d := final[backendSeries(o, "shardproxy_backend_reconnects_total", s)] - before[backendSeries(o, "shardproxy_backend_reconnects_total", s)]; d < 1 {
			t.Errorf("reconnects moved by %v after restart", d)
		}
		recs = o.logs.records(t)[len(logsBefore):]
		if want := []string{"WARN backend down server=" + dead, "INFO backend up server=" + dead}; !slices.Equal(recs, want) {
			t.Errorf("log records across the kill and restart: %q, want %q", recs, want)
		}
	})

	t.Run("logs", func(t *testing.T) {
		// Over the whole test: each server's first connection, the kill and
		// the restart; no line for any of the requests or errors.
		recs := o.logs.records(t)
		for s := range rs {
			name := fmt.Sprintf("shard%d", s+1)
			wantUp := 1
			if s == shard[other] {
				wantUp = 2
			}
			if n := countRecords(recs, "INFO backend up server="+name); n != wantUp {
				t.Errorf("%s: %d 'backend up' records, want %d", name, n, wantUp)
			}
		}
		if len(recs) != len(rs)+2 {
			t.Errorf("log records: %q", recs)
		}
	})

	t.Run("promtool", func(t *testing.T) {
		promtool := testenv.RequireBinary(t, "promtool")
		text, _ := scrape(t, o.h)
		c := exec.Command(promtool, "check", "metrics")
		c.Stdin = strings.NewReader(text)
		out, err := c.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})
}

// infoFields parses an INFO reply into its sections (in order) and fields.
func infoFields(t *testing.T, reply string) ([]string, map[string]string) {
	t.Helper()
	head, body, ok := strings.Cut(reply, "\r\n")
	if !ok || head[0] != '$' {
		t.Fatalf("INFO reply %q is not a bulk string", reply)
	}
	if n, _ := strconv.Atoi(head[1:]); n != len(body)-2 {
		t.Fatalf("INFO reply: length %s for %d bytes", head, len(body)-2)
	}
	var sections []string
	fields := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "# "):
			sections = append(sections, line[2:])
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("INFO line %q", line)
			}
			fields[k] = v
		}
	}
	return sections, fields
}

// TestInfoThroughProxy checks INFO's sections, selected as Redis selects
// them, and the values they report.
func TestInfoThroughProxy(t *testing.T) {
	rs := shards(t, 2)
	o := startObserved(t, rs, nil)
	c := dialRaw(t, o.Pool)
	info := func(t *testing.T, sections ...string) ([]string, map[string]string) {
		t.Helper()
		c.send(cmd(append([]string{"INFO"}, sections...)...))
		reply, err := c.reply()
		if err != nil {
			t.Fatal(err)
		}
		return infoFields(t, reply)
	}
	var pipe strings.Builder
	for i := range 30 {
		pipe.WriteString(cmd("SET", fmt.Sprintf("info:%d", i), "x", "EX", "1000"))
	}
	c.send(pipe.String())
	for range 30 {
		c.mustReply("+OK\r\n")
	}

	all := []string{"Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Errorstats", "Backends", "Keyspace"}
	withStats := []string{"Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Commandstats", "Errorstats", "Latencystats", "Backends", "Keyspace"}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, all},
		{[]string{"default"}, all},
		{[]string{"all"}, withStats},
		{[]string{"everything"}, withStats},
		{[]string{"server"}, []string{"Server"}},
		{[]string{"SERVER", "Clients"}, []string{"Server", "Clients"}},
		{[]string{"keyspace"}, []string{"Keyspace"}},
		{[]string{"stats", "backends"}, []string{"Stats", "Backends"}},
		{[]string{"cpu", "memory"}, []string{"Memory", "CPU"}},
		{[]string{"nosuchsection"}, nil},
	} {
		name := strings.Join(tc.args, "+")
		if name == "" {
			name = "no-argument"
		}
		t.Run(name, func(t *testing.T) {
			got, _ := info(t, tc.args...)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("INFO %v sections %q, want %q", tc.args, got, tc.want)
			}
		})
	}

	t.Run("values", func(t *testing.T) {
		_, f := info(t)
		for k, want := range map[string]string{
			"redis_version":     redisVersion,
			"proxy_version":     "test",
			"proxy_mode":        "ring",
			"process_id":        strconv.Itoa(os.Getpid()),
			"tcp_port":          strconv.Itoa(o.Port()),
			"connected_clients": "1",
			"db0":               "",
		} {
			if k == "db0" {
				if !strings.HasPrefix(f[k], "keys=30,expires=30,avg_ttl=") {
					t.Errorf("db0:%s, want 30 keys with a TTL", f[k])
				}
				continue
			}
			if f[k] != want {
				t.Errorf("%s:%s, want %s", k, f[k], want)
			}
		}
		for i, srv := range o.Servers() {
			line := f["backend"+strconv.Itoa(i)]
			prefix := fmt.Sprintf("name=%s,addr=%s,up=1,inflight=0,replies=", srv.Name(), srv.Addr())
			if !strings.HasPrefix(line, prefix) {
				t.Fatalf("backend%d:%s, want it to start with %s", i, line, prefix)
			}
			var replies uint64
			var avg, p99 float64
			if _, err := fmt.Sscanf(line[len(prefix):], "%d,latency_avg_usec=%g,latency_p99_usec=%g", &replies, &avg, &p99); err != nil {
				t.Fatalf("backend%d:%s: %v", i, line, err)
			}
			// 30 SETs spread over the shards, plus the keyspace INFOs.
			if replies < 2 || avg <= 0 || p99 < avg/10 {
				t.Errorf("backend%d: replies %d, avg %vµs, p99 %vµs", i, replies, avg, p99)
			}
		}
	})

	t.Run("stats", func(t *testing.T) {
		_, f0 := info(t, "stats")
		c.send(cmd("INCR", "info:0") + cmd("RENAME", "{a}1", "{b}1") + cmd("PING"))
		c.mustReply("-ERR value is not an integer or out of range\r\n")
		c.mustReply("-" + errCrossSlot + "\r\n")
		c.mustReply("+PONG\r\n")
		_, f1 := info(t, "stats")
		delta := func(k string) int {
			a, _ := strconv.Atoi(f0[k])
			b, _ := strconv.Atoi(f1[k])
			return b - a
		}
		// The first INFO is counted after it rendered its reply.
		if d := delta("total_commands_processed"); d != 4 {
			t.Errorf("total_commands_processed moved by %d, want 4", d)
		}
		if d := delta("total_error_replies") + delta("total_proxy_errors"); d != 2 {
			t.Errorf("error replies moved by %d, want 2", d)
		}
		if d := delta("total_connections_received"); d != 0 {
			t.Errorf("total_connections_received moved by %d", d)
		}
		// instantaneous_ops_per_sec is sampled once a second.
		testenv.WaitFor(t, 5*time.Second, func() bool {
			var pipe strings.Builder
			for range 100 {
				pipe.WriteString(cmd("PING"))
			}
			c.send(pipe.String())
			for range 100 {
				c.mustReply("+PONG\r\n")
			}
			_, f := info(t, "stats")
			n, _ := strconv.Atoi(f["instantaneous_ops_per_sec"])
			return n >= 100
		}, "instantaneous_ops_per_sec to count 100 PINGs")
	})

	t.Run("keyspace-with-a-dead-shard", func(t *testing.T) {
		rs[1].Kill()
		_, f := info(t, "keyspace")
		if f["shards_missing"] != "1" {
			t.Errorf("shards_missing:%s with one of two shards dead", f["shards_missing"])
		}
		var keys int
		fmt.Sscanf(f["db0"], "keys=%d,", &keys)
		if keys <= 0 || keys >= 30 {
			t.Errorf("db0:%s with one shard dead, want some of the 30 keys", f["db0"])
		}
	})
}

// TestLocalResult checks the result the session records for the replies the
// proxy makes itself: its own refusals (CROSSSLOT, a command it does not
// support) are proxy errors, errors that imitate Redis's (wrong number of
// arguments, unknown command, SELECT 1) are Redis errors. The result is
// set when the reply is made, whatever its text.
func TestLocalResult(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, nil)
	// Two keys on different shards, for CROSSSLOT.
	a, b := "a", ""
	for i := 0; b == ""; i++ {
		if k := fmt.Sprint("b", i); p.pick([]byte(k)) != p.pick([]byte(a)) {
			b = k
		}
	}
	for _, tc := range []struct {
		args []string
		want result
	}{
		{[]string{"PING"}, resultOK},
		{[]string{"ECHO", "x"}, resultOK},
		{[]string{"RENAME", a, b}, resultProxyError},
		{[]string{"SHUTDOWN"}, resultProxyError},
		{[]string{"GET"}, resultError},
		{[]string{"FOO"}, resultError},
		{[]string{"SELECT", "1"}, resultError},
		{[]string{"SELECT", "00"}, resultError},
		{[]string{"HELLO", "3"}, resultOK},
		{[]string{"HELLO", "4"}, resultError},
		// A Redis error that mentions the proxy's refusal text is still a
		// Redis error: nothing is guessed from the text.
		{[]string{"FOO", "' is not supported by the proxy"}, resultError},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			s := newSession(p, 1)
			s.topo = p.topology()
			args := make([][]byte, len(tc.args))
			for i, a := range tc.args {
				args[i] = []byte(a)
			}
			s.add(resp.AppendCommandBytes(nil, args), args, 0)
			if len(s.items) != 1 || s.items[0].kind != itemLocal {
				t.Fatalf("items %+v, want one local item", s.items)
			}
			if got := s.items[0].res; got != tc.want {
				t.Errorf("result %d (reply %q), want %d", got, s.out, tc.want)
			}
		})
	}
}

// TestHistogramSummary checks the latency summary INFO shows against
// observations with a known mean and 99th percentile.
func TestHistogramSummary(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []float64 // seconds
		avg     float64   // µs
		p99     float64   // µs, estimated from the buckets
	}{
		{"none", nil, 0, 0},
		// 100 samples inside the 100µs-250µs bucket: p99 interpolates
		// 99% of the way through it.
		{"one-bucket", slices.Repeat([]float64{0.0002}, 100), 200, 100 + 150*0.99},
		// 99 fast samples and one slow: the rank 99 falls at the top of
		// the 50µs bucket.
		{"outlier", append(slices.Repeat([]float64{0.00001}, 99), 0.2), (99*10 + 200000) / 100.0, 50},
		// Beyond the last bound: the last bound.
		{"overflow", []float64{5, 5}, 5e6, 2.5e6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "h", Buckets: metrics.LatencyBuckets()})
			for _, s := range tc.samples {
				h.Observe(s)
			}
			n, avg, p99 := histogramSummary(h)
			if n != uint64(len(tc.samples)) || math.Abs(avg-tc.avg) > 1e-6 || math.Abs(p99-tc.p99) > 1e-6 {
				t.Errorf("histogramSummary = %d, %v, %v; want %d, %v, %v", n, avg, p99, len(tc.samples), tc.avg, tc.p99)
			}
		})
	}
}

// benchStats returns pool statistics wired to a fresh metrics registry, as a
// pool's are, and the command-table entry of GET.
func benchStats(tb testing.TB) (*poolStats, *command.Info) {
	mp, err := metrics.New("bench", runtime.Version()).Pool("bench", metrics.PoolOptions{CommandNames: command.Names()})
	if err != nil {
		tb.Fatal(err)
	}
	ci, errText := command.Lookup([][]byte{[]byte("get"), []byte("k")})
	if ci == nil {
		tb.Fatal(errText)
	}
	return &poolStats{m: mp}, ci
}

// TestCommandAccountingDoesNotAllocate: what a session pays per batch and
// per command for metrics and INFO allocates nothing.
func TestCommandAccountingDoesNotAllocate(t *testing.T) {
	st, ci := benchStats(t)
	st.command(ci, resultOK, 0, 1) // the command's first use creates its series
	if n := testing.AllocsPerRun(1000, func() {
		st.batch(16)
		for range 16 {
			st.command(ci, resultOK, 1000, 181000)
		}
		st.read(512)
		st.wrote(80)
	}); n != 0 {
		t.Fatalf("%v allocations per batch", n)
	}
}

// BenchmarkCommandAccounting measures the metrics and INFO bookkeeping of
// one command on the data path (result counters, latency histogram,
// totals), alone and as part of a 16-command batch with its batch-size
// observation and byte counts; ns/command is the cost per command.
func BenchmarkCommandAccounting(b *testing.B) {
	st, ci := benchStats(b)
	b.Run("command", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st.command(ci, resultOK, 1000, 181000)
		}
	})
	b.Run("batch-16", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st.batch(16)
			for range 16 {
				st.command(ci, resultOK, 1000, 181000)
			}
			st.read(16 * 30)
			st.wrote(16 * 5)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/command")
	})
	b.Run("command-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				st.command(ci, resultOK, 1000, 181000)
			}
		})
	})
}
