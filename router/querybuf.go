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
// redis-server 7.0.15). queryBufModel follows that allocation; the guard
// reads an inline line no faster than Redis would (guardConn.inlineRoom),
// walks the bytes each scan goes through through the reads Redis would
// make of them, and judges the line where one of those reads ends
// (guardConn.inlineScanned). TestInlineLinesMatchReference holds this to a
// transcription of Redis's read loop over random chunkings, and
// TestInlineQueryBufferMatchesRedis to redis-server itself.
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
	alloc  int64 // sdsalloc of the query buffer
	left   int64 // bytes the read in progress may still take; 0 between reads
	peakAt int64 // when a read last filled half the buffer (now)
	readAt int64 // the last read (now)

	clock func() int64 // tests: the time, instead of nowNanos
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

// now is the model's time.
func (m *queryBufModel) now() int64 {
	if m.clock != nil {
		return m.clock()
	}
	return nowNanos()
}

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
	if now-m.readAt > cronIdle || (m.alloc > protoResizeThreshold && now-m.peakAt > cronPeriod) {
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
		m.peakAt = now // Redis sets the peak to what it just made room for
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
	m.left, m.readAt = 0, now
	if 2*qblen >= m.alloc {
		m.peakAt = now
	}
}

// bigArg records an argument of n bytes (at least bigArg) taken whole: the
// client's new query buffer is made for exactly such an argument.
func (m *queryBufModel) bigArg(n int64) {
	now := m.now()
	m.alloc, m.left, m.peakAt, m.readAt = sdsAlloc(n+2), 0, now, now
}

// inlineRoom returns how much the guard reads of an unfinished inline line
// at once: what the read Redis would be making has left, starting one if
// none is in progress, but no more than the line holds so far (at least 64
// KB), so that the guard's buffer grows with what arrives, not with what
// Redis's buffer could take. A read that fills its room then continues
// Redis's read instead of ending it (inlineAccount).
func (c *guardConn) inlineRoom() int {
	qb := &c.sc.qb
	if qb.left <= 0 {
		qb.startRead(qb.now(), c.sc.line)
	}
	return int(min(qb.left, max(64<<10, c.sc.line)))
}

// inlineAccount follows k more bytes of an inline line, which a scan has
// just gone through, through the reads Redis would have made of them, and
// reports whether Redis would have refused the line: a read of its that
// ended with more than maxLine of the line and not its '\n' (the k bytes
// include the '\n' when done). line0 is how much of the line came before
// them; started says the line began with them, in a read whose first
// before bytes were commands ahead of it; full says the read that brought
// them filled its room, so that the socket may hold more (Redis's read then
// goes on, and the line is not judged yet).
func (c *guardConn) inlineAccount(k, line0, before int64, started, done, full bool) bool {
	qb := &c.sc.qb
	now, held := qb.now(), line0
	switch {
	case started:
		// The read began with before bytes of the commands ahead of
		// the line (Redis has taken them out of its buffer by its next
		// read).
		qb.left = max(qb.startRead(now, 0)-before, 0)
		c.sc.inlineOpen = false
	case c.waited && c.sc.inlineOpen:
		// The read waited for these bytes: Redis's read before them ended
		// when the socket was empty, and was judged there.
		if c.endInlineRead(held) {
			return true
		}
		qb.startRead(now, held)
	}
	for rem := k; ; {
		if qb.left <= 0 {
			qb.startRead(now, held)
		}
		take := min(qb.left, rem)
		held, rem, qb.left = held+take, rem-take, qb.left-take
		if rem == 0 {
			break
		}
		// Redis's read ended with more of the line to come.
		if c.endInlineRead(held) {
			return true
		}
	}
	if done || !full || qb.left == 0 {
		return c.endInlineRead(held) && !done
	}
	c.sc.inlineOpen = true
	return false
}

// inlineDrained is told that the socket is empty while Redis's read of an
// unfinished inline line was still going on: that read ends here, and the
// line is judged. It reports whether the line was refused.
func (c *guardConn) inlineDrained() bool {
	if !c.sc.inlineOpen || !c.endInlineRead(c.sc.line) {
		return false
	}
	c.sc.msg = errTooBigInline
	c.refuse(vProtocol)
	c.pend = c.pend[:0]
	return true
}

// endInlineRead ends the read Redis is making of an unfinished inline
// line, holding held bytes of it, and reports whether Redis refuses the
// line there (when the bytes do not include its '\n').
func (c *guardConn) endInlineRead(held int64) bool {
	c.sc.qb.endRead(c.sc.qb.now(), held)
	c.sc.inlineOpen = false
	return held > c.sc.lim.maxLine
}

const errTooBigInline = "Protocol error: too big inline request"

// inlineScanned accounts what a scan did to an inline line (inlineAccount)
// and returns the scan's verdict, vProtocol instead when Redis would have
// refused the line. line0 is how much of the line came before the scan,
// -1 when none: a line, if any, began in the scan, before bytes into the
// read that brought it (the scanner stops before a line that follows
// other commands, and the guard scans it once they are delivered). full
// says the read that brought the bytes filled its room.
func (c *guardConn) inlineScanned(v scanVerdict, line0, before int64, full bool) scanVerdict {
	started := line0 < 0
	var k int64
	switch {
	case v == vInline && started:
		k = c.sc.line + 1
		if k <= protoIOBufLen {
			return v // within Redis's first read: nothing to judge
		}
	case v == vInline:
		k = c.sc.line + 1 - line0
	case v == vOK && c.sc.inInline():
		k = c.sc.line - max(line0, 0)
	default:
		return v
	}
	if c.inlineAccount(k, max(line0, 0), before, started, v == vInline, full) {
		c.sc.msg = errTooBigInline
		return vProtocol
	}
	return v
}
