package router

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/resp"
)

// CONFIG GET, LATENCY and MEMORY through the proxy. Each goes to every
// shard; the replies are merged here (mergeAdmin calls these once no shard
// failed or refused).

// configSecrets are the parameters CONFIG GET never shows through the
// proxy: the shards' credentials are not the clients' business (the proxy
// keeps backend and client credentials apart).
var configSecrets = []string{"requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass"}

// configOwn returns the parameters whose value is the proxy's, not the
// shards': what a client sees of the proxy itself (one database, no
// cluster, the pool's client limits).
func configOwn(pc *config.Pool) map[string]string {
	own := map[string]string{
		"databases":                 "1",
		"cluster-enabled":           "no",
		"proto-max-bulk-len":        strconv.FormatInt(pc.ProtoMaxBulkLen, 10),
		"client-query-buffer-limit": strconv.FormatInt(pc.ClientQueryBufferLimit, 10),
		"timeout":                   strconv.FormatInt(int64(pc.ClientIdleTimeout/time.Second), 10),
		"client-output-buffer-limit": "normal " + pc.OutputLimitNormal.String() +
			" slave 268435456 67108864 60 pubsub " + pc.OutputLimitPubsub.String(),
	}
	if pc.ClientConnections > 0 {
		own["maxclients"] = strconv.Itoa(pc.ClientConnections)
	}
	return own
}

// pairElems splits a CONFIG GET reply, a flat RESP2 array or a RESP3 map,
// into its names and values, alternating.
func pairElems(dst [][]byte, reply []byte) ([][]byte, bool) {
	if len(reply) > 0 && reply[0] == '%' {
		// A map of n pairs is an array of 2n elements with another header.
		end := bytes.Index(reply, []byte("\r\n"))
		n, ok := resp.ParseInt(reply[1:max(end, 1)])
		if end < 0 || !ok || n < 0 {
			return dst, false
		}
		arr := resp.AppendArrayHeader(nil, int(2*n))
		return resp.ArrayElems(dst, append(arr, reply[end+2:]...))
	}
	return resp.ArrayElems(dst, reply)
}

// mergeConfig merges CONFIG GET: every parameter any shard reported, in the
// first shard's order, with the first shard's value (shards that differ
// are the operator's to reconcile: CONFIG GET on the shard itself tells),
// the proxy's own value for what the proxy decides, and no credentials.
func (s *Session) mergeConfig(it *item, reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	own := configOwn(s.p.cfg)
	type param struct{ name, value []byte }
	var params []param
	seen := map[string]bool{}
	var elems [][]byte
	for _, r := range reqs {
		var ok bool
		if elems, ok = pairElems(elems[:0], r.Reply); !ok || len(elems)%2 != 0 {
			return s.unexpected(it, lo)
		}
		for i := 0; i < len(elems); i += 2 {
			name, ok1 := resp.BulkValue(elems[i])
			value, ok2 := resp.BulkValue(elems[i+1])
			if !ok1 || !ok2 {
				return s.unexpected(it, lo)
			}
			if seen[string(name)] || slices.Contains(configSecrets, string(name)) {
				continue
			}
			seen[string(name)] = true
			if v, ok := own[string(name)]; ok {
				value = []byte(v)
			}
			params = append(params, param{name, value})
		}
	}
	if s.proto == 3 {
		s.out = resp.AppendMapHeader(s.out, len(params))
	} else {
		s.out = resp.AppendArrayHeader(s.out, 2*len(params))
	}
	for _, p := range params {
		s.out = resp.AppendBulk(s.out, p.name)
		s.out = resp.AppendBulk(s.out, p.value)
	}
	return s.out[lo:], resultOK
}

// shardName is the name of the server that answered request j of it.
func (s *Session) shardName(it *item, j int) string {
	if srv := s.srvOf[it.first+j]; srv != nil {
		return srv.Name()
	}
	return "?"
}

// mergeLatest merges LATENCY LATEST: every shard's events, in shard
// order, each event's name prefixed with its shard's ("shard1:command"),
// since the same event happens on several shards.
func (s *Session) mergeLatest(it *item, reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	var body []byte
	n := 0
	for j, r := range reqs {
		events, ok := resp.ArrayElems(nil, r.Reply)
		if !ok {
			return s.unexpected(it, lo)
		}
		for _, e := range events {
			fields, ok := resp.ArrayElems(nil, e)
			if !ok || len(fields) < 1 {
				return s.unexpected(it, lo)
			}
			name, ok := resp.BulkValue(fields[0])
			if !ok {
				return s.unexpected(it, lo)
			}
			body = resp.AppendArrayHeader(body, len(fields))
			body = resp.AppendBulkString(body, s.shardName(it, j)+":"+string(name))
			for _, f := range fields[1:] {
				body = append(body, f...)
			}
			n++
		}
	}
	s.out = resp.AppendArrayHeader(s.out, n)
	s.out = append(s.out, body...)
	return s.out[lo:], resultOK
}

// mergeHistory merges LATENCY HISTORY: every shard's (time, latency)
// samples of the event, oldest first.
func (s *Session) mergeHistory(it *item, reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	type sample struct {
		at  int64
		raw []byte
	}
	var samples []sample
	for _, r := range reqs {
		list, ok := resp.ArrayElems(nil, r.Reply)
		if !ok {
			return s.unexpected(it, lo)
		}
		for _, e := range list {
			fields, ok := resp.ArrayElems(nil, e)
			if !ok || len(fields) != 2 {
				return s.unexpected(it, lo)
			}
			at, ok := resp.IntValue(fields[0])
			if !ok {
				return s.unexpected(it, lo)
			}
			samples = append(samples, sample{at, e})
		}
	}
	slices.SortStableFunc(samples, func(a, b sample) int { return cmp.Compare(a.at, b.at) })
	s.out = resp.AppendArrayHeader(s.out, len(samples))
	for _, e := range samples {
		s.out = append(s.out, e.raw...)
	}
	return s.out[lo:], resultOK
}

// mergeShards gives each shard's reply under the shard's name. Text
// replies (LATENCY DOCTOR and GRAPH, MEMORY DOCTOR and MALLOC-STATS) become
// one text with a heading per shard (a RESP3 verbatim string, as Redis
// sends them); structured ones (MEMORY STATS, LATENCY HISTOGRAM) become
// a map (RESP3) or flat array (RESP2) from shard name to its reply.
func (s *Session) mergeShards(it *item, reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	text, verbatim := true, false
	for _, r := range reqs {
		switch {
		case len(r.Reply) > 0 && r.Reply[0] == '=':
			verbatim = true
		case len(r.Reply) > 0 && r.Reply[0] == '$':
		default:
			text = false
		}
	}
	if !text {
		if s.proto == 3 {
			s.out = resp.AppendMapHeader(s.out, len(reqs))
		} else {
			s.out = resp.AppendArrayHeader(s.out, 2*len(reqs))
		}
		for j, r := range reqs {
			s.out = resp.AppendBulkString(s.out, s.shardName(it, j))
			s.out = append(s.out, r.Reply...)
		}
		return s.out[lo:], resultOK
	}
	var b []byte
	for j, r := range reqs {
		v, ok := textValue(r.Reply)
		if !ok {
			return s.unexpected(it, lo)
		}
		if j > 0 {
			b = append(b, '\n')
		}
		b = append(b, "### backend "+s.shardName(it, j)+"\n"...)
		b = append(b, v...)
		if len(v) > 0 && v[len(v)-1] != '\n' {
			b = append(b, '\n')
		}
	}
	if verbatim || s.proto == 3 { // Redis answers these with verbatim strings in RESP3
		s.out = resp.AppendVerbatim(s.out, "txt", string(b))
	} else {
		s.out = resp.AppendBulk(s.out, b)
	}
	return s.out[lo:], resultOK
}

// textValue is the payload of a bulk string or of a RESP3 verbatim string
// (without its "txt:" format prefix).
func textValue(reply []byte) ([]byte, bool) {
	if len(reply) > 0 && reply[0] == '=' {
		b := append([]byte{'$'}, reply[1:]...)
		v, ok := resp.BulkValue(b)
		if !ok || len(v) < 4 {
			return nil, false
		}
		return v[4:], true
	}
	return resp.BulkValue(reply)
}

// unexpected replaces the reply being built with the error for a backend
// reply of the wrong shape.
func (s *Session) unexpected(it *item, lo int) ([]byte, result) {
	s.out = resp.AppendError(s.out[:lo], "ERR unexpected reply from a backend to '"+it.ci.Name()+"'")
	return s.out[lo:], resultProxyError
}
