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
//
// On Linux the shared connections, and the router's client sockets, read
// and write through RawIO: the runtime's poller still parks a goroutine
// until its socket is ready, but read(2) and write(2) are raw system calls
// the scheduler is not told about, so a thread the kernel preempts inside
// a write keeps its P instead of the runtime's monitor handing it to a
// second thread. At -P 1 on 2 busy cores that cut the proxy's CPU per
// request by about a tenth (bench/results/2026-12-01-raw/). RawIO.Serve
// runs a whole client session inside one poller callback (the router's
// serveraw.go), with ReadFD for its reads and Shutdown for other
// goroutines, which must not Close a socket while the callback runs.
//
// High availability for ring pools lives here too. A Sentinel watcher
// follows master names and believes a new address only when a majority of
// the configured sentinels report it (one lying or partitioned sentinel
// cannot move a shard); SentinelShards keeps one Server per master name and
// moves it to the new address in place (Server.SetAddr), so a hash ring
// over the names never moves a key. Requests already written to the old
// master are answered by it or fail; they are never retried, because a
// write may have happened. An Ejector implements nutcracker's
// auto_eject_hosts for cache pools.
//
// A Dedicated connection is the other kind: handed out by Server.Dedicate
// to one client session (transactions, blocking commands),
// never shared, with no goroutines of its own (the session writes and reads
// on it directly) and a deadline per request, so that BLPOP's legitimate
// wait is neither a timeout nor a failure. The Server tracks the ones it
// handed out and closes them on Close (shutdown, a reload or slot map that
// drops the server).
//
// A Subscriber (Server.Subscribe) is the third kind: one pub/sub connection
// per server owned by the proxy, not by a client, carrying the SUBSCRIBEs
// the router's reference counts ask for. It reconnects with backoff and
// hands each new connection to its SubHandler to be subscribed again; its
// reader delivers pushes to the handler and calls Flush when the input is
// drained, so that a burst of messages is written to each client at once.
//
// Replies are taken off a shared connection as soon as they arrive, whatever
// the client does with them: a Request's ReplySink charges each reply to the
// client's output buffer, and drops it once that client is over its limit,
// so a client that stops reading never holds up the others.
package backend
