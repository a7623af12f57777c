//go:build !unix

package router

import "net"

// listenBacklog listens with the system's default backlog: outside Unix-like
// systems the proxy does not build sockets by hand, and `backlog` does not
// apply.
func listenBacklog(addr string, _ int) (net.Listener, error) {
	return net.Listen("tcp", addr)
}
