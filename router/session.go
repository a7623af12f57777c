package router

import (
	"io"
	"net"

	"runtime"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// itemKind says how the reply to one client command is produced.
type itemKind uint8

const (
	itemLocal   itemKind = iota // bytes already in Session.out
	itemForward                 // the raw reply of one request
	itemMerge                   // a merge of several requests' replies
	itemQuit                    // +OK, then close the connection
)

// item is one client command of a batch and the recipe for its reply.
type item struct {
	kind   itemKind
	ci     *command.Info
	lo, hi int      // itemLocal: reply bytes in Session.out
	first  int      // itemForward/itemMerge: index of the first request
	n      int      // itemMerge: number of requests
	op     mergeOp  // itemMerge
	route  []uint16 // itemMerge of a split command: request of each key, in key order
	extra  int      // merge-specific: SCAN shard index, INFO section bits
	extra2 int      // merge-specific: SCAN shard count
	res    result   // itemLocal: set when the reply is made; others: once it is written
	start  int64    // nanotime when the command was read, for latency
	trk    bool     // a read tracked for CLIENT TRACKING: keys in Session.trackKeys[extra:extra2]
}

// Session is the proxy side of one client connection. It is used by the
// connection's goroutine only, except its writer (safe for pushes from any
// goroutine) and its pinned connections (guarded by their own lock).
//
// A batch is the commands parsed from one read: every routed command
// becomes a backend request grouped by server, the groups are enqueued, and
// the replies are written back in command order, each as soon as it and
// every one before it are complete, before the next read. Requests, items
// and buffers are kept between batches, so a steady stream of batches
// allocates little.
type Session struct {
	p     *Pool
	topo  topology   // the pool's topology for the current batch
	redir redirector // topo's redirect handling, nil if it has none
	id    int64
	hint  int
	name  string // CLIENT SETNAME
	addr  string // the client's address

	reqs   []*backend.Request // reusable; reqs[:used] belong to the batch
	srvOf  []*backend.Server  // srvOf[i]: where reqs[i] was sent
	used   int
	items  []item
	groups []group // this batch's requests by server, in order
	keys   []int
	out    []byte         // local replies of this batch
	routes []uint16       // arena for item.route
	partOf map[int]uint16 // split scratch: shard or slot -> sub-request
	counts []int          // split and merge scratch: per sub-request
	want   []int          // merge scratch
	elems  [][]byte       // merge scratch
	askBuf []byte         // ASKING + command, for ASK redirects
	quit   bool

	w       *clientWriter // the client's output
	wbuf    []byte        // replies assembled for the next write to w
	written int           // items of the batch whose reply is in wbuf or sent
	counted int           // items of the batch whose metrics are recorded

	pins  pinSet             // dedicated backend connections
	auth  sessionAuth        // the authenticated user (auth.go)
	keep  *backend.Dedicated // a clean pinned connection kept for reuse (pin.go)
	tx    *txState           // MULTI/WATCH (tx.go); nil until the pinned path runs
	pub   sessionPub         // what CLIENT LIST shows of the session (clients.go)
	nc    net.Conn           // the client's connection, watched while blocked
	cc    *clientConn        // the server's side of it (server.go); nil in benchmarks
	wrote []*backend.Server  // servers written to since the last WAIT

	sub   *subState // subscriptions (subscribed.go); nil when none
	proto int       // RESP version chosen by HELLO (resp3.go); 0 = 2

	trk       sessionTracking // CLIENT TRACKING (tracking.go)
	trackKeys []string        // keys of the batch's tracked reads

	// The batch being served, for the qbuf of CLIENT INFO/LIST's own line.
	batchFirst redcon.Command
	batchRest  []redcon.Command
	rbCap      int  // cap(wbuf) as CLIENT LIST shows it (rbs)
	rbPeak     int  // the most wbuf held since it was allocated (rbp)
	inExec     bool // a queued command the proxy answers runs in EXEC
}

// group is the requests of one batch for one server.
type group struct {
	srv  *backend.Server
	reqs []*backend.Request
}

func newSession(p *Pool, id int64) *Session {
	// Everything else is allocated on first use: an idle client costs the
	// proxy little beyond its connection's buffers.
	return &Session{p: p, id: id, hint: int(id), pins: pinSet{max: p.cfg.PinnedConnections},
		auth: sessionAuth{user: p.access.initial()}}
}

// close releases what the session holds once its client has gone: its
// pinned connections and its writer (waiting for its flusher).
func (s *Session) close() {
	s.closePubsub()
	if s.trk.on {
		s.p.track.disable(s)
	}
	if s.keep != nil && (s.tx == nil || !s.tx.multi && !s.tx.watching) {
		s.handBack(s.keep)
		s.keep = nil
	}
	s.pins.mu.Lock()
	for _, d := range s.pins.conns {
		s.p.backendIDs.Delete(d)
	}
	s.pins.mu.Unlock()
	s.pins.closeAll()
	if s.w != nil {
		s.w.close()
	}
}

// ending reports that the commands left in the batch are not run: after
// QUIT, or once another goroutine shut the client's connection (CLIENT
// KILL, the output buffer limit, shutdown), as Redis drops the unread input
// of a client it closes.
func (s *Session) ending() bool { return s.quit || s.pub.in != nil && s.pub.in.down.Load() }

// serve runs one batch: first plus the rest of the commands parsed
// from the same read. conn is closed after QUIT.
func (s *Session) serve(conn io.Closer, first redcon.Command, rest []redcon.Command) {
	start := nanotime()
	// One topology for the whole batch, even if a reload swaps it meanwhile:
	// a split and its merge must agree on the servers.
	s.topo = s.p.topology()
	s.redir = s.topo.redirector()
	s.batchFirst, s.batchRest = first, rest
	s.begin()
	i := -1 // the command being added: first, then rest[i]
	if s.tx != nil && s.tx.multi {
		i = s.pinnedRun(first, rest, i, start)
	}
	for ; i < len(rest) && !s.ending(); i++ {
		cmd := first
		if i >= 0 {
			cmd = rest[i]
		}
		if s.add(cmd.Raw, cmd.Args, start) {
			continue
		}
		// A command for the pinned path (tx.go): what came before it is
		// answered first, then it and what follows run in order.
		s.finish()
		s.begin()
		i = s.pinnedRun(first, rest, i, start) - 1
	}
	s.finish()
	if s.quit {
		s.w.drain() // +OK first, as Redis does
		conn.Close()
	}
	s.batchFirst, s.batchRest = redcon.Command{}, nil
	s.trim()
}

// batchInput is the size of the batch being served: the client's input
// Redis would still hold in its query buffer while running a command of it.
func (s *Session) batchInput() int64 {
	n := len(s.batchFirst.Raw)
	for _, c := range s.batchRest {
		n += len(c.Raw)
	}
	return int64(n)
}

// handOut gives the replies assembled in wbuf to the client's writer, and
// keeps CLIENT LIST's rbs and rbp (the size and peak use of wbuf) current.
func (s *Session) handOut() {
	if len(s.wbuf) > s.rbPeak {
		s.rbPeak = len(s.wbuf)
		s.pub.rbp.Store(int64(s.rbPeak))
	}
	if cap(s.wbuf) != s.rbCap {
		s.rbCap = cap(s.wbuf)
		s.pub.rbs.Store(int64(s.rbCap))
	}
	s.w.write(s.wbuf)
	s.wbuf = s.wbuf[:0]
}

// begin starts a batch (or the part of one after a pinned run).
func (s *Session) begin() {
	s.used, s.out, s.routes, s.items = 0, s.out[:0], s.routes[:0], s.items[:0]
	clear(s.trackKeys)
	s.trackKeys = s.trackKeys[:0]
}

// finish sends the batch's requests and writes its replies.
func (s *Session) finish() {
	if len(s.items) == 0 {
		return
	}
	s.p.stats.batch(len(s.items))
	s.lastCmd(s.items[len(s.items)-1].ci, s.items[0].start)
	s.dispatch()
	s.write()
}

// trim lets go of scratch space a rare huge batch left behind (a 100,000
// key MSET), so that the session of an idle client stays small.
func (s *Session) trim() {
	const keep = 256 << 10
	if cap(s.out) > keep {
		s.out = nil
	}
	if cap(s.routes) > keep/2 {
		s.routes = nil
	}
	if cap(s.elems) > keep/16 {
		s.elems = nil
	}
	if cap(s.wbuf) > keep {
		s.wbuf = nil
		s.rbCap, s.rbPeak = 0, 0
		s.pub.rbs.Store(0)
		s.pub.rbp.Store(0)
	}
	if len(s.reqs) > 4096 {
		s.reqs, s.srvOf = nil, nil
	}
	// Reply buffers are kept for reuse up to a budget per session, not per
	// request: a batch of 2,000 GETs of 100 KB values must not leave 200 MB
	// behind, out of reach of the output buffer limit.
	budget := keep * 4
	for _, r := range s.reqs[:min(s.used, len(s.reqs))] {
		if cap(r.Buf) > keep {
			r.Buf = nil
		}
		if c := cap(r.Reply); c > budget {
			r.Reply = nil
		} else {
			budget -= c
		}
	}
}

// request returns the next reusable request of the batch.
func (s *Session) request() (*backend.Request, int) {
	if s.used == len(s.reqs) {
		r := backend.NewRequest()
		r.Sink = s.w // replies count against the client's output limit
		s.reqs = append(s.reqs, r)
		s.srvOf = append(s.srvOf, nil)
	}
	r := s.reqs[s.used]
	r.Reset()
	s.used++
	return r, s.used - 1
}

// forward routes one request to server srv.
func (s *Session) forward(srv *backend.Server, wire []byte) int {
	r, idx := s.request()
	r.Wire = wire
	s.send(srv, r, idx)
	return idx
}

// send adds reqs[idx] to srv's group of the batch.
func (s *Session) send(srv *backend.Server, r *backend.Request, idx int) {
	s.srvOf[idx] = srv
	for i := range s.groups {
		if s.groups[i].srv == srv {
			s.groups[i].reqs = append(s.groups[i].reqs, r)
			return
		}
	}
	if len(s.groups) < cap(s.groups) {
		s.groups = s.groups[:len(s.groups)+1]
		g := &s.groups[len(s.groups)-1]
		g.srv, g.reqs = srv, append(g.reqs[:0], r)
		return
	}
	s.groups = append(s.groups, group{srv: srv, reqs: []*backend.Request{r}})
}

// localItem records a reply the proxy produced itself, s.out[lo:], and its
// result for the metrics, decided by whoever made the reply.
func (s *Session) localItem(ci *command.Info, start int64, lo int, res result) {
	s.items = append(s.items, item{kind: itemLocal, ci: ci, lo: lo, hi: len(s.out), res: res, start: start})
	if lo < len(s.out) && s.out[lo] == '-' {
		s.p.stats.errorStats.add(s.out[lo+1:]) // INFO errorstats
	}
}

// errorItem records an error reply that Redis itself would give (unknown
// command, wrong number of arguments, ...): a resultError.
func (s *Session) errorItem(ci *command.Info, start int64, msg string) {
	lo := len(s.out)
	s.out = resp.AppendError(s.out, msg)
	s.localItem(ci, start, lo, resultError)
}

// proxyErrorItem records the proxy's own refusal (CROSSSLOT, CLUSTERDOWN for
// a slot without a master, a command it does not support): a
// resultProxyError.
func (s *Session) proxyErrorItem(ci *command.Info, start int64, msg string) {
	lo := len(s.out)
	s.out = resp.AppendError(s.out, msg)
	s.localItem(ci, start, lo, resultProxyError)
}

// add classifies one command and turns it into an item. It returns false,
// adding nothing, for a command that needs the pinned path.
func (s *Session) add(raw []byte, args [][]byte, start int64) bool {
	ci, errText := command.Lookup(args)
	if ci == nil {
		if isExec(args) {
			return false // EXEC's refusal discards the transaction (execReject)
		}
		s.lookupFailed(args)
		s.errorItem(nil, start, errText)
		return true
	}
	if v := s.auth.user.verdict[ci.Index()]; v != vAllow {
		if msg := s.checkAccess(v, ci, args); msg != "" {
			if ci.Name() == "exec" {
				return false // as above
			}
			s.errorItem(ci, start, msg)
			return true
		}
	}
	if (ci.Flags()&command.FlagPubSub != 0 || s.sub != nil || ci.Class() == command.ClassPinned) &&
		s.addPubsub(ci, raw, args, start) {
		return true
	}
	class, reply := ci.Classify(args)
	switch class {
	case command.ClassSingle, command.ClassSameShard:
		s.addKeyed(ci, raw, args, start)
	case command.ClassSplit:
		s.addSplit(ci, raw, args, start)
	case command.ClassFanout:
		s.addFanout(ci, raw, args, start)
	case command.ClassLocal:
		s.addLocal(ci, args, start)
	case command.ClassPinned:
		return false
	default: // command.ClassRefused: the table holds the error text with its reason
		s.proxyErrorItem(ci, start, reply)
	}
	return true
}

// addKeyed routes a command whose keys must all live on one shard (one
// slot in cluster mode).
func (s *Session) addKeyed(ci *command.Info, raw []byte, args [][]byte, start int64) {
	var errText string
	s.keys, errText = ci.AppendKeyIndexes(s.keys[:0], args)
	if errText != "" {
		s.errorItem(ci, start, errText)
		return
	}
	part := -1
	for _, k := range s.keys {
		kp := s.topo.part(args[k])
		if part >= 0 && kp != part {
			s.proxyErrorItem(ci, start, errCrossSlot)
			return
		}
		part = kp
	}
	var srv *backend.Server
	if part < 0 {
		// No key (EVAL with numkeys 0): any shard will do; spread sessions.
		srv = s.anyServer()
	} else {
		srv = s.topo.server(part, ci, s.hint)
	}
	if srv == nil {
		s.topo.refresh()
		s.proxyErrorItem(ci, start, errSlotDown)
		return
	}
	if msg := fencedWrite(ci, srv); msg != "" {
		s.proxyErrorItem(ci, start, msg)
		return
	}
	if ci.Flags()&writeFlags != 0 {
		s.noteWrite(srv) // for WAIT
	}
	if s.trk.on && s.tracks(ci) && len(s.keys) > 0 {
		r, idx := s.request()
		lo, hi := s.trackRead(r, args, s.keys)
		s.send(srv, r, idx)
		s.items = append(s.items, item{kind: itemForward, ci: ci, first: idx, start: start, extra: lo, extra2: hi, trk: true})
		return
	}
	idx := s.forward(srv, raw)
	s.items = append(s.items, item{kind: itemForward, ci: ci, first: idx, start: start})
}

// addSplit splits MGET, MSET, DEL, UNLINK, EXISTS and TOUCH into one
// sub-command per shard (per slot in cluster mode, since a cluster node
// refuses keys of different slots in one command), keys in their order.
func (s *Session) addSplit(ci *command.Info, raw []byte, args [][]byte, start int64) {
	step := max(ci.Step(), 1)
	if (len(args)-1)%step != 0 || len(args) < 2 {
		s.errorItem(ci, start, "ERR wrong number of arguments for '"+ci.Name()+"' command")
		return
	}
	nkeys := (len(args) - 1) / step
	routeLo := len(s.routes)
	if s.partOf == nil {
		s.partOf = map[int]uint16{}
	}
	clear(s.partOf)
	s.counts = s.counts[:0]
	first := s.used
	for i := 1; i < len(args); i += step {
		part := s.topo.part(args[i])
		sub, ok := s.partOf[part]
		if !ok {
			srv := s.topo.server(part, ci, s.hint)
			msg := fencedWrite(ci, srv)
			if srv == nil {
				s.topo.refresh()
				msg = errSlotDown
			}
			if msg != "" {
				s.used = first
				s.routes = s.routes[:routeLo]
				s.proxyErrorItem(ci, start, msg)
				return
			}
			if ci.Flags()&writeFlags != 0 {
				s.noteWrite(srv) // for WAIT
			}
			sub = uint16(len(s.counts))
			s.partOf[part] = sub
			s.counts = append(s.counts, 0)
			_, idx := s.request()
			s.srvOf[idx] = srv
		}
		s.counts[sub]++
		s.routes = append(s.routes, sub)
	}
	n := len(s.counts)
	tracked := s.trk.on && s.tracks(ci)
	if n == 1 {
		// Every key on one shard: forward the command as it came.
		srv := s.srvOf[first]
		s.used = first
		s.routes = s.routes[:routeLo]
		if tracked {
			s.keys = s.keys[:0]
			for i := 1; i < len(args); i += step {
				s.keys = append(s.keys, i)
			}
			r, idx := s.request()
			lo, hi := s.trackRead(r, args, s.keys)
			s.send(srv, r, idx)
			s.items = append(s.items, item{kind: itemForward, ci: ci, first: idx, start: start, extra: lo, extra2: hi, trk: true})
			return
		}
		idx := s.forward(srv, raw)
		s.items = append(s.items, item{kind: itemForward, ci: ci, first: idx, start: start})
		return
	}
	for sub := 0; sub < n; sub++ {
		r := s.reqs[first+sub]
		r.Wire = r.Buf[:0]
		if tracked {
			// CLIENT CACHING yes first, its +OK skipped (tracking.go).
			r.Wire, r.Skip = append(r.Wire, backend.CachingWire...), 1
		}
		r.Wire = resp.AppendArrayHeader(r.Wire, 1+s.counts[sub]*step)
		r.Wire = resp.AppendBulk(r.Wire, args[0])
	}
	for i, k := 0, 1; i < nkeys; i, k = i+1, k+step {
		r := s.reqs[first+int(s.routes[routeLo+i])]
		for j := 0; j < step; j++ {
			r.Wire = resp.AppendBulk(r.Wire, args[k+j])
		}
	}
	for sub := 0; sub < n; sub++ {
		r := s.reqs[first+sub]
		r.Buf = r.Wire // keep the grown buffer for reuse
		s.send(s.srvOf[first+sub], r, first+sub)
	}
	op, _ := opOf(ci.Merge())
	it := item{
		kind: itemMerge, ci: ci, first: first, n: n, op: op,
		route: s.routes[routeLo : routeLo+nkeys], start: start,
	}
	if tracked {
		it.extra, it.trk = len(s.trackKeys), true
		for i := 1; i < len(args); i += step {
			k := string(args[i])
			s.trackKeys = append(s.trackKeys, k)
			s.p.track.note(s, k)
		}
		it.extra2 = len(s.trackKeys)
	}
	s.items = append(s.items, it)
}

// addFanout sends a command to every server.
func (s *Session) addFanout(ci *command.Info, raw []byte, args [][]byte, start int64) {
	op, ok := opOf(ci.Merge())
	if !ok {
		s.proxyErrorItem(ci, start, "ERR command '"+ci.Name()+"' is not supported by the proxy")
		return
	}
	if op == opScan {
		s.addScan(ci, args, start)
		return
	}
	first := s.used
	all := s.topo.shards()
	for _, srv := range all {
		if ci.Flags()&writeFlags != 0 {
			s.noteWrite(srv) // for WAIT
		}
		s.forward(srv, raw)
	}
	s.items = append(s.items, item{kind: itemMerge, ci: ci, first: first, n: len(all), op: op, start: start,
		extra: fanoutExtra(op, args)})
}

// dispatch enqueues each server's group on the session's connection to it.
func (s *Session) dispatch() {
	for i := range s.groups {
		g := &s.groups[i]
		c, err := g.srv.PickProto(s.hint, s.protocol())
		if err != nil {
			for _, r := range g.reqs {
				r.Fail(err)
			}
		} else {
			c.Enqueue(g.reqs...)
		}
		clear(g.reqs)
		g.reqs, g.srv = g.reqs[:0], nil
	}
	s.groups = s.groups[:0]
}

// write writes each item's reply in order, each as soon as it and every
// one before it are complete: whenever the next item must be waited for,
// the replies ready so far go out first (streaming), and a client that
// pipelines against a slow shard sees the fast shard's replies at once. A
// batch whose replies are all ready by the time they are needed (the
// unpipelined client) costs one write.
func (s *Session) write() {
	s.written, s.counted = 0, 0
	for i := range s.items {
		it := &s.items[i]
		var res result
		switch it.kind {
		case itemLocal:
			b := s.out[it.lo:it.hi]
			if s.proto == 3 {
				s.wbuf = appendRESP3(s.wbuf, b)
			} else {
				s.wbuf = append(s.wbuf, b...)
			}
			res = it.res
		case itemForward:
			r := s.reqs[it.first]
			s.await(r)
			s.settle(it.first)
			s.fenceMoved(it.ci, it.first)
			if r.Err != nil {
				s.wbuf = resp.AppendError(s.wbuf, "ERR "+r.Err.Error())
				res = resultProxyError
			} else {
				res = replyResult(r.Reply)
				// Already in the client's protocol: a RESP3 session's
				// requests went to the server's RESP3 connections.
				if len(r.Reply) < bigValue || !s.bigReply(r) { // big: sent on its own, without a copy (bigreply.go)
					s.wbuf = append(s.wbuf, r.Reply...)
				}
				if it.trk {
					s.trackReplied(it)
				}
			}
			r.Release()
		case itemMerge:
			for j := it.first; j < it.first+it.n; j++ {
				s.await(s.reqs[j])
				s.settle(j)
				s.fenceMoved(it.ci, j)
			}
			if s.bigMerge(it) { // large elements sent without a copy (bigreply.go)
				res = resultOK
			} else {
				var b []byte
				b, res = s.merge(it)
				if s.proto == 3 {
					s.wbuf = appendRESP3(s.wbuf, b)
				} else {
					s.wbuf = append(s.wbuf, b...)
				}
			}
			if it.trk {
				s.trackReplied(it)
			}
			for j := it.first; j < it.first+it.n; j++ {
				s.reqs[j].Release()
			}
		}
		it.res = res
		s.written = i + 1
		// Bound what waits here unaccounted: beyond this the writer takes
		// it (and counts it against the client's limit).
		if len(s.wbuf) >= flushAt {
			s.flush()
		}
	}
	s.flush()
	// Drop references to client memory and servers held by this batch.
	for i, r := range s.reqs[:s.used] {
		r.Wire = nil
		s.srvOf[i] = nil
	}
}

// flushAt is the size of assembled replies that the session hands to its
// writer without waiting for the next item.
const flushAt = 64 << 10

// yieldsBeforeFlush is how many times await lets other goroutines run
// before it sends the replies it holds and blocks.
const yieldsBeforeFlush = 3

// await waits for r, first sending the replies assembled so far if r is
// not complete yet.
func (s *Session) await(r *backend.Request) {
	if r.TryWait() {
		return
	}
	if len(s.wbuf) > 0 {
		// Let the backend readers run first: they are likely in the middle
		// of this batch's replies (another shard's arrive a moment later),
		// and if r completes meanwhile one write carries more of them. A
		// few yields cost microseconds; a slow shard still gets the replies
		// before its own sent at once.
		for i := 0; i < yieldsBeforeFlush; i++ {
			runtime.Gosched()
			if r.TryWait() {
				return
			}
		}
	}
	s.flush()
	r.Wait()
}

// flush hands the assembled replies to the writer and records the
// metrics of their commands: each command ends when its reply is sent.
func (s *Session) flush() {
	if len(s.wbuf) > 0 {
		s.handOut()
	}
	if s.counted == s.written {
		return
	}
	now := nanotime()
	for i := s.counted; i < s.written; i++ {
		it := &s.items[i]
		s.p.stats.command(it.ci, it.res, it.start, now)
	}
	s.counted = s.written
}

// push writes b to the client from any goroutine, between batch replies:
// the path of pub/sub messages and RESP3 pushes. It never blocks; a client
// that does not read has b buffered up to its output limit.
func (s *Session) push(b []byte) {
	s.w.write(b)
	s.pub.active.Store(nanotime()) // output is interaction, as Redis counts idle
}
