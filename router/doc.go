// Package router is the proxy itself: it accepts clients, turns each command
// into requests to backend servers and writes the replies back in order.
//
// # Reading the data path
//
// Follow one client batch through the files in this order.
//
//   - proxy.go: New builds a Pool per configured pool (its topology, its
//     listener, its metrics); Serve runs redcon's server on each listener.
//     accept creates a Session per client; handle hands it every batch redcon
//     parsed from one read (the first command plus the rest of the
//     pipeline).
//   - listen.go, listen_unix.go, socket_*.go: how the listener is bound
//     (nutcracker's backlog and unix socket permissions).
//   - guard.go: every client socket is wrapped in a guardConn before redcon
//     reads it. It enforces Redis's protocol limits and hands redcon whole
//     commands only, so redcon's buffer stays bounded under long pipelines.
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
// # Trade-off
//
// A batch is the unit of work: everything a client pipelined in one read is
// classified, grouped by server and sent together, and the replies are
// written with one flush. That buys few system calls per command under
// pipelining, and costs an unpipelined client a goroutine hand-off per
// command to the backend connection's writer and back.
package router
