//go:build unix && !linux

package router

import "syscall"

// writeFD is one write(2), retried on EINTR.
func writeFD(fd uintptr, b []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), b)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
