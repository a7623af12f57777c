package router

import "github.com/shardproxy/shardproxy/backend"

// writeFD is one write(2) as a raw system call (backend.RawIO says why);
// n is -1 on an error, as syscall.Write gives it.
func writeFD(fd uintptr, b []byte) (int, error) {
	n, e := backend.RawWrite(fd, b)
	if e != 0 {
		return -1, e
	}
	return n, nil
}
