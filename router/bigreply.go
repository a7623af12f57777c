package router

import (
	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// Large replies: a GET of a 512 MB value.
//
// The backend reader reads a bulk reply into a buffer of exactly its size
// (resp.ReadReply). A small reply is then copied into the batch's output
// and, if the client does not take it at once, into the writer's queue; for
// a reply of bigValue or more those two copies would triple the value. So
// the reply's buffer itself goes to the writer (writeOwned): what the socket
// does not take at once is queued without a copy, and the buffer is let go
// as soon as it has been written.
//
// The same holds where a reply is not forwarded as it came: on the pinned
// path (EXEC's array holding a large value, a blocking command popping
// one: pinnedTake), and for MGET, whose reply the proxy merges from the
// shards' (bigMerge): the large elements go to the writer as views of the
// shards' reply buffers, between the small parts the proxy assembles, in
// order. Either way the request gives its reply buffer up, so that the
// session never reads a later reply into memory the writer still holds.

// bigReply sends r's reply on its own if it is a large one, after the
// replies before it, and reports whether it did. The request gives its
// reply buffer up.
func (s *Session) bigReply(r *backend.Request) bool {
	// RESP3 rewrites nulls inside aggregates; a bulk string is the same in
	// both.
	if len(r.Reply) < bigValue || s.proto == 3 && r.Reply[0] != '$' {
		return false
	}
	s.flush()
	// The writer charges what it queues; give the backend's charge back
	// first, so that the reply is not counted twice meanwhile.
	r.Release()
	b := r.Reply
	r.Reply = nil
	s.w.writeOwned(b)
	return true
}

// pinnedTake is pinnedRaw for the reply of r on the pinned path: a large
// one goes to the writer on its own, without a copy, after the replies
// before it, and r gives its reply buffer up.
func (s *Session) pinnedTake(ci *command.Info, start int64, r *backend.Request) {
	b := r.Reply
	if len(b) < bigValue {
		s.pinnedRaw(ci, start, b)
		return
	}
	s.pinnedFlush()
	r.Release()
	r.Reply = nil
	s.w.writeOwned(b)
	s.p.stats.command(ci, replyResult(b), start, nanotime())
}

// bigMerge sends the reply of an MGET item whose sub-replies hold a large
// element: the array header and the small elements assembled as usual,
// each large element on its own without a copy, in key order. It reports
// whether it did; anything unusual (an error, a malformed sub-reply) is
// left to merge.
func (s *Session) bigMerge(it *item) bool {
	if it.op != opArray {
		return false
	}
	reqs := s.reqs[it.first : it.first+it.n]
	total := 0
	for _, r := range reqs {
		if r.Err != nil || len(r.Reply) == 0 || r.Reply[0] != '*' {
			return false
		}
		total += len(r.Reply)
	}
	if total < bigValue {
		return false
	}
	next, ok := s.arrayElems(it, reqs)
	if !ok {
		clear(s.elems)
		return false
	}
	// The writer charges what it queues; give the backend's charge back
	// first, so that the replies are not counted twice meanwhile.
	for _, r := range reqs {
		r.Release()
	}
	s.wbuf = resp.AppendArrayHeader(s.wbuf, len(it.route))
	for _, j := range it.route {
		e := s.elems[next[j]]
		next[j]++
		switch {
		case len(e) >= bigValue:
			s.flush()
			s.w.writeOwned(e[:len(e):len(e)])
		case s.proto == 3:
			s.wbuf = appendRESP3(s.wbuf, e)
		default:
			s.wbuf = append(s.wbuf, e...)
		}
	}
	// The writer holds views of the reply buffers now: neither the
	// requests nor the scratch may keep them.
	for _, r := range reqs {
		r.Reply = nil
	}
	clear(s.elems)
	s.elems = s.elems[:0]
	return true
}

// writeOwned is write for a large buffer that the writer takes over: b is
// queued as it is instead of being copied, and must not be touched by the
// caller afterwards (see send).
func (w *clientWriter) writeOwned(b []byte) { w.send(b, true) }

// dropQueue frees the pending output, reporting its blocks to the
// memReturner.
func (w *clientWriter) dropQueue() {
	w.mu.Lock()
	big := blockBytes(w.q.blocks)
	w.q = outQueue{}
	w.mu.Unlock()
	w.p.mem.released(big)
}

// own queues b as a block of its own, without copying it. Its capacity is
// cut to its length so that later appends start a new block.
func (q *outQueue) own(b []byte) {
	q.blocks = append(q.blocks, b[:len(b):len(b)])
	q.n += len(b)
}

// blockBytes returns the size of output blocks let go, for the
// memReturner: the large blocks a writer took over (writeOwned), and the
// 64 KB blocks of a backlog. A backlog is memory of the same kind as a
// large value: 20 clients that pipeline GETs of a 100 KB value and read
// nothing leave 500 MB behind, which an idle proxy would keep for minutes.
func blockBytes(blocks [][]byte) int {
	n := 0
	for _, b := range blocks {
		n += cap(b)
	}
	return n
}
