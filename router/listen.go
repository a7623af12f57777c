package router

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// listen binds addr ("host:port", or an absolute path for a unix socket)
// with the configured accept backlog. The standard library always uses the
// kernel's somaxconn, so TCP sockets are made by hand to honour `backlog`
// as nutcracker does (the kernel still caps it at net.core.somaxconn).
func listen(addr string, backlog int) (net.Listener, error) {
	if len(addr) > 0 && addr[0] == '/' {
		return net.Listen("unix", addr)
	}
	if backlog <= 0 {
		return net.Listen("tcp", addr)
	}
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	if ip4 := tcp.IP.To4(); ip4 != nil || tcp.IP == nil {
		a := &syscall.SockaddrInet4{Port: tcp.Port}
		if ip4 != nil {
			copy(a.Addr[:], ip4)
		}
		sa = a
	} else {
		family = syscall.AF_INET6
		a := &syscall.SockaddrInet6{Port: tcp.Port}
		copy(a.Addr[:], tcp.IP.To16())
		sa = a
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("setsockopt", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("listen", err)
	}
	f := os.NewFile(uintptr(fd), "tcp:"+addr)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listener for fd %s: %w", strconv.Itoa(fd), err)
	}
	return ln, nil
}
