// Package resp is the proxy's one codec for the Redis protocol (RESP2 and
// RESP3): append helpers that encode replies and commands into a caller's
// buffer, a reader that takes one complete raw reply off a connection, walkers
// that look inside raw replies without decoding them, and a decoder into Go
// values for the few replies inspected off the hot path (CLUSTER SHARDS,
// test helpers).
//
// It also holds the two pieces of Redis's util.c that every layer needs to
// agree on: ParseInt, which is string2ll (the rules by which Redis itself
// accepts an integer argument: "SELECT 00" and "+1" are errors), and Match,
// which is stringmatchlen (the glob of KEYS, SCAN MATCH, CONFIG GET and
// COMMAND LIST FILTERBY PATTERN), with Redis's guard against exponential
// backtracking.
//
// Trade-off: the hot path never builds a tree. Raw replies are kept as the
// bytes that came off the wire and forwarded as they are; a reply is only
// walked (ValueLen, ArrayElems) when a merge needs its parts, and decoded
// (Decode) only where speed does not matter. The package is a leaf: it
// imports nothing of the proxy, so router, backend, command and the test
// helpers can all use it.
package resp
