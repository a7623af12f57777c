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

	deadline int64 // unix nanoseconds; set by Enqueue
	sent     int64 // unix nanoseconds; set by the writer
	done     chan struct{}
}

// NewRequest returns an empty request ready to be filled and enqueued.
func NewRequest() *Request {
	return &Request{done: make(chan struct{}, 1)}
}

// Reset clears the request for reuse, keeping its buffers.
func (r *Request) Reset() {
	r.Wire = nil
	r.Skip = 0
	r.Reply = r.Reply[:0]
	r.Err = nil
}

// Wait blocks until the request completes. It must be called exactly once
// per Enqueue.
func (r *Request) Wait() { <-r.done }

// complete hands the request back to its creator.
func (r *Request) complete(err *Error) {
	r.Err = err
	r.done <- struct{}{}
}

// Fail completes a request that was never enqueued with err, so that code
// waiting on a set of requests can treat it like any other.
func (r *Request) Fail(err *Error) { r.complete(err) }
