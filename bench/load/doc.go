// Package load owns the harness's own load generators: a minimal RESP
// client that writes raw SET pipelines on one connection and checks every
// reply, used for the batch-size table, the sequential-versus-pipelined
// latency table, the 1,000,000-command streaming pipeline and the idle
// connection count.
//
// Trade-off: it speaks only what those measurements need (commands as
// arrays of bulk strings, replies parsed and discarded) so that the client
// costs as little CPU as possible on a shared two-core box; it is not a
// general Redis client.
package load
