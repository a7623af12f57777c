// Package compat holds the client compatibility matrix: one workload
// (testdata/WORKLOAD.md, expected output in testdata/expected.txt) written
// once per client library, go-redis v9 (RESP2 and RESP3), redis-py, ioredis,
// node-redis, hiredis and redis-rb, and run by `go test` against one plain
// redis-server and through the proxy binary in front of three shards. Both
// runs must print the expected lines, so a client that sees any difference
// between Redis and the proxy (reply shapes, error texts, a pipeline's order,
// a reconnect after the proxy restarts) fails its row of the matrix.
//
// The package has no code outside its tests; each client's program lives in
// testdata/<runtime>/. Runtimes come from Debian packages (python3-redis,
// ruby-redis, libhiredis-dev, nodejs) and, for the two Node.js libraries,
// from npm with versions pinned in testdata/node/package-lock.json. A
// missing runtime skips its client, except under CI=true, where it fails.
//
// Trade-off: the workload covers what the proxy supports today (since issue
// 9: transactions and WATCH, blocking commands, pub/sub); features that land
// later add steps here when they do, so the matrix always states what works.
package compat
