// Package harness owns one side-by-side benchmark run: it starts three
// redis-server shards, twemproxy (nutcracker, with default flags and again
// with -v 4) and shardproxy with the same ketama pool on loopback, drives
// them with redis-benchmark and the load package's generators, samples CPU
// and memory from /proc, and returns report.Results.
//
// Trade-off: everything shares one machine, so absolute numbers depend on
// the box; the harness interleaves the targets round by round (direct,
// twemproxy, twemproxy -v 4, shardproxy, for each test; each round starts
// one target further along) so that drift in the machine's load hits all
// of them alike, and reports medians, round-by-round ratios and CPU per
// request rather than a single best run.
package harness
