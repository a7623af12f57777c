package backend

// Request is one unit of work for a server: the bytes to send and, once
// completed, the raw reply or an error.
//
// A Request is owned by its creator until it is handed to Conn.Enqueue, owned
// by the connection until it completes, and owned by the creator again after
// Wait returns. Completion happens exactly once per Enqueue; a Request may
// then be reset and reused.
type Request struct {
	// Wire is the RESP bytes to send: one command, or several sent back to
	// back (ASKING + command) when Skip > 0. The connection reads Wire only
	// until the request completes.
	Wire []byte
	// Skip is how many leading replies to read and drop before the one that
	// answers the request (for ASKING's +OK). An error among the skipped
	// replies becomes the reply.
	Skip int
	// Reply holds the raw RESP reply once Wait has returned and Err is nil.
	Reply []byte
	// Err is the reason the request got no reply; always a *Error.
	Err *Error
	// Buf is scratch space for the request's owner (to build Wire in),
	// kept across Reset so that a reused request does not allocate.
	Buf []byte
	// Sink, when not nil, is charged with the size of the reply as soon as
	// it has been read, before the request completes; the reply then counts
	// against the client's output buffer until Release. A Sink that refuses
	// the charge gets the reply dropped and the request completed with
	// ErrReplyDropped. Kept across Reset.
	Sink ReplySink

	charged  int    // bytes charged to Sink and not yet released
	deadline int64  // unix nanoseconds; set by Enqueue
	gen      uint64 // the connection's address generation; set by Enqueue
	sent     int64  // unix nanoseconds; set by the writer
	done     chan struct{}
}

// NewRequest returns an empty request ready to be filled and enqueued.
func NewRequest() *Request {
	return &Request{done: make(chan struct{}, 1)}
}

// ReplySink accounts reply bytes to the client that will receive them, so
// that replies taken off a shared connection count against that client's
// output buffer limit. Its methods are called from connection goroutines
// and must be cheap and safe for concurrent use.
type ReplySink interface {
	// Charge accounts n more bytes; false means the client is over its
	// limit or gone, and the reply is dropped.
	Charge(n int) bool
	// Release gives back n bytes charged earlier.
	Release(n int)
}

// Release gives the bytes of the reply charged to Sink back, once the owner
// has moved the reply on (into the client's output) or dropped it. It is
// idempotent; Reset calls it.
func (r *Request) Release() {
	if r.charged > 0 {
		r.Sink.Release(r.charged)
		r.charged = 0
	}
}

// charge accounts the reply just read to r.Sink; false when it was refused
// and the reply dropped.
func (r *Request) charge() bool {
	if r.Sink == nil {
		return true
	}
	if !r.Sink.Charge(len(r.Reply)) {
		r.Reply = r.Reply[:0]
		return false
	}
	r.charged = len(r.Reply)
	return true
}

// Reset clears the request for reuse, keeping its buffers.
func (r *Request) Reset() {
	r.Release()
	r.Wire = nil
	r.Skip = 0
	r.Reply = r.Reply[:0]
	r.Err = nil
}

// Wait blocks until the request completes. Per Enqueue, either Wait is
// called once or TryWait until it returns true.
func (r *Request) Wait() { <-r.done }

// TryWait reports, without blocking, whether the request has completed;
// once it has returned true the request is the owner's again, as after
// Wait.
func (r *Request) TryWait() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// complete hands the request back to its creator.
func (r *Request) complete(err *Error) {
	r.Err = err
	r.done <- struct{}{}
}

// Fail completes a request that was never enqueued with err, so that code
// waiting on a set of requests can treat it like any other.
func (r *Request) Fail(err *Error) { r.complete(err) }
