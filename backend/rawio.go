package backend

import "errors"

// ErrWouldBlock is RawIO.ReadFD's answer when the socket has nothing to
// read.
var ErrWouldBlock = errors.New("read would block")
