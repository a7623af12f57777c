// Package harness owns one side-by-side benchmark run: it starts three
// redis-server shards, twemproxy (nutcracker) and shardproxy with the same
// ketama pool on loopback, drives them with redis-benchmark and the load
// package's generators, samples CPU and memory from /proc, and returns
// report.Results.
//
// Trade-off: everything shares one machine, so absolute numbers depend on
// the box; the harness interleaves the targets round by round (direct,
// twemproxy, shardproxy, for each test) so that drift in the machine's
// load hits all three alike, and reports medians and CPU per request
// rather than a single best run.
package harness
