package router

import (
	"strings"
	"sync"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// Client-side caching (CLIENT TRACKING), default mode, for RESP3 clients.
//
// The shards track for the proxy: every shared RESP3 backend connection
// says CLIENT TRACKING ON OPTIN in its handshake (backend.Options.OnPush),
// and a tracking client's read goes out as CLIENT CACHING yes + the read,
// so Redis remembers its keys for that connection, and only those. When a
// key changes (through the proxy or directly on the shard), Redis pushes an
// invalidation on that connection; the proxy looks the key up in its own
// table (key -> tracking sessions that read it) and pushes
// `>2 invalidate [key]` to each, once: the entry is cleared, as Redis clears
// its own after sending. A key is entered before the read is sent and again
// once its reply is in, so an invalidation that overtakes the reply (they
// come on different connections when the write was someone else's) can
// cost an extra invalidation, never a missed one. A lost backend connection
// forgets what it tracked: every tracking client gets a flush (a null
// invalidate), as Redis sends on FLUSHALL.
//
// Not done: OPTIN, OPTOUT, BCAST, PREFIX, NOLOOP and REDIRECT (refused with
// a clear error); reads on pinned connections (MULTI, blocking commands)
// are not tracked (MGET and the other split reads are, on each shard).
// The proxy reads a backend connection's pushes only together with
// replies, so an invalidation of a write made directly on a shard waits
// at most for the next health PING of that connection (the pool's
// health_check_interval) when no traffic flows. The table has no bound of
// its own (Redis's tracking-table-max-keys bounds the shards' side).

// tracker is a pool's table of tracked keys.
type tracker struct {
	mu   sync.Mutex
	keys map[string]map[*Session]struct{} // guarded by mu
	on   map[*Session]map[string]struct{} // guarded by mu: tracking sessions and their keys
}

// sessionTracking is what a session asked with CLIENT TRACKING.
type sessionTracking struct {
	on bool
}

var (
	invalidateHeader = []byte(">2\r\n$10\r\ninvalidate\r\n")
	invalidateFlush  = []byte(">2\r\n$10\r\ninvalidate\r\n_\r\n")
)

// enable makes s a tracking session.
func (t *tracker) enable(s *Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.on == nil {
		t.on = map[*Session]map[string]struct{}{}
		t.keys = map[string]map[*Session]struct{}{}
	}
	if _, ok := t.on[s]; !ok {
		t.on[s] = map[string]struct{}{}
	}
}

// disable forgets s and the keys it read.
func (t *tracker) disable(s *Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.on[s] {
		if m := t.keys[k]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(t.keys, k)
			}
		}
	}
	delete(t.on, s)
}

// note records that s read key.
func (t *tracker) note(s *Session, key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	mine, ok := t.on[s]
	if !ok {
		return // tracking was turned off meanwhile
	}
	mine[key] = struct{}{}
	m := t.keys[key]
	if m == nil {
		m = map[*Session]struct{}{}
		t.keys[key] = m
	}
	m[s] = struct{}{}
}

// onPush handles a push from a RESP3 backend connection (backend.Options.OnPush).
func (t *tracker) onPush(push []byte) {
	if push == nil {
		t.flush()
		return
	}
	elems, ok := resp.ArrayElems(nil, append([]byte{'*'}, push[1:]...))
	if !ok || len(elems) != 2 {
		return
	}
	if kind, _ := resp.BulkValue(elems[0]); string(kind) != "invalidate" {
		return
	}
	keys, ok := resp.ArrayElems(nil, elems[1])
	if !ok {
		t.flush() // a null: the shard was flushed
		return
	}
	for _, k := range keys {
		if key, ok := resp.BulkValue(k); ok {
			t.invalidate(string(key))
		}
	}
}

// invalidate pushes an invalidation of key to each session that read it,
// and forgets them.
func (t *tracker) invalidate(key string) {
	t.mu.Lock()
	m := t.keys[key]
	delete(t.keys, key)
	var to []*Session
	for s := range m {
		delete(t.on[s], key)
		to = append(to, s)
	}
	t.mu.Unlock()
	if len(to) == 0 {
		return
	}
	b := append([]byte(nil), invalidateHeader...)
	b = resp.AppendArrayHeader(b, 1)
	b = resp.AppendBulkString(b, key)
	for _, s := range to {
		s.push(b)
	}
}

// flush tells every tracking session that read a key (RESP3 ones only do)
// to drop its whole cache.
func (t *tracker) flush() {
	t.mu.Lock()
	var to []*Session
	for s, mine := range t.on {
		if len(mine) > 0 {
			clear(mine)
			to = append(to, s)
		}
	}
	clear(t.keys)
	t.mu.Unlock()
	for _, s := range to {
		s.push(invalidateFlush)
	}
}

// tracks reports whether the reads of the batch being added must be
// tracked: a RESP3 session with tracking on (a RESP2 one without REDIRECT
// gets +OK and no invalidations, as from Redis).
func (s *Session) tracks(ci *command.Info) bool {
	return s.trk.on && s.proto == 3 && ci.Flags()&command.FlagReadonly != 0
}

// trackRead enters the keys of a tracked read (at args[idx]) into the
// pool's table and returns the wire to send: CLIENT CACHING yes + the read.
// The keys are kept in s.trackKeys[lo:hi] to be entered again once the
// reply is in (see the file comment).
func (s *Session) trackRead(r *backend.Request, args [][]byte, idx []int) (lo, hi int) {
	lo = len(s.trackKeys)
	for _, i := range idx {
		k := string(args[i])
		s.trackKeys = append(s.trackKeys, k)
		s.p.track.note(s, k)
	}
	r.Buf = append(r.Buf[:0], backend.CachingWire...)
	r.Buf = resp.AppendCommandBytes(r.Buf, args)
	r.Wire, r.Skip = r.Buf, 1
	return lo, len(s.trackKeys)
}

// trackReplied enters a tracked read's keys again once its reply is in.
func (s *Session) trackReplied(it *item) {
	for _, k := range s.trackKeys[it.extra:it.extra2] {
		s.p.track.note(s, k)
	}
}

// clientTracking answers CLIENT TRACKING ON|OFF [options].
func (s *Session) clientTracking(dst []byte, args [][]byte) []byte {
	on := false
	switch strings.ToLower(string(args[2])) {
	case "on":
		on = true
	case "off":
	default:
		return resp.AppendError(dst, "ERR syntax error")
	}
	for i := 3; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); opt {
		case "redirect", "prefix":
			if i+1 >= len(args) {
				return resp.AppendError(dst, "ERR syntax error")
			}
			i++
			fallthrough
		case "bcast", "optin", "optout", "noloop":
			return resp.AppendError(dst, "ERR CLIENT TRACKING option '"+opt+"' is not supported by the proxy")
		default:
			return resp.AppendError(dst, "ERR syntax error")
		}
	}
	if on {
		s.setTracking(true)
		s.p.track.enable(s)
	} else if s.trk.on {
		s.setTracking(false)
		s.p.track.disable(s)
	}
	return resp.AppendSimple(dst, "OK")
}

// clientTrackingInfo answers CLIENT TRACKINGINFO.
func (s *Session) clientTrackingInfo(dst []byte) []byte {
	flag, redir := "off", int64(-1)
	if s.trk.on {
		flag, redir = "on", 0
	}
	if s.proto == 3 {
		dst = resp.AppendMapHeader(dst, 3)
		dst = resp.AppendBulkString(dst, "flags")
		dst = resp.AppendSetHeader(dst, 1)
	} else {
		dst = resp.AppendArrayHeader(dst, 6)
		dst = resp.AppendBulkString(dst, "flags")
		dst = resp.AppendArrayHeader(dst, 1)
	}
	dst = resp.AppendBulkString(dst, flag)
	dst = resp.AppendBulkString(dst, "redirect")
	dst = resp.AppendInt(dst, redir)
	dst = resp.AppendBulkString(dst, "prefixes")
	return resp.AppendArrayHeader(dst, 0)
}

// clientGetRedir answers CLIENT GETREDIR: -1 when not tracking, 0 when
// tracking without REDIRECT (the only mode the proxy offers).
func (s *Session) clientGetRedir(dst []byte) []byte {
	if s.trk.on {
		return resp.AppendInt(dst, 0)
	}
	return resp.AppendInt(dst, -1)
}

// clientCaching answers CLIENT CACHING: valid in OPTIN and OPTOUT modes
// only, which the proxy does not offer, so with Redis's errors.
func (s *Session) clientCaching(dst []byte, args [][]byte) []byte {
	if !s.trk.on {
		return resp.AppendError(dst, "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
	}
	switch strings.ToLower(string(args[2])) {
	case "yes":
		return resp.AppendError(dst, "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
	case "no":
		return resp.AppendError(dst, "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
	}
	return resp.AppendError(dst, "ERR syntax error")
}
