//go:build linux || freebsd || netbsd || openbsd || dragonfly || solaris

package router

import "syscall"

// socketCloexec opens a TCP socket that a child process does not inherit,
// atomically (SOCK_CLOEXEC).
func socketCloexec(family int) (int, error) {
	return syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
}
