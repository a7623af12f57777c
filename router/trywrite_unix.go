//go:build unix

package router

import "syscall"

// tryWrite makes one write(2) on the non-blocking socket behind rc: a full
// socket buffer (EAGAIN) is n < len(b) with a nil error, never a wait.
func tryWrite(rc syscall.RawConn, b []byte) (int, error) {
	var n int
	var werr error
	err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), b)
			if werr != syscall.EINTR {
				break
			}
		}
		return true // done, whatever happened: never wait for writability
	})
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
