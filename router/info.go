package router

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// INFO sections the proxy renders.
const (
	secServer = 1 << iota
	secClients
	secStats
	secBackends
	secKeyspace
	secMemory       // info_shards.go
	secPersistence  // info_shards.go
	secReplication  // info_shards.go
	secCPU          // info_shards.go
	secErrorstats   // info_shards.go
	secCommandstats // info_commands.go
	secLatencystats // info_commands.go
	secDefault      = secServer | secClients | secStats | secBackends | secKeyspace | secMemory | secPersistence | secReplication | secCPU | secErrorstats
	secShards       = secKeyspace | secMemory | secPersistence | secErrorstats // need the shards' INFO
)

// addInfo answers INFO [section ...]. The keyspace section sums the shards'
// own, so it needs a round trip to every server; the rest is local.
func (s *Session) addInfo(ci *command.Info, args [][]byte, start int64) {
	secs := 0
	if len(args) == 1 {
		secs = secDefault
	}
	for _, a := range args[1:] {
		switch strings.ToLower(string(a)) {
		case "server":
			secs |= secServer
		case "clients":
			secs |= secClients
		case "stats":
			secs |= secStats
		case "backends":
			secs |= secBackends
		case "keyspace":
			secs |= secKeyspace
		case "memory":
			secs |= secMemory
		case "persistence":
			secs |= secPersistence
		case "replication":
			secs |= secReplication
		case "cpu":
			secs |= secCPU
		case "errorstats":
			secs |= secErrorstats
		case "commandstats":
			secs |= secCommandstats
		case "latencystats":
			secs |= secLatencystats
		case "default":
			secs |= secDefault
		case "all", "everything":
			secs |= secDefault | secCommandstats | secLatencystats
		}
	}
	if secs&secShards == 0 {
		lo := len(s.out)
		s.out = s.appendText(s.out, s.p.renderInfo(secs, nil))
		s.localItem(ci, start, lo, resultOK)
		return
	}
	first := s.used
	all := s.topo.shards()
	for _, srv := range all {
		s.forward(srv, infoShardsWire)
	}
	s.items = append(s.items, item{kind: itemMerge, ci: ci, first: first, n: len(all), op: opInfo, extra: secs, start: start})
}

func (s *Session) mergeInfo(it *item, reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	var ks keyspace
	for _, r := range reqs {
		if r.Err != nil {
			ks.missing++
			continue
		}
		body, ok := resp.TextValue(r.Reply)
		if !ok {
			ks.missing++
			continue
		}
		ks.add(string(body))
	}
	s.out = s.appendText(s.out, s.p.renderInfo(it.extra, &ks))
	return s.out[lo:], resultOK
}

// keyspace sums the "db0:keys=..,expires=..,avg_ttl=.." lines of shards.
type keyspace struct {
	dbs     []string
	keys    map[string]int64
	expires map[string]int64
	ttlSum  map[string]int64 // avg_ttl weighted by keys
	missing int

	sections shardSections // memory, persistence, errorstats (info_shards.go)
}

func (k *keyspace) add(body string) {
	if k.keys == nil {
		k.keys, k.expires, k.ttlSum = map[string]int64{}, map[string]int64{}, map[string]int64{}
	}
	k.sections.add(body)
	for _, line := range strings.Split(body, "\r\n") {
		db, rest, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(db, "db") {
			continue
		}
		var keys, expires, ttl int64
		for _, f := range strings.Split(rest, ",") {
			name, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch name {
			case "keys":
				keys = n
			case "expires":
				expires = n
			case "avg_ttl":
				ttl = n
			}
		}
		if _, seen := k.keys[db]; !seen {
			k.dbs = append(k.dbs, db)
		}
		k.keys[db] += keys
		k.expires[db] += expires
		k.ttlSum[db] += ttl * keys
	}
}

// renderInfo renders the selected INFO sections.
func (p *Pool) renderInfo(secs int, ks *keyspace) string {
	var b strings.Builder
	section := func(name string) {
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + name + "\r\n")
	}
	field := func(name string, v any) { fmt.Fprintf(&b, "%s:%v\r\n", name, v) }
	st := &p.stats
	if secs&secServer != 0 {
		section("Server")
		field("redis_version", redisVersion)
		field("proxy", "shardproxy")
		field("proxy_version", p.version)
		field("redis_mode", "standalone")
		field("proxy_mode", p.cfg.Mode)
		field("pool", p.cfg.Name)
		field("os", runtime.GOOS+" "+runtime.GOARCH)
		field("go_version", runtime.Version())
		field("process_id", os.Getpid())
		field("tcp_port", p.Port())
		up := time.Since(p.started)
		field("uptime_in_seconds", int64(up.Seconds()))
		field("uptime_in_days", int64(up.Hours()/24))
	}
	if secs&secClients != 0 {
		section("Clients")
		field("connected_clients", st.clients.Load())
		field("maxclients", p.cfg.ClientConnections)
	}
	if secs&secMemory != 0 && ks != nil {
		section("Memory")
		ks.sections.memory.render(&b)
	}
	if secs&secPersistence != 0 && ks != nil {
		section("Persistence")
		ks.sections.persistence.render(&b)
	}
	if secs&secStats != 0 {
		section("Stats")
		field("total_connections_received", st.accepted.Load())
		field("rejected_connections", st.rejected.Load())
		field("total_commands_processed", st.commands.Load())
		field("instantaneous_ops_per_sec", st.opsPerSec.Load())
		field("total_error_replies", st.errors.Load())
		field("total_proxy_errors", st.proxyErrors.Load())
		field("total_net_input_bytes", st.bytesIn.Load())
		field("total_net_output_bytes", st.bytesOut.Load())
	}
	if secs&secReplication != 0 {
		section("Replication")
		field("role", "master")
		field("connected_slaves", 0)
	}
	if secs&secCPU != 0 {
		section("CPU")
		renderCPU(&b)
	}
	if secs&secCommandstats != 0 {
		section("Commandstats")
		p.renderCommandstats(&b)
	}
	if secs&secErrorstats != 0 && ks != nil {
		section("Errorstats")
		st.errorStats.render(&b, &ks.sections.errorstats)
	}
	if secs&secLatencystats != 0 {
		section("Latencystats")
		p.renderLatencystats(&b)
	}
	if secs&secBackends != 0 {
		section("Backends")
		for i, srv := range p.Servers() {
			up := 0
			if srv.Up() {
				up = 1
			}
			n, avg, p99 := p.backendLatency(srv)
			fmt.Fprintf(&b, "backend%d:name=%s,addr=%s,up=%d,inflight=%d,replies=%d,latency_avg_usec=%.1f,latency_p99_usec=%.1f\r\n",
				i, srv.Name(), srv.Addr(), up, srv.InFlight(), n, avg, p99)
		}
	}
	if secs&secKeyspace != 0 && ks != nil {
		section("Keyspace")
		for _, db := range ks.dbs {
			avg := int64(0)
			if n := ks.keys[db]; n > 0 {
				avg = ks.ttlSum[db] / n
			}
			// The pool's database is db0 to clients, whatever redis_db is;
			// other databases of shared servers are not the pool's.
			if db != "db"+strconv.Itoa(p.cfg.RedisDB) {
				continue
			}
			fmt.Fprintf(&b, "db0:keys=%d,expires=%d,avg_ttl=%d\r\n", ks.keys[db], ks.expires[db], avg)
		}
		if ks.missing > 0 {
			field("shards_missing", ks.missing)
		}
	}
	return b.String()
}
