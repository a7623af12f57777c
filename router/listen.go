package router

import (
	"fmt"
	"net"
	"os"
)

// listen binds addr ("host:port", or an absolute path for a unix socket)
// with the configured accept backlog. A unix socket gets perm as its file
// mode when perm is not 0 (nutcracker's "listen: /path 0666"); otherwise the
// process umask decides. The standard library always uses the kernel's
// somaxconn, so on Unix-like systems TCP sockets are made by hand to honour
// `backlog` as nutcracker does (the kernel still caps it at
// net.core.somaxconn); elsewhere the system's default backlog applies.
func listen(addr string, backlog int, perm os.FileMode) (net.Listener, error) {
	if len(addr) > 0 && addr[0] == '/' {
		return listenUnix(addr, perm)
	}
	if backlog <= 0 {
		return net.Listen("tcp", addr)
	}
	return listenBacklog(addr, backlog)
}

// listenUnix binds a unix socket at path and gives it mode perm (unless 0).
func listenUnix(path string, perm os.FileMode) (net.Listener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if perm != 0 {
		if err := os.Chmod(path, perm); err != nil {
			ln.Close()
			return nil, fmt.Errorf("socket permission %#o: %w", uint32(perm), err)
		}
	}
	return ln, nil
}
