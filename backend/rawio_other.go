//go:build !linux

package backend

import (
	"errors"
	"net"
)

// RawIO is raw socket I/O (rawio_linux.go); elsewhere sockets are read and
// written through net.Conn and NewRawIO returns nil.
type RawIO struct{ net.Conn }

// NewRawIO returns nil: there is no raw I/O on this platform.
func NewRawIO(net.Conn) *RawIO { return nil }

var errNoRawIO = errors.New("no raw socket I/O on this platform")

// Serve, ReadFD and Shutdown exist for the build only: with no RawIO there
// is nothing to call them on.
func (r *RawIO) Serve(func(fd uintptr) bool) error   { return errNoRawIO }
func (r *RawIO) ReadFD(uintptr, []byte) (int, error) { return 0, errNoRawIO }
func (r *RawIO) Shutdown() error                     { return errNoRawIO }
func (r *RawIO) ReadWaited() bool                    { return false }
