package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// DefaultListen is the default address of the metrics endpoint
// (--metrics-listen): loopback only, since the endpoints are unauthenticated.
const DefaultListen = "127.0.0.1:9122"

// Server is a running HTTP server for Handler. Create it with Serve; stop it
// with Close or Shutdown. Its methods are safe for concurrent use.
type Server struct {
	srv  *http.Server
	addr string
	done chan struct{} // closed when the serve goroutine has returned

	stopOnce sync.Once
	stopErr  error
}

// Serve listens on addr synchronously, so the caller learns a bind error at
// once and, with port 0 ("127.0.0.1:0"), the chosen port through Addr, then
// serves h on a goroutine owned by the returned Server until Close or
// Shutdown. Unexpected serve errors are logged to log (nil means
// slog.Default()).
func Serve(addr string, h http.Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler: h,
			// No WriteTimeout: /debug/pprof/profile streams for as long as
			// its seconds parameter asks.
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", s.addr, "err", err)
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on, with the actual port.
func (s *Server) Addr() string { return s.addr }

// Close stops the server at once, closing open connections, and waits for
// its goroutine to return. It is idempotent: later calls (of Close or
// Shutdown) return the first result.
func (s *Server) Close() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.srv.Close()
		<-s.done
	})
	return s.stopErr
}

// Shutdown stops accepting connections and waits for in-flight requests to
// finish or ctx to end, whichever comes first; then it closes what is left
// and waits for the server's goroutine. Idempotent like Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopErr = s.srv.Shutdown(ctx)
		if s.stopErr != nil {
			_ = s.srv.Close()
		}
		<-s.done
	})
	return s.stopErr
}
