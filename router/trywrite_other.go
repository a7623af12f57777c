//go:build !unix

package router

import "syscall"

// tryWrite writes nothing where non-blocking writes are not available: the
// flusher goroutine writes everything.
func tryWrite(rc syscall.RawConn, b []byte) (int, error) { return 0, nil }
