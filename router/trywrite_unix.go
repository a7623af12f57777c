//go:build unix

package router

import "syscall"

// rawWriter makes one write(2) at a time on the non-blocking socket behind
// rc. Its callback is built once: a closure made per write, capturing its
// results, cost three allocations per reply. Not safe for concurrent use
// (netSocket's callers hold the clientWriter's lock).
type rawWriter struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool
	b    []byte
	n    int
	werr error
}

func newRawWriter(rc syscall.RawConn) *rawWriter {
	w := &rawWriter{rc: rc}
	w.fn = w.attempt
	return w
}

func (w *rawWriter) attempt(fd uintptr) bool {
	w.n, w.werr = writeFD(fd, w.b)
	return true // done, whatever happened: never wait for writability
}

// tryWrite makes one write(2): a full socket buffer (EAGAIN) is n < len(b)
// with a nil error, never a wait.
func (w *rawWriter) tryWrite(b []byte) (int, error) {
	w.b, w.n, w.werr = b, 0, nil
	err := w.rc.Write(w.fn)
	n, werr := w.n, w.werr
	w.b, w.werr = nil, nil
	if err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	if werr == syscall.EAGAIN {
		werr = nil
	}
	return n, werr
}
