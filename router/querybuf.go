package router

import (
	"math/bits"
	"time"
)

// How long an inline line may be depends, in Redis 7.0, on how much its
// read(2) calls take at once, and that depends on the allocation of the
// client's query buffer: readQueryFromClient reads 16 KB into a small
// buffer, and everything the buffer has room for into a grown one (growing
// it greedily, to twice what it needs, when less than 16 KB is free).
// processInlineBuffer refuses a line once a read ends with more than 64 KB
// of it and no '\n'. So a fresh connection gets lines of up to 81,910
// bytes through when they arrive at once, a connection that has just sent
// a 100,000-byte argument gets 114,678, and one whose line started with
// 7,000 bytes that arrived alone gets 131,062 (all three measured against
// redis-server 7.0.15). queryBufModel follows that allocation, and the
// guard sizes its reads of an inline line as Redis would size its reads
// (guardConn.inlineRoom), so that a line is judged where Redis judges it.
//
// What changes the allocation, as modelled:
//   - reading an inline line (the sds rules of sdsMakeRoomFor and
//     sdsMakeRoomForNonGreedy, with jemalloc's size classes);
//   - an argument of 32 KB or more: Redis takes the whole buffer as the
//     argument's object and gives the client a new one of exactly that
//     size (processMultibulkBuffer);
//   - clientsCron, which shrinks a buffer of more than 32 KB to what it
//     holds once a whole cron period (100 ms at hz 10) has passed without a
//     read filling half of it, and any buffer after 2 s without input.
//     Redis's cron runs at a phase the proxy cannot see, so Redis shrinks
//     the buffer between 100 and 200 ms after such a read; the model takes
//     the 100 ms Redis always grants.
//
// Not modelled: multibulk commands smaller than 32 KB per argument, whose
// reading also grows Redis's buffer for a while, and an argument of 32 KB
// or more that arrived in the same read as the commands after it (Redis
// then copies it and keeps its buffer). Either only matters for an inline
// line of more than 64 KB sent right after such a command.
type queryBufModel struct {
	alloc int64 // sdsalloc of the query buffer
	left  int64 // bytes the read in progress may still take; 0 between reads
	held  int64 // when a read last filled half the buffer (nowNanos)
	last  int64 // the last read (nowNanos)
}

// Redis 7.0's constants for the query buffer.
const (
	protoIOBufLen        = 16 << 10 // PROTO_IOBUF_LEN: a read of a small buffer
	protoResizeThreshold = 32 << 10 // PROTO_RESIZE_THRESHOLD: clientsCron leaves smaller buffers be
	sdsMaxPrealloc       = 1 << 20  // SDS_MAX_PREALLOC: greedy growth adds at most this
	cronPeriod           = int64(100 * time.Millisecond)
	cronIdle             = int64(2 * time.Second) // clientsCron frees the room of a client idle longer
)

var nanosBase = time.Now()

// nowNanos is a monotonic clock for the model.
func nowNanos() int64 { return int64(time.Since(nanosBase)) }

// jemallocSize is the size class jemalloc 5 serves a request of n bytes
// from: multiples of 16 up to 128, then four classes per doubling.
func jemallocSize(n int64) int64 {
	if n <= 8 {
		return 8
	}
	if n <= 128 {
		return (n + 15) &^ 15
	}
	delta := int64(1) << (bits.Len64(uint64(n-1)) - 3)
	return (n + delta - 1) / delta * delta
}

// sdsAlloc is the allocation Redis records for an sds string made or grown
// to hold n bytes: the size class less the header and the terminating NUL,
// at most what the header's type can record.
func sdsAlloc(n int64) int64 {
	var hdr, most int64
	switch {
	case n < 1<<8:
		hdr, most = 3, 1<<8-1
	case n < 1<<16:
		hdr, most = 5, 1<<16-1
	case n < 1<<32:
		hdr, most = 9, 1<<32-1
	default:
		hdr, most = 17, 1<<63-1
	}
	return min(jemallocSize(hdr+n+1)-hdr-1, most)
}

// cron applies clientsCronResizeQueryBuffer for a buffer holding qblen
// bytes, as of now.
func (m *queryBufModel) cron(now, qblen int64) {
	if m.alloc-qblen <= 4<<10 {
		return
	}
	if now-m.last > cronIdle || (m.alloc > protoResizeThreshold && now-m.held > cronPeriod) {
		m.alloc = qblen // sdsResize records exactly the size asked for
	}
}

// startRead is readQueryFromClient's sizing of a read for a buffer holding
// qblen bytes: it grows the buffer as Redis would and returns how much the
// read takes at most.
func (m *queryBufModel) startRead(now, qblen int64) int64 {
	m.cron(now, qblen)
	if m.alloc < protoIOBufLen {
		if m.alloc-qblen < protoIOBufLen {
			m.alloc = sdsAlloc(qblen + protoIOBufLen)
		}
		m.held = now // Redis sets the peak to what it just made room for
		m.left = protoIOBufLen
		return m.left
	}
	if m.alloc-qblen < protoIOBufLen {
		n := qblen + protoIOBufLen
		if n < sdsMaxPrealloc {
			n *= 2
		} else {
			n += sdsMaxPrealloc
		}
		m.alloc = sdsAlloc(n)
	}
	m.left = m.alloc - qblen
	return m.left
}

// endRead records that the read in progress ended with qblen bytes held.
func (m *queryBufModel) endRead(now, qblen int64) {
	m.left, m.last = 0, now
	if 2*qblen >= m.alloc {
		m.held = now
	}
}

// bigArg records an argument of n bytes (at least bigArg) taken whole: the
// client's new query buffer is made for exactly such an argument.
func (m *queryBufModel) bigArg(n int64) {
	now := nowNanos()
	m.alloc, m.left, m.held, m.last = sdsAlloc(n+2), 0, now, now
}

// inlineRoom returns how much the guard reads of an unfinished inline line
// at once: what the read Redis would be making has left, starting one if
// none is in progress, but no more than the line holds so far (at least 64
// KB), so that the guard's buffer grows with what arrives, not with what
// Redis's buffer could take. A read that fills its room then continues
// Redis's read instead of ending it (inlineRead).
func (c *guardConn) inlineRoom() int {
	qb := &c.sc.qb
	if qb.left == 0 {
		qb.startRead(nowNanos(), c.sc.line)
	}
	return int(min(qb.left, max(64<<10, c.sc.line)))
}

// inlineRead accounts a read of m bytes of an unfinished inline line into
// room bytes: Redis's read ends when the socket had less than the room,
// or when it has taken all it could; else it goes on with the next read,
// and the line is not judged yet. A read that had to wait for its bytes
// does not go on with the read before it: that one ended when the socket
// was empty, and is judged first (true: the line is refused, and the bytes
// just read with it).
func (c *guardConn) inlineRead(m, room int) bool {
	qb := &c.sc.qb
	if c.waited && c.sc.inlineOpen {
		if c.inlineDrained() {
			return true
		}
		qb.startRead(nowNanos(), c.sc.line)
	}
	qb.left -= int64(m)
	c.sc.inlineOpen = m == room && qb.left > 0
	if !c.sc.inlineOpen {
		qb.endRead(nowNanos(), c.sc.line+int64(m))
	}
	return false
}

// inlineStarted accounts the read of m bytes into room bytes in which an
// inline line started and did not end: the read Redis would make from the
// start of such a read goes on if the socket may hold more.
func (c *guardConn) inlineStarted(m, room int) {
	qb, now := &c.sc.qb, nowNanos()
	r := qb.startRead(now, 0)
	c.sc.inlineOpen = m == room && r > int64(m)
	if c.sc.inlineOpen {
		qb.left = r - int64(m)
	} else {
		qb.endRead(now, c.sc.line)
	}
}

// inlineDrained is told that the socket is empty while Redis's read of an
// unfinished inline line was still going on: that read ends here, and the
// line is judged. It reports whether the line was refused.
func (c *guardConn) inlineDrained() bool {
	if !c.sc.inlineOpen {
		return false
	}
	c.sc.qb.endRead(nowNanos(), c.sc.line)
	c.sc.inlineOpen = false
	if c.sc.line <= c.sc.lim.maxLine {
		return false
	}
	c.sc.msg = "Protocol error: too big inline request"
	c.refuse(vProtocol)
	c.pend = c.pend[:0]
	return true
}

// inlineDone ends, with the line, a read of it that was still going on.
func (c *guardConn) inlineDone() {
	if c.sc.inlineOpen {
		c.sc.qb.endRead(nowNanos(), c.sc.line)
	}
	c.sc.inlineOpen = false
}
