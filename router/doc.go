// Package router is the proxy itself: it accepts clients, turns each command
// into requests to backend servers and writes the replies back in order.
//
// # Reading the data path
//
// Follow one client batch through the files in this order.
//
//   - proxy.go: New builds a Pool per configured pool (its topology, its
//     listener, its metrics); Serve runs each pool's client server.
//     accept creates a Session per client.
//   - server.go: the client server (redcon stays the codec): one goroutine
//     per client hands its Session every batch parsed from one read (the
//     first command plus the rest of the pipeline). cmdreader.go parses
//     with redcon's ReadNextCommand in place: a command is a view of the
//     read buffer, never a copy, and parsing allocates nothing. The reader
//     is lent from a pool only while the client has input.
//   - serveraw.go: on Linux a client is served inside one RawConn.Read
//     callback: an idle client waits without a buffer, and after a short
//     read without asking the socket again, so an unpipelined request costs
//     one read(2) and one write(2). Other goroutines shut a client's socket
//     down (guardConn.shut) instead of closing it, and its own goroutine
//     closes it.
//   - listen.go, listen_unix.go, socket_*.go: how the listener is bound
//     (nutcracker's backlog and unix socket permissions).
//   - guard.go: every client socket is wrapped in a guardConn before the
//     command reader reads it. It enforces Redis's protocol limits and
//     hands the reader whole commands only, so its buffer stays bounded
//     under long pipelines. inline.go: it splits inline commands as Redis
//     does and hands the reader multibulk frames only.
//   - session.go: Session.serve is one batch. It loads the pool's topology
//     once (a split and its merge must see the same servers), then add
//     classifies each command through the command table (package command:
//     Lookup, Classify, AppendKeyIndexes) into an item: a local reply, one
//     forwarded request, or a merge of several requests. Requests are
//     grouped by server and dispatched, one Enqueue per server and batch;
//     write then waits for each item in order and writes its reply, so
//     replies can never overtake each other.
//   - topology.go, ring.go, cluster.go: where keys live. topology is the
//     interface the session and the pool consume: part (ring index or hash
//     slot) of a key, the server of a part, the shards for fan-out. ringTopo
//     places keys on a consistent-hash ring of standalone servers and is
//     replaced whole on reload; clusterTopo asks backend.Cluster's slot map
//     and also follows MOVED/ASK/TRYAGAIN (Session.settle) while the session
//     writes replies in order.
//   - merge.go, scan.go, info.go: how the replies of a split or fanned-out
//     command become one: MGET's arrays back in key order, integer sums,
//     +OK once all agree, SCAN's composite cursor, INFO's keyspace sum.
//   - local.go: the commands the proxy answers itself (PING, SELECT, HELLO,
//     CLIENT, COMMAND, ...), in Redis's reply shapes and error
//     texts.
//   - observe.go: backend metrics (backendObserver) and the latency summary
//     INFO shows; the result of each command (OK, Redis error, proxy error)
//     is set where its reply is made and counted by poolStats in proxy.go.
//   - reload.go: Reload builds every changed topology aside, swaps them in
//     atomically and retires the servers no longer used once in-flight
//     requests have had time to finish.
//
// Below the router, package backend owns the server connections (a writer
// and a reader goroutine per connection, requests matched to replies by
// position), package resp the protocol codec and package command the command
// table.
//
//   - resp3.go, tracking.go: what a RESP3 client (HELLO 3) gets. Its
//     requests go to each server's second set of shared connections, which
//     said HELLO 3 (backend.Server.PickProto), so backend replies are what
//     redis-server sends a RESP3 client, byte for byte; tracking.go is
//     CLIENT TRACKING on top of them.
//
// # RESP3 from backends: a second set of connections, not a converter
//
// A RESP2 reply does not say which array is a map (HGETALL, CONFIG GET,
// XINFO), which is a set (SMEMBERS), which bulk string a double (ZSCORE),
// a verbatim string (INFO) or a big number (a script's); converting needs
// each command's reply schema, and scripts' and modules' are not known
// ahead. So each server keeps a second set of shared connections for RESP3
// clients, started when the first one needs it: its cost is one more
// connection per server connection slot, and nothing per request (the
// session copies the reply as it is, where it used to rewrite RESP2 nulls
// for RESP3 clients: BenchmarkAppendRESP3, 147 ns for a 6-element MGET
// reply vs 3 ns for the copy). Through 3 real shards, pipelines of 16
// (BenchmarkRESP3Path, busy 2-core machine, 3 runs each, noise larger than
// any difference): GET 9.7-16 vs 6.5-7.7 us per 16, HGETALL 8.1-27 vs
// 8.8-9.4, ZSCORE 7.0-8.9 vs 7.3-41, MGET of 6 keys 24-40 vs 12-58 (RESP2
// vs RESP3): no cost of the RESP3 path is measurable here. redis-benchmark
// (-c 20 -P 16, one shard, twice each) through the proxy: GET 203k/234k
// req/s with RESP2, 256k/227k with -3; HGETALL of 2 fields 214k/200k vs
// 201k/180k: the same within the noise. The merges read
// both protocols (integers, arrays and errors are the same; MGET elements
// may be '_'; INFO bodies are verbatim strings, resp.TextValue).
//
// # Trade-off
//
// A batch is the unit of work: everything a client pipelined in one read is
// classified, grouped by server and sent together, and the replies are
// written with one flush. That buys few system calls per command under
// pipelining, and costs an unpipelined client a goroutine hand-off per
// command to the backend connection's writer and back. Sockets are read
// and written with raw system calls on Linux (backend.RawIO, guard.go's
// read, trywrite_unix.go), which keeps the proxy on one thread at -P 1.
package router
