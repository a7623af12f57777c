package backend

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// SubHandler receives what a Subscriber's connection carries. Its methods
// are called from the subscriber's goroutine, one at a time.
type SubHandler interface {
	// Connected is called after each (re)connection, before any push of
	// it is read: the handler sends (Subscriber.Send) every subscription it
	// wants on the new connection.
	Connected(sb *Subscriber)
	// Push is called for every push the server sends: subscribe
	// confirmations and messages. args are the elements after the kind
	// ("message", "pmessage", "smessage", "subscribe", ...); raw is the
	// whole push as the server encoded it (RESP2). Both are valid only
	// during the call.
	Push(kind []byte, args [][]byte, raw []byte)
	// Flush is called when the pushes read so far have been handed to
	// Push and no more input is buffered: the handler writes what it
	// batched, so that a burst of messages costs each client one write.
	Flush()
	// Disconnected is called when a connection the handler saw connected
	// ends; subscriptions sent on it are gone.
	Disconnected(err error)
}

// SubErrorHandler is implemented by a SubHandler that wants the error
// replies the server sends on the subscriber connection (such as MOVED for
// an SSUBSCRIBE sent to a node that lost the slot). ErrorReply runs on the
// subscriber's goroutine; msg (without "-" and CRLF) is valid only during
// the call.
type SubErrorHandler interface {
	ErrorReply(msg []byte)
}

// ErrSubscriberDown is returned by Send while the subscriber has no
// connection; the handler resubscribes in Connected.
var ErrSubscriberDown = errors.New("subscriber connection down")

// Subscriber is a connection to one server in pub/sub mode, owned by the
// proxy and shared by every client session subscribed through it: the
// proxy keeps its own reference counts and sends one SUBSCRIBE per
// channel, however many clients listen. It reconnects with capped
// exponential backoff for as long as it is open, and hands each new
// connection to its handler to be subscribed again.
//
// Send may be called from any goroutine; the handler's methods run on the
// subscriber's own goroutine, which Close stops and waits for.
type Subscriber struct {
	s *Server
	h SubHandler

	mu     sync.Mutex
	nc     net.Conn // nil while down; guarded by mu
	closed bool     // guarded by mu
	done   chan struct{}
	wg     sync.WaitGroup
}

// Subscribe starts a subscriber connection to the server with handler h.
// It returns once the first connection attempt is over (bounded by the
// server's timeout), so that a server which is up subscribes at once.
func (s *Server) Subscribe(h SubHandler) *Subscriber {
	sb := &Subscriber{s: s, h: h, done: make(chan struct{})}
	first := make(chan struct{})
	sb.wg.Add(1)
	go sb.run(first)
	<-first
	return sb
}

// Server returns the server the subscriber is connected to.
func (sb *Subscriber) Server() *Server { return sb.s }

// Up reports whether the subscriber is connected.
func (sb *Subscriber) Up() bool {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return sb.nc != nil
}

// Send writes wire (SUBSCRIBE, UNSUBSCRIBE, ... commands) on the current
// connection, bounded by the server's timeout. A failure closes the
// connection; the subscriber reconnects and calls Connected again.
func (sb *Subscriber) Send(wire []byte) error {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if sb.nc == nil {
		return ErrSubscriberDown
	}
	sb.nc.SetWriteDeadline(time.Now().Add(sb.s.opts.Timeout))
	if _, err := sb.nc.Write(wire); err != nil {
		sb.nc.Close() // the reader sees it and reconnects
		return err
	}
	return nil
}

// Close stops the subscriber and waits for its goroutine. It is idempotent.
func (sb *Subscriber) Close() {
	sb.mu.Lock()
	if !sb.closed {
		sb.closed = true
		close(sb.done)
		if sb.nc != nil {
			sb.nc.Close()
		}
	}
	sb.mu.Unlock()
	sb.wg.Wait()
}

// run connects, serves, and reconnects until Close or the server closes.
func (sb *Subscriber) run(first chan struct{}) {
	defer sb.wg.Done()
	backoff := sb.s.opts.MinBackoff
	for {
		nc, br, err := sb.connect()
		if first != nil {
			close(first)
			first = nil
		}
		if err == nil {
			backoff = sb.s.opts.MinBackoff
			err = sb.serve(nc, br)
			sb.h.Disconnected(err)
			select {
			case <-sb.done:
				return
			default:
				sb.s.log.Warn("pub/sub connection lost", "error", err)
			}
		}
		select {
		case <-sb.done:
			return
		case <-sb.s.ctx.Done():
			return
		case <-time.After(backoff):
			backoff = min(2*backoff, sb.s.opts.MaxBackoff)
		}
	}
}

// connect dials and runs the handshake, and publishes the connection for
// Send; nil error means the handler's Connected has run.
func (sb *Subscriber) connect() (net.Conn, *bufio.Reader, error) {
	nc, err := sb.s.dial()
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(nc, 32<<10)
	if err := sb.s.handshake(nc, br, 2, false); err != nil {
		return nil, nil, err
	}
	sb.mu.Lock()
	if sb.closed {
		sb.mu.Unlock()
		nc.Close()
		return nil, nil, ErrServerClosed
	}
	sb.nc = nc
	sb.mu.Unlock()
	sb.h.Connected(sb)
	return nc, br, nil
}

// serve reads pushes until the connection fails.
func (sb *Subscriber) serve(nc net.Conn, br *bufio.Reader) error {
	defer func() {
		sb.mu.Lock()
		sb.nc = nil
		sb.mu.Unlock()
		nc.Close()
	}()
	var buf []byte
	var args [][]byte
	for {
		var err error
		buf, err = resp.ReadReply(br, buf[:0])
		if err != nil {
			sb.h.Flush()
			return err
		}
		var kind []byte
		kind, args = SplitPush(buf, args[:0])
		if kind == nil {
			// Not a push: a PING reply, or an error a (un)subscribe got
			// (MOVED from a cluster node that no longer owns the slot).
			if len(buf) > 0 && buf[0] == '-' {
				if eh, ok := sb.h.(SubErrorHandler); ok {
					eh.ErrorReply(buf[1 : len(buf)-2])
				}
			}
			continue
		}
		sb.h.Push(kind, args, buf)
		if br.Buffered() == 0 {
			sb.h.Flush()
		}
		if cap(buf) > 1<<20 {
			buf = nil // a huge message must not stay behind
		}
	}
}

// SplitPush returns the first and the other elements of a push: an array
// (RESP2) or push (RESP3) of bulk strings and integers, such as
// ["message", channel, payload] or a PUBSUB NUMSUB reply. The elements
// alias b. It returns a nil kind for anything else.
func SplitPush(b []byte, args [][]byte) ([]byte, [][]byte) {
	if len(b) < 4 || (b[0] != '*' && b[0] != '>') {
		return nil, args
	}
	i := indexCRLF(b, 0)
	if i < 0 {
		return nil, args
	}
	n, ok := resp.ParseInt(b[1:i])
	if !ok || n < 1 {
		return nil, args
	}
	pos := i + 2
	var kind []byte
	for k := int64(0); k < n; k++ {
		if pos >= len(b) {
			return nil, args
		}
		j := indexCRLF(b, pos)
		if j < 0 {
			return nil, args
		}
		var el []byte
		switch b[pos] {
		case '$':
			l, ok := resp.ParseInt(b[pos+1 : j])
			if !ok {
				return nil, args
			}
			if l < 0 {
				el, pos = nil, j+2
			} else {
				start := j + 2
				if start+int(l)+2 > len(b) {
					return nil, args
				}
				el, pos = b[start:start+int(l)], start+int(l)+2
			}
		case ':', '+':
			el, pos = b[pos+1:j], j+2
		default:
			return nil, args
		}
		if k == 0 {
			kind = el
		} else {
			args = append(args, el)
		}
	}
	if kind == nil {
		return nil, args
	}
	return kind, args
}

func indexCRLF(b []byte, from int) int {
	for i := from; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}
