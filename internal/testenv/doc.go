// Package testenv starts real servers for integration tests: redis-server,
// a Redis Cluster built with redis-cli, redis-sentinel, nutcracker
// (twemproxy) and Prometheus. Every server listens on a free 127.0.0.1 port,
// keeps its data and log in a t.TempDir, runs in its own process group and
// is killed in t.Cleanup.
//
// Trade-off: tests get real servers instead of fakes, so behaviour matches
// production (replies, errors, failover timing) at the price of a few tens
// of milliseconds per server and a dependency on installed binaries. A
// missing binary skips the test, except under CI=true where it fails, so a
// CI machine can never pass by skipping.
//
// Ports are probed and released before the server binds them, so another
// process can take a port in between; the helpers retry with a new port when
// a server reports "address already in use". On Linux each child also gets
// SIGKILL when the test binary dies (Pdeathsig), so even a test timeout,
// which skips t.Cleanup, leaves no server behind.
//
// Do sends a single command without any client handshake, for servers such
// as nutcracker that close the connection on the HELLO go-redis v9 sends.
//
// Methods that take no testing.TB report failures through the TB given to
// the Start function, so call them from the test goroutine only.
package testenv
