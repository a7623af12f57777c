// Package backend owns the proxy's connections to Redis servers.
//
// A Server is one Redis address with a fixed number of multiplexed
// connections. Each connection (Conn) has a writer goroutine that drains a
// queue of Requests from many client sessions into one buffered write, and a
// reader goroutine that parses replies and completes the in-flight Requests in
// FIFO order. Replies are matched to requests by position only, so the
// connection is closed and replaced as soon as anything goes wrong (timeout,
// I/O error, protocol error): every request it still holds fails at once,
// and a late reply can never be handed to the wrong request.
//
// The trade-off is the one of implicit pipelining: a request may wait a
// little for the writer to pick it up together with others, in exchange for
// far fewer system calls per request under load. A slow command therefore
// delays every request queued behind it on the same connection; the
// per-request timeout bounds that delay.
package backend
