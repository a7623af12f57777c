//go:build !unix

package router

import "syscall"

// rawWriter writes nothing where non-blocking writes are not available:
// the flusher goroutine writes everything.
type rawWriter struct{}

func newRawWriter(syscall.RawConn) *rawWriter { return &rawWriter{} }

func (w *rawWriter) tryWrite([]byte) (int, error) { return 0, nil }
