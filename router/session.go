package router

import (
	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/backend"
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
	ci     *commandInfo
	lo, hi int      // itemLocal: reply bytes in Session.out
	first  int      // itemForward/itemMerge: index of the first request
	n      int      // itemMerge: number of requests
	op     mergeOp  // itemMerge
	route  []uint16 // itemMerge of a split command: request of each key, in key order
	extra  int      // merge-specific: SCAN shard index, INFO section bits
	start  int64    // nanotime when the command was read, for latency
}

// Session is the proxy side of one client connection. It is used by the
// connection's goroutine only; nothing in it is shared.
//
// A batch is the commands redcon parsed from one read: every routed command
// becomes a backend request grouped by server, the groups are enqueued, and
// the replies are written back in command order before the next read.
// Requests, items and buffers are kept between batches, so a steady stream of
// batches allocates little.
type Session struct {
	p    *Pool
	id   int64
	hint int
	name string // CLIENT SETNAME
	addr string // the client's address

	reqs   []*backend.Request // reusable; reqs[:used] belong to the batch
	used   int
	items  []item
	groups [][]*backend.Request // per server, this batch's requests in order
	keys   []int
	out    []byte   // local replies of this batch
	routes []uint16 // arena for item.route
	subOf  []int    // per server: sub-request of the current split, or -1
	counts []int    // per server: keys of the current split
	elems  [][]byte // merge scratch
	quit   bool
}

func newSession(p *Pool, id int64) *Session {
	n := len(p.servers)
	s := &Session{
		p:      p,
		id:     id,
		hint:   int(id),
		groups: make([][]*backend.Request, n),
		subOf:  make([]int, n),
		counts: make([]int, n),
	}
	for i := range s.subOf {
		s.subOf[i] = -1
	}
	return s
}

// serve runs one batch: first plus the rest of the pipeline redcon holds.
func (s *Session) serve(conn redcon.Conn, first redcon.Command, rest []redcon.Command) {
	start := nanotime()
	s.used, s.out, s.routes, s.items = 0, s.out[:0], s.routes[:0], s.items[:0]
	s.add(first.Raw, first.Args, start)
	for i := range rest {
		if s.quit {
			break
		}
		s.add(rest[i].Raw, rest[i].Args, start)
	}
	s.p.stats.batch(len(s.items))
	s.dispatch()
	s.write(conn)
	if s.quit {
		conn.Close()
	}
}

// request returns the next reusable request of the batch.
func (s *Session) request() (*backend.Request, int) {
	if s.used == len(s.reqs) {
		s.reqs = append(s.reqs, backend.NewRequest())
	}
	r := s.reqs[s.used]
	r.Reset()
	s.used++
	return r, s.used - 1
}

// forward routes one request to server srv.
func (s *Session) forward(srv int, wire []byte) int {
	r, idx := s.request()
	r.Wire = wire
	s.groups[srv] = append(s.groups[srv], r)
	return idx
}

// local records a reply the proxy produced itself (appended to s.out by fn).
func (s *Session) localItem(ci *commandInfo, start int64, lo int) {
	s.items = append(s.items, item{kind: itemLocal, ci: ci, lo: lo, hi: len(s.out), start: start})
}

// errorItem records an error reply.
func (s *Session) errorItem(ci *commandInfo, start int64, msg string) {
	lo := len(s.out)
	s.out = appendError(s.out, msg)
	s.localItem(ci, start, lo)
}

// add classifies one command and turns it into an item.
func (s *Session) add(raw []byte, args [][]byte, start int64) {
	ci, errText := lookupCommand(args)
	if ci == nil {
		s.errorItem(nil, start, errText)
		return
	}
	class, reply := ci.classify(args)
	switch class {
	case classSingle, classSameShard:
		s.addKeyed(ci, raw, args, start)
	case classSplit:
		s.addSplit(ci, raw, args, start)
	case classFanout:
		s.addFanout(ci, raw, args, start)
	case classLocal:
		s.addLocal(ci, args, start)
	case classPinned:
		// Until sessions pin backend connections: the stable text of the
		// issue, without the table's reason.
		s.errorItem(ci, start, "ERR command '"+ci.name+"' is not supported by the proxy yet")
	default: // classRefused: the table holds the error text with its reason
		s.errorItem(ci, start, reply)
	}
}

// addKeyed routes a command whose keys must all live on one server.
func (s *Session) addKeyed(ci *commandInfo, raw []byte, args [][]byte, start int64) {
	var errText string
	s.keys, errText = ci.appendKeyIndexes(s.keys[:0], args)
	if errText != "" {
		s.errorItem(ci, start, errText)
		return
	}
	srv := -1
	for _, k := range s.keys {
		ks := s.p.ring.Pick(args[k])
		if srv >= 0 && ks != srv {
			s.errorItem(ci, start, errCrossSlot)
			return
		}
		srv = ks
	}
	if srv < 0 {
		// No key (EVAL with numkeys 0): any server will do; spread sessions.
		srv = s.hint % len(s.p.servers)
	}
	idx := s.forward(srv, raw)
	s.items = append(s.items, item{kind: itemForward, ci: ci, first: idx, start: start})
}

// addSplit splits MGET, MSET, DEL, UNLINK, EXISTS and TOUCH by server.
func (s *Session) addSplit(ci *commandInfo, raw []byte, args [][]byte, start int64) {
	step := ci.step
	if step < 1 {
		step = 1
	}
	if (len(args)-1)%step != 0 || len(args) < 2 {
		s.errorItem(ci, start, "ERR wrong number of arguments for '"+ci.name+"' command")
		return
	}
	nkeys := (len(args) - 1) / step
	routeLo := len(s.routes)
	srv0, same := -1, true
	for i := 1; i < len(args); i += step {
		srv := s.p.ring.Pick(args[i])
		if srv0 < 0 {
			srv0 = srv
		} else if srv != srv0 {
			same = false
		}
		s.routes = append(s.routes, uint16(srv))
		s.counts[srv]++
	}
	if same {
		s.counts[srv0] = 0
		s.routes = s.routes[:routeLo]
		idx := s.forward(srv0, raw)
		s.items = append(s.items, item{kind: itemForward, ci: ci, first: idx, start: start})
		return
	}
	// One sub-command per server, keys in their original order.
	first := s.used
	n := 0
	for srv, c := range s.counts {
		if c == 0 {
			continue
		}
		r, _ := s.request()
		r.Wire = appendArrayHeader(r.Buf[:0], 1+c*step)
		r.Wire = appendBulk(r.Wire, args[0])
		s.groups[srv] = append(s.groups[srv], r)
		s.subOf[srv] = n
		n++
	}
	for i, k := 0, 1; i < nkeys; i, k = i+1, k+step {
		srv := int(s.routes[routeLo+i])
		r := s.reqs[first+s.subOf[srv]]
		for j := 0; j < step; j++ {
			r.Wire = appendBulk(r.Wire, args[k+j])
		}
		s.routes[routeLo+i] = uint16(s.subOf[srv])
	}
	for srv := range s.counts {
		s.counts[srv] = 0
		s.subOf[srv] = -1
	}
	for i := first; i < first+n; i++ {
		s.reqs[i].Buf = s.reqs[i].Wire // keep the grown buffer for reuse
	}
	s.items = append(s.items, item{
		kind: itemMerge, ci: ci, first: first, n: n, op: s.splitOp(ci),
		route: s.routes[routeLo : routeLo+nkeys], start: start,
	})
}

// addFanout sends a command to every server.
func (s *Session) addFanout(ci *commandInfo, raw []byte, args [][]byte, start int64) {
	op, ok := opOf(ci.merge)
	if !ok {
		s.errorItem(ci, start, "ERR command '"+ci.name+"' is not supported by the proxy")
		return
	}
	if op == opScan {
		s.addScan(ci, args, start)
		return
	}
	first := s.used
	for srv := range s.p.servers {
		s.forward(srv, raw)
	}
	s.items = append(s.items, item{kind: itemMerge, ci: ci, first: first, n: len(s.p.servers), op: op, start: start})
}

func (s *Session) splitOp(ci *commandInfo) mergeOp {
	op, _ := opOf(ci.merge)
	return op
}

// dispatch enqueues each server's group on the session's connection to it.
func (s *Session) dispatch() {
	for srv, g := range s.groups {
		if len(g) == 0 {
			continue
		}
		c, err := s.p.servers[srv].Pick(s.hint)
		if err != nil {
			for _, r := range g {
				r.Fail(err)
			}
		} else {
			c.Enqueue(g...)
		}
		clear(g)
		s.groups[srv] = g[:0]
	}
}

// write waits for each item's requests in order and writes its reply.
func (s *Session) write(conn redcon.Conn) {
	for i := range s.items {
		it := &s.items[i]
		var res result
		switch it.kind {
		case itemLocal:
			b := s.out[it.lo:it.hi]
			conn.WriteRaw(b)
			res = replyResult(b)
		case itemForward:
			r := s.reqs[it.first]
			r.Wait()
			if r.Err != nil {
				conn.WriteError("ERR " + r.Err.Error())
				res = resultProxyError
			} else {
				conn.WriteRaw(r.Reply)
				res = replyResult(r.Reply)
			}
		case itemMerge:
			for j := it.first; j < it.first+it.n; j++ {
				s.reqs[j].Wait()
			}
			var b []byte
			b, res = s.merge(it)
			conn.WriteRaw(b)
		}
		s.p.stats.command(it.ci, res, it.start, nanotime())
	}
	// Drop references to client memory held by this batch.
	for _, r := range s.reqs[:s.used] {
		r.Wire = nil
	}
}
