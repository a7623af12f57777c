package backend

import (
	"errors"
	"fmt"
	"time"
)

// ErrorKind says how a backend request failed. The kinds double as metric
// label values, so they are few and fixed.
type ErrorKind uint8

const (
	// KindConnect means the request was never sent: no connection to the
	// server could be made.
	KindConnect ErrorKind = iota
	// KindTimeout means no reply came in time; the outcome is unknown.
	KindTimeout
	// KindClosed means the connection broke while the request was queued or
	// in flight; the outcome is unknown.
	KindClosed
	// KindProtocol means the server sent something that is not RESP.
	KindProtocol
	// KindOverload means the connection's queue was full; never sent.
	KindOverload
)

// String returns the kind's metric label value.
func (k ErrorKind) String() string {
	switch k {
	case KindConnect:
		return "connect"
	case KindTimeout:
		return "timeout"
	case KindClosed:
		return "closed"
	case KindProtocol:
		return "protocol"
	case KindOverload:
		return "overload"
	}
	return "unknown"
}

// Error is the error of a request that got no reply from its server. Its
// text is the one clients see after "ERR " (see DESIGN.md, "Errors users see").
type Error struct {
	Server  string // the server's name
	Kind    ErrorKind
	Timeout time.Duration // for KindTimeout
	Cause   error
}

// Error implements error with the stable client-facing texts.
func (e *Error) Error() string {
	if e.Kind == KindTimeout {
		return fmt.Sprintf("backend %s timed out after %s", e.Server, e.Timeout)
	}
	cause := "unknown error"
	if e.Cause != nil {
		cause = e.Cause.Error()
	}
	return fmt.Sprintf("backend %s unavailable: %s", e.Server, cause)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

var (
	// ErrQueueFull is the cause when a connection's request queue is full.
	ErrQueueFull = errors.New("request queue full")
	// ErrServerClosed is the cause after Server.Close (shutdown, or a
	// cluster node that left the slot map).
	ErrServerClosed = errors.New("connection closed by the proxy")
	// ErrReplyDropped is the cause when a reply arrived but the request's
	// Sink refused it: the client is over its output buffer limit.
	ErrReplyDropped = errors.New("reply dropped: client output buffer limit reached")
	// ErrNotConnected is the cause before the first connection attempt ended.
	ErrNotConnected = errors.New("not connected yet")
)
