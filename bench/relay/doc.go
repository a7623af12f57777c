// Package relay owns the delay relay the benchmark harness puts between a
// client and a proxy to emulate network round trips on loopback, where the
// kernel offers no netem.
//
// Trade-off: the delay is applied per chunk read from a socket, not per
// packet; to hit sub-millisecond delays a writer spins (yielding) for the
// last few milliseconds before a chunk is due, which costs CPU while
// chunks are in flight. Order is exact:
// each direction is a FIFO, and a chunk is written only after every chunk
// read before it.
package relay
