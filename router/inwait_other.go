//go:build !linux

package router

import "net"

// readWaiter waits for input without a buffer on Linux only; elsewhere a
// client keeps its read buffers while idle.
type readWaiter struct{}

func newReadWaiter(net.Conn) *readWaiter { return nil }

func (w *readWaiter) wait() error { return nil }
