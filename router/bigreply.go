package router

import "github.com/shardproxy/shardproxy/backend"

// Large replies: a GET of a 512 MB value.
//
// The backend reader reads a bulk reply into a buffer of exactly its size
// (resp.ReadReply). A small reply is then copied into the batch's output
// and, if the client does not take it at once, into the writer's queue; for
// a reply of bigValue or more those two copies would triple the value. So
// the reply's buffer itself goes to the writer (writeOwned): what the socket
// does not take at once is queued without a copy, and the buffer is let go
// as soon as it has been written.

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

// writeOwned is write for a large buffer that the writer takes over: b is
// queued as it is instead of being copied, and must not be touched by the
// caller afterwards (see send).
func (w *clientWriter) writeOwned(b []byte) { w.send(b, true) }

// dropQueue frees the pending output, reporting the large blocks in it.
func (w *clientWriter) dropQueue() {
	w.mu.Lock()
	big := bigBytes(w.q.blocks)
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

// bigBytes returns the size of the blocks a writer took over (writeOwned),
// for the memReturner.
func bigBytes(blocks [][]byte) int {
	n := 0
	for _, b := range blocks {
		if cap(b) > outBlock {
			n += cap(b)
		}
	}
	return n
}
