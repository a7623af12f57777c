package report

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shardproxy/shardproxy/bench/procstat"
)

// The targets compared. Shardproxy and Twemproxy run with default flags
// (what users run, and what the targets judge; for nutcracker that is what
// Debian's service runs, no options but the files and the stats address);
// ShardproxyProcs names a second shardproxy run with --procs n.
//
// TwemproxyV4 is nutcracker with -v 4 (log level warning), the baseline of
// the runs before 2026-12-01, kept beside the default so that the change is
// visible in one run. The level matters: at its default, 5, nutcracker
// prepares a log line for every request it completes (req_log: two clock
// reads, a getpeername(2) and a formatted peer address) whether or not the
// line is then written, and the Debian build does not write it.
const (
	Direct      = "direct"
	Twemproxy   = "twemproxy"
	TwemproxyV4 = "twemproxy -v 4"
	Shardproxy  = "shardproxy"
)

// procsPrefix starts the name of a shardproxy run with --procs.
const procsPrefix = Shardproxy + " --procs "

// ShardproxyProcs names the shardproxy target run with --procs n.
func ShardproxyProcs(n int) string { return procsPrefix + strconv.Itoa(n) }

// IsShardproxy reports whether target is a shardproxy run, default or not.
func IsShardproxy(target string) bool {
	return target == Shardproxy || strings.HasPrefix(target, procsPrefix)
}

// Abbrev is the short name of a target in table headers: d, t, t4, s,
// and s<n> for shardproxy --procs n.
func Abbrev(target string) string {
	switch {
	case target == Direct:
		return "d"
	case target == Twemproxy:
		return "t"
	case target == TwemproxyV4:
		return "t4"
	case target == Shardproxy:
		return "s"
	case strings.HasPrefix(target, procsPrefix):
		return "s" + strings.TrimPrefix(target, procsPrefix)
	}
	return target
}

// Sample is one redis-benchmark run of one test against one target.
type Sample struct {
	Target   string
	Test     string
	Pipeline int
	Round    int
	// Requests is the -n of the run.
	Requests int
	Row      BenchRow
	// CPU is the CPU time the measured process (the proxy, or the Redis
	// shard for the direct target) used during the run.
	CPU time.Duration
}

// Summary reduces the rounds of one (target, test, pipeline).
type Summary struct {
	Target   string
	Test     string
	Pipeline int
	Rounds   int
	// RPS, P50Ms and P99Ms are medians over the rounds.
	RPS, P50Ms, P99Ms float64
	// CPUPerMreq is CPU seconds per million requests: total CPU over the
	// rounds divided by total requests.
	CPUPerMreq float64
}

// Median returns the median of v (the mean of the middle two for an even
// count), or 0 for none. v is not modified.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Summarize groups samples by target, test and pipeline depth, in the
// order each group first appears.
func Summarize(samples []Sample) []Summary {
	type key struct {
		target, test string
		pipeline     int
	}
	var order []key
	groups := map[key][]Sample{}
	for _, s := range samples {
		k := key{s.Target, s.Test, s.Pipeline}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s)
	}
	out := make([]Summary, 0, len(order))
	for _, k := range order {
		g := groups[k]
		var rps, p50, p99 []float64
		var cpu time.Duration
		reqs := 0
		for _, s := range g {
			rps = append(rps, s.Row.RPS)
			p50 = append(p50, s.Row.P50Ms)
			p99 = append(p99, s.Row.P99Ms)
			cpu += s.CPU
			reqs += s.Requests
		}
		sum := Summary{Target: k.target, Test: k.test, Pipeline: k.pipeline, Rounds: len(g),
			RPS: Median(rps), P50Ms: Median(p50), P99Ms: Median(p99)}
		if reqs > 0 {
			sum.CPUPerMreq = cpu.Seconds() / float64(reqs) * 1e6
		}
		out = append(out, sum)
	}
	return out
}

// Find returns the summary for target, test and pipeline depth.
func Find(sums []Summary, target, test string, pipeline int) (Summary, bool) {
	for _, s := range sums {
		if s.Target == target && s.Test == test && s.Pipeline == pipeline {
			return s, true
		}
	}
	return Summary{}, false
}

// BatchPoint is the throughput of SETs sent in batches of Batch commands
// on one connection (median over rounds).
type BatchPoint struct {
	Target    string
	Batch     int
	OpsPerSec float64
}

// LatencyRow is 1,000 sequential versus 1,000 pipelined SETs through the
// delay relay at one emulated round-trip time (RTT 0: no relay).
type LatencyRow struct {
	RTT        time.Duration
	Commands   int
	Sequential time.Duration
	Pipelined  time.Duration
}

// IdleRow is a proxy's resident memory with Conns idle client connections.
type IdleRow struct {
	Target string
	Conns  int
	// Before is RSS before connecting; Connected after the connections are
	// accepted; Pinged after each has served one PING.
	Before, Connected, Pinged int64
}

// PerConn returns the larger of the two per-connection RSS increments, in
// bytes.
func (r IdleRow) PerConn() float64 {
	if r.Conns == 0 {
		return 0
	}
	return float64(max(r.Connected, r.Pinged)-r.Before) / float64(r.Conns)
}

// StreamRow is a proxy's memory while one client streams a long pipeline.
type StreamRow struct {
	Target    string
	Commands  int
	ValueSize int
	// Before is RSS before the stream; Peak the largest RSS sampled every
	// SampleEvery during it.
	Before, Peak int64
	Samples      int
	SampleEvery  time.Duration
	Elapsed      time.Duration
}

// Results is everything one harness run measured.
type Results struct {
	Date    time.Time
	Smoke   bool
	Machine procstat.Machine
	// Versions of the programs measured.
	RedisVersion, NutcrackerVersion, ShardproxyVersion string
	// Clients, KeySpace and Rounds are the redis-benchmark -c and -r and
	// the number of interleaved rounds.
	Clients, KeySpace, Rounds int
	// Targets are the redis-benchmark targets in the first round's order
	// (each later round starts one further along); empty means direct,
	// twemproxy, shardproxy.
	Targets []string
	// Requests maps "<test> -P <n>" to the -n used.
	Requests map[string]int
	Bench    []Summary
	Samples  []Sample
	Batch    []BatchPoint
	Latency  []LatencyRow
	Idle     []IdleRow
	Stream   []StreamRow
	// ACL holds the ACL phase's medians (its own interleaved rounds:
	// twemproxy, shardproxy, shardproxy with an ACL user).
	ACL []Summary
	// Pinned holds transactions/s and BLPOP hand-offs/s per target.
	Pinned []PinnedRow
	// ShardproxyConfig and TwemproxyConfig are the pool files used.
	ShardproxyConfig, TwemproxyConfig string
	// Notes are remarks shown at the end of the file.
	Notes []string
}

// BenchTargets returns the redis-benchmark targets in the first round's
// order.
func (r *Results) BenchTargets() []string {
	if len(r.Targets) > 0 {
		return r.Targets
	}
	return []string{Direct, Twemproxy, Shardproxy}
}

// ShardproxyACL names shardproxy configured with one ACL user whose
// clients authenticate.
const ShardproxyACL = "shardproxy ACL"

// PinnedRow is one target's pinned workloads: medians over the rounds.
type PinnedRow struct {
	Target string
	// Shards behind the target (1 for direct Redis).
	Shards int
	// TxPerSec is MULTI/INCR/SET/EXEC transactions per second; HandoffsPerSec
	// is BLPOP hand-offs per second.
	TxPerSec, HandoffsPerSec float64
}

// PairedRatio compares target with base round by round: for each round
// that measured both (test at pipeline depth p), the ratio of metric, and
// returns the median and the range of those ratios. Each ratio is taken
// within one round, so drift in the machine's load between rounds cancels
// out of it; the range shows how far one round can be from another.
func PairedRatio(samples []Sample, target, base, test string, p int, metric func(BenchRow) float64) (med, lo, hi float64, n int) {
	num := map[int]float64{}
	den := map[int]float64{}
	for _, s := range samples {
		if s.Test != test || s.Pipeline != p {
			continue
		}
		switch s.Target {
		case target:
			num[s.Round] = metric(s.Row)
		case base:
			den[s.Round] = metric(s.Row)
		}
	}
	var ratios []float64
	for round, a := range num {
		if b, ok := den[round]; ok && b > 0 {
			ratios = append(ratios, a/b)
		}
	}
	if len(ratios) == 0 {
		return 0, 0, 0, 0
	}
	return Median(ratios), slices.Min(ratios), slices.Max(ratios), len(ratios)
}
