//go:build !linux

package backend

import "net"

// RawIO is raw socket I/O (rawio_linux.go); elsewhere sockets are read and
// written through net.Conn and NewRawIO returns nil.
type RawIO struct{ net.Conn }

// NewRawIO returns nil: there is no raw I/O on this platform.
func NewRawIO(net.Conn) *RawIO { return nil }
