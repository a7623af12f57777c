//go:build darwin || aix

package router

import "syscall"

// socketCloexec opens a TCP socket that a child process does not inherit.
// These systems have no SOCK_CLOEXEC: the flag is set right after socket(2),
// under syscall.ForkLock so that no fork happens in between (as package net
// does).
func socketCloexec(family int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(fd)
	return fd, nil
}
