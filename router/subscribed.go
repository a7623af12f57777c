package router

import (
	"cmp"
	"slices"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// The subscribed session state (DESIGN.md, Session states), as Redis's
// pubsub.c keeps it: a client's channels, patterns and shard channels, the
// counts its (un)subscribe replies carry, and the RESP2 rule that a client
// with any subscription may only (un)subscribe, PING, RESET and QUIT. The
// subscriptions themselves live on the pool's shared subscriber
// connections (pubsub.go); the session holds the shards its names are on.
//
// A (un)subscribe command ends the batch so far (cutBatch): the replies of
// the commands before it are written first, then its own replies, each
// while the shards it subscribed on are locked, so that no message of a
// channel reaches the client before the reply that says it is subscribed.

// subState is a session's subscriptions: per kind, the names. Where they
// are subscribed is the hub's business (it moves them when the placement
// changes).
type subState struct {
	names [3]map[string]struct{}
}

// count is the number Redis puts in (un)subscribe replies of kind:
// channels plus patterns, or shard channels alone.
func (ss *subState) count(kind subKind) int {
	if ss == nil {
		return 0
	}
	if kind == subSharded {
		return len(ss.names[subSharded])
	}
	return len(ss.names[subChannel]) + len(ss.names[subPattern])
}

func (ss *subState) total() int {
	if ss == nil {
		return 0
	}
	return len(ss.names[0]) + len(ss.names[1]) + len(ss.names[2])
}

const errSubscribedContext = "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"

// addPubsub handles the commands of the pub/sub family and the subscribed
// state; it reports whether it took the command.
func (s *Session) addPubsub(ci *command.Info, raw []byte, args [][]byte, start int64) bool {
	name := ci.Name()
	if s.sub.total() > 0 && s.proto != 3 {
		switch name {
		case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "quit", "reset":
		case "ping":
			lo := len(s.out)
			s.out = resp.AppendArrayHeader(s.out, 2)
			s.out = resp.AppendBulkString(s.out, "pong")
			if len(args) > 1 {
				s.out = resp.AppendBulk(s.out, args[1])
			} else {
				s.out = resp.AppendBulkString(s.out, "")
			}
			s.localItem(ci, start, lo, resultOK)
			return true
		default:
			s.errorItem(ci, start, "ERR Can't execute '"+name+"': "+errSubscribedContext)
			return true
		}
	}
	switch name {
	case "subscribe":
		s.subscribe(subChannel, ci, args, start)
	case "psubscribe":
		s.subscribe(subPattern, ci, args, start)
	case "ssubscribe":
		s.subscribe(subSharded, ci, args, start)
	case "unsubscribe":
		s.unsubscribe(subChannel, ci, args, start)
	case "punsubscribe":
		s.unsubscribe(subPattern, ci, args, start)
	case "sunsubscribe":
		s.unsubscribe(subSharded, ci, args, start)
	case "publish", "spublish":
		s.addPublish(ci, raw, args, start)
	case "reset":
		s.reset(ci, start)
	case "pubsub|channels", "pubsub|shardchannels", "pubsub|numpat", "pubsub|numsub", "pubsub|shardnumsub":
		s.pubsubIntrospect(ci, args, start)
	default:
		return false
	}
	return true
}

// addPublish routes PUBLISH/SPUBLISH to the shard of the channel.
func (s *Session) addPublish(ci *command.Info, raw []byte, args [][]byte, start int64) {
	srv := s.topo.server(s.topo.part(args[1]), ci, s.hint)
	if srv == nil {
		s.topo.refresh()
		s.errorItem(ci, start, errSlotDown)
		return
	}
	idx := s.forward(srv, raw)
	s.items = append(s.items, item{kind: itemForward, ci: ci, first: idx, start: start})
}

// cutBatch writes the replies of the batch so far and starts a new one, so
// that what the session writes next follows them.
func (s *Session) cutBatch() {
	s.finish()
	s.begin()
}

// pubsub returns the pool's hub.
func (p *Pool) pubsub() *pubsubHub { return p.hub }

// placeSub returns the shards name of kind is subscribed on, in a stable
// order (the lock order of attach).
func (s *Session) placeSub(kind subKind, ci *command.Info, name []byte) []*subShard {
	var srvs []*backend.Server
	if kind == subPattern {
		srvs = s.topo.shards()
	} else if srv := s.topo.server(s.topo.part(name), ci, s.hint); srv != nil {
		srvs = []*backend.Server{srv}
	}
	out := make([]*subShard, 0, len(srvs))
	for _, srv := range srvs {
		if sh := s.p.hub.shard(srv); sh != nil {
			out = append(out, sh)
		}
	}
	slices.SortFunc(out, func(a, b *subShard) int {
		return cmp.Or(cmp.Compare(a.srv.Addr(), b.srv.Addr()), cmp.Compare(a.srv.Name(), b.srv.Name()))
	})
	return out
}

// appendSubReply appends ["subscribe", name, count] as an array (RESP2) or
// a push (RESP3); a nil name is a null.
func (s *Session) appendSubReply(dst []byte, verb string, name []byte, count int) []byte {
	if s.proto == 3 {
		dst = resp.AppendPushHeader(dst, 3)
	} else {
		dst = resp.AppendArrayHeader(dst, 3)
	}
	dst = resp.AppendBulkString(dst, verb)
	switch {
	case name != nil:
		dst = resp.AppendBulk(dst, name)
	case s.proto == 3:
		dst = resp.AppendNull3(dst)
	default:
		dst = resp.AppendNull(dst)
	}
	return resp.AppendInt(dst, int64(count))
}

// subscribe runs (P|S)SUBSCRIBE: one reply per name, each written once the
// shards hold the subscription.
func (s *Session) subscribe(kind subKind, ci *command.Info, args [][]byte, start int64) {
	s.cutBatch()
	s.lastCmd(ci, start) // before a reply can reach the client
	if s.sub == nil {
		s.sub = &subState{}
		for k := range s.sub.names {
			s.sub.names[k] = map[string]struct{}{}
		}
	}
	var reply []byte
	for _, a := range args[1:] {
		if s.sub.total() == 0 {
			s.w.setClass(outPubsub)
			s.p.hub.subscribed.Add(1)
		}
		if _, ok := s.sub.names[kind][string(a)]; ok {
			reply = s.appendSubReply(reply[:0], subReply[kind], a, s.sub.count(kind))
			s.w.write(reply)
			continue
		}
		name := string(a)
		shards := s.placeSub(kind, ci, a)
		waitConfirmed(s.p.hub.reserve(kind, name, shards, s.topo), s.p.cfg.Timeout)
		s.sub.names[kind][name] = struct{}{}
		s.pubSubs(kind) // before the reply can reach the client
		reply = s.appendSubReply(reply[:0], subReply[kind], a, s.sub.count(kind))
		s.p.hub.attach(kind, name, s, func() { s.w.write(reply) })
	}
	s.p.stats.command(ci, resultOK, start, nanotime())
}

// unsubscribe runs (P|S)UNSUBSCRIBE: one reply per name, or per name held
// when none is given, or one with a null name when none is held.
func (s *Session) unsubscribe(kind subKind, ci *command.Info, args [][]byte, start int64) {
	s.cutBatch()
	s.lastCmd(ci, start)
	var reply []byte
	if len(args) == 1 {
		if s.sub == nil || len(s.sub.names[kind]) == 0 {
			reply = s.appendSubReply(reply, unsubReply[kind], nil, s.sub.count(kind))
			s.w.write(reply)
		} else {
			for name := range s.sub.names[kind] {
				s.dropSub(kind, name)
				reply = s.appendSubReply(reply[:0], unsubReply[kind], []byte(name), s.sub.count(kind))
				s.w.write(reply)
			}
		}
	} else {
		for _, a := range args[1:] {
			if s.sub != nil {
				s.dropSub(kind, string(a))
			}
			reply = s.appendSubReply(reply[:0], unsubReply[kind], a, s.sub.count(kind))
			s.w.write(reply)
		}
	}
	s.afterUnsubscribe()
	s.p.stats.command(ci, resultOK, start, nanotime())
}

// dropSub forgets one subscription of the session, if held.
func (s *Session) dropSub(kind subKind, name string) {
	if _, ok := s.sub.names[kind][name]; !ok {
		return
	}
	delete(s.sub.names[kind], name)
	s.pubSubs(kind)
	s.p.hub.release(kind, name, s)
}

// afterUnsubscribe leaves the subscribed state once nothing is held.
func (s *Session) afterUnsubscribe() {
	if s.sub != nil && s.sub.total() == 0 {
		s.sub = nil
		s.w.setClass(outNormal)
		s.p.hub.subscribed.Add(-1)
	}
}

// closePubsub drops every subscription of a session that is going.
func (s *Session) closePubsub() {
	if s.sub == nil {
		return
	}
	for kind := range s.sub.names {
		for name := range s.sub.names[kind] {
			s.dropSub(subKind(kind), name)
		}
	}
	s.afterUnsubscribe()
}

// reset runs RESET: the connection back to its initial state, answered
// +RESET (see resetState).
func (s *Session) reset(ci *command.Info, start int64) {
	s.cutBatch()
	s.resetState()
	lo := len(s.out)
	s.out = resp.AppendSimple(s.out, "RESET")
	s.localItem(ci, start, lo, resultOK)
}

// resetState is what Redis 7.0's RESET clears (clearClientConnectionState):
// a transaction is discarded and WATCH forgotten (the pinned connection
// released), every subscription dropped without replies, the user back to
// the initial one (so AUTH is needed again when requirepass or users are
// configured), RESP2, no name. The database is always 0 here.
func (s *Session) resetState() {
	if t := s.tx; t != nil && (t.multi || t.conn != nil || t.srv != nil) {
		s.txAbandon()
		s.txEnd()
	}
	s.closePubsub()
	if s.trk.on { // RESET turns CLIENT TRACKING off, as in Redis
		s.p.track.disable(s)
	}
	s.trk = sessionTracking{}
	s.setTracking(false)
	s.setProto(2)
	s.setName("")
	s.setUser(s.p.access.initial())
}

// pubsubIntrospect answers PUBSUB CHANNELS, SHARDCHANNELS, NUMPAT, NUMSUB
// and SHARDNUMSUB across the shards. The shards count the proxy's shared
// subscription as one subscriber; the proxy reports its own clients
// instead, so the numbers are what one Redis would say.
func (s *Session) pubsubIntrospect(ci *command.Info, args [][]byte, start int64) {
	switch ci.Name() {
	case "pubsub|channels", "pubsub|shardchannels":
		// A channel lives on one shard: the shards' lists concatenated.
		first := s.used
		all := s.topo.shards()
		wire := resp.AppendCommandBytes(nil, args)
		for _, srv := range all {
			s.forward(srv, wire)
		}
		s.items = append(s.items, item{kind: itemMerge, ci: ci, first: first, n: len(all), op: opConcat, start: start})
		return
	}
	s.cutBatch()
	lo := len(s.out)
	defer func() { s.localItem(ci, start, lo, replyResult(s.out[lo:])) }()
	if ci.Name() == "pubsub|numpat" {
		// Every shard holds the proxy's patterns: the largest count.
		n := int64(0)
		for _, r := range s.askShards(s.topo.shards(), resp.AppendCommand(nil, "PUBSUB", "NUMPAT")) {
			if v, ok := intReply(r); ok && v > n {
				n = v
			}
		}
		s.out = resp.AppendInt(s.out, n)
		return
	}
	kind := subChannel
	if ci.Name() == "pubsub|shardnumsub" {
		kind = subSharded
	}
	chans := args[2:]
	srvs := make([]*backend.Server, len(chans))
	reqs := make([]*backend.Request, len(chans))
	for i, ch := range chans {
		srvs[i] = s.topo.server(s.topo.part(ch), ci, s.hint)
		if srvs[i] == nil {
			continue
		}
		reqs[i] = s.askShards(srvs[i:i+1], resp.AppendCommandBytes(nil, [][]byte{args[0], args[1], ch}))[0]
	}
	if s.proto == 3 {
		s.out = resp.AppendMapHeader(s.out, len(chans))
	} else {
		s.out = resp.AppendArrayHeader(s.out, 2*len(chans))
	}
	for i, ch := range chans {
		n := int64(0)
		if reqs[i] != nil {
			n, _ = numsubReply(reqs[i])
			if sh := s.p.hub.existing(srvs[i]); sh != nil {
				n += sh.localCount(kind, string(ch))
			}
		}
		s.out = resp.AppendBulk(s.out, ch)
		s.out = resp.AppendInt(s.out, max(n, 0))
	}
}

// askShards sends wire to each server and waits for the replies.
func (s *Session) askShards(srvs []*backend.Server, wire []byte) []*backend.Request {
	reqs := make([]*backend.Request, len(srvs))
	for i, srv := range srvs {
		r := backend.NewRequest()
		r.Wire = wire
		reqs[i] = r
		c, err := srv.Pick(s.hint)
		if err != nil {
			r.Fail(err)
			continue
		}
		c.Enqueue(r)
	}
	for _, r := range reqs {
		r.Wait()
	}
	return reqs
}

// intReply returns the integer reply of r.
func intReply(r *backend.Request) (int64, bool) {
	if r.Err != nil || len(r.Reply) < 4 || r.Reply[0] != ':' {
		return 0, false
	}
	return resp.ParseInt(r.Reply[1 : len(r.Reply)-2])
}

// numsubReply returns the count of a one-channel PUBSUB NUMSUB reply.
func numsubReply(r *backend.Request) (int64, bool) {
	if r.Err != nil {
		return 0, false
	}
	_, args := backend.SplitPush(r.Reply, nil)
	if len(args) != 1 {
		return 0, false
	}
	return resp.ParseInt(args[0])
}
