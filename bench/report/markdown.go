package report

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

// BenchTests returns the redis-benchmark tests in table order, named as
// the harness records them (redis-benchmark's CSV names, except
// LRANGE_100, run as a custom command).
func BenchTests() []string {
	return []string{"SET", "GET", "INCR", "LPUSH", "LRANGE_100", "MSET (10 keys)"}
}

// Markdown renders the results file.
func (r *Results) Markdown() []byte {
	var b bytes.Buffer
	title := "Benchmark"
	if r.Smoke {
		title = "Benchmark (smoke run: numbers are indicative only)"
	}
	fmt.Fprintf(&b, "# shardproxy %s, %s\n\n", title, r.Date.Format("2006-01-02 15:04 MST"))

	b.WriteString("## Machine\n\n")
	m := r.Machine
	fmt.Fprintf(&b, "- CPUs (nproc): %d\n- CPU model: %s\n- kernel: %s\n- Go: %s\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	fmt.Fprintf(&b, "- redis-server: %s\n- twemproxy: %s\n- shardproxy: %s\n\n", r.RedisVersion, r.NutcrackerVersion, r.ShardproxyVersion)
	b.WriteString("Everything runs on loopback on this machine: three redis-server shards, both proxies, " +
		"the load generators. The client competes with the proxy for the same cores, so CPU seconds per " +
		"million requests is the fairest comparison between the proxies.\n\n")

	b.WriteString("## Targets\n\n| target | measured | result |\n|---|---|---|\n")
	for _, c := range r.Checks() {
		res := "**not met**"
		if c.Met {
			res = "met"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Target, c.Got, res)
	}
	b.WriteString("\n")

	r.benchTables(&b)
	r.batchTable(&b)
	r.latencyTable(&b)
	r.memoryTables(&b)

	b.WriteString("## Configuration\n\n")
	fmt.Fprintf(&b, "redis-benchmark `-c %d -r %d`, %d interleaved round(s) (direct, twemproxy, shardproxy, for each test in turn). Requests per run (`-n`):", r.Clients, r.KeySpace, r.Rounds)
	keys := make([]string, 0, len(r.Requests))
	for k := range r.Requests {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(&b, "%s %s: %d", sep, k, r.Requests[k])
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "shardproxy pool:\n\n```yaml\n%s```\n\ntwemproxy pool:\n\n```yaml\n%s```\n\n", r.ShardproxyConfig, r.TwemproxyConfig)
	if len(r.Notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func (r *Results) benchTables(b *bytes.Buffer) {
	for _, p := range []int{1, 16} {
		fmt.Fprintf(b, "## redis-benchmark, -P %d (medians)\n\n", p)
		b.WriteString("| test | direct ops/s | twemproxy ops/s | shardproxy ops/s | sp/direct | sp/twem | p50 ms d / t / s | p99 ms d / t / s | CPU s/Mreq redis / twem / sp |\n")
		b.WriteString("|---|---:|---:|---:|---:|---:|---|---|---|\n")
		for _, test := range BenchTests() {
			d, okd := Find(r.Bench, Direct, test, p)
			t, okt := Find(r.Bench, Twemproxy, test, p)
			s, oks := Find(r.Bench, Shardproxy, test, p)
			if !okd && !okt && !oks {
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s | %s / %s / %s |\n", test,
				ops(d.RPS), ops(t.RPS), ops(s.RPS), ratio(s.RPS, d.RPS), ratio(s.RPS, t.RPS),
				ms(d.P50Ms), ms(t.P50Ms), ms(s.P50Ms), ms(d.P99Ms), ms(t.P99Ms), ms(s.P99Ms),
				cpu(d.CPUPerMreq), cpu(t.CPUPerMreq), cpu(s.CPUPerMreq))
		}
		b.WriteString("\n")
	}
	b.WriteString("CPU s/Mreq is user+system CPU seconds of the measured process per million requests " +
		"(for direct: the redis-server shard; for the proxies: the proxy process alone, not the shards behind it). " +
		"LRANGE_100 reads a 100-element list `mylist`; MSET sets 10 random keys, which both proxies split over the shards.\n\n")
}

func (r *Results) batchTable(b *bytes.Buffer) {
	if len(r.Batch) == 0 {
		return
	}
	b.WriteString("## Batch size (SETs on one connection, a batch written then its replies read)\n\n")
	b.WriteString("| batch size | direct ops/s | shardproxy ops/s | direct speedup vs 1 | shardproxy speedup vs 1 |\n|---:|---:|---:|---:|---:|\n")
	var sizes []int
	get := map[string]map[int]float64{Direct: {}, Shardproxy: {}}
	for _, p := range r.Batch {
		if !slices.Contains(sizes, p.Batch) {
			sizes = append(sizes, p.Batch)
		}
		if get[p.Target] != nil {
			get[p.Target][p.Batch] = p.OpsPerSec
		}
	}
	slices.Sort(sizes)
	for _, n := range sizes {
		d, s := get[Direct][n], get[Shardproxy][n]
		fmt.Fprintf(b, "| %d | %s | %s | %s | %s |\n", n, ops(d), ops(s), ratio(d, get[Direct][1]), ratio(s, get[Shardproxy][1]))
	}
	b.WriteString("\nThe seed article's table: 1 -> ~5,000, 10 -> ~50,000, 50 -> 80-100k, 100 -> 100k+, " +
		"500 -> 120-150k, 1,000 -> 150k+ ops/s over a local network.\n\n")
}

func (r *Results) latencyTable(b *bytes.Buffer) {
	if len(r.Latency) == 0 {
		return
	}
	b.WriteString("## Latency multiplier (client -> delay relay -> shardproxy)\n\n")
	b.WriteString("| emulated RTT | sequential | pipelined | speedup |\n|---|---:|---:|---:|\n")
	for _, l := range r.Latency {
		rtt := "loopback, no relay"
		if l.RTT > 0 {
			rtt = fmt.Sprintf("%g ms", float64(l.RTT)/float64(time.Millisecond))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", rtt, dur(l.Sequential), dur(l.Pipelined), ratio(float64(l.Sequential), float64(l.Pipelined)))
	}
	n := r.Latency[0].Commands
	fmt.Fprintf(b, "\n%d SETs each way. The relay delays every chunk by RTT/2 in each direction; the seed "+
		"article's table: <0.1 ms 150 vs 30 ms (5x), 0.5 ms 500 vs 15 ms (33x), 1-2 ms 1,500 vs 15 ms (100x), "+
		"50 ms 50,000 vs 100 ms (500x).\n\n", n)
}

func (r *Results) memoryTables(b *bytes.Buffer) {
	if len(r.Idle) > 0 {
		b.WriteString("## Memory: idle client connections\n\n")
		b.WriteString("| proxy | connections | RSS before | RSS connected | RSS after one PING each | per connection |\n|---|---:|---:|---:|---:|---:|\n")
		for _, i := range r.Idle {
			fmt.Fprintf(b, "| %s | %d | %.1f MB | %.1f MB | %.1f MB | %.1f KB |\n", i.Target, i.Conns, mb(i.Before), mb(i.Connected), mb(i.Pinged), i.PerConn()/1024)
		}
		b.WriteString("\nPer connection: the larger RSS increase (connected, or after one PING each) divided by the connections.\n\n")
	}
	if len(r.Stream) > 0 {
		b.WriteString("## Memory: one client streaming a long pipeline\n\n")
		b.WriteString("| proxy | SET commands | value bytes | RSS before | peak RSS | samples | elapsed | ops/s |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Stream {
			fmt.Fprintf(b, "| %s | %d | %d | %.1f MB | %.1f MB | %d (every %v) | %s | %s |\n", s.Target, s.Commands, s.ValueSize,
				mb(s.Before), mb(s.Peak), s.Samples, s.SampleEvery, dur(s.Elapsed), ops(float64(s.Commands)/s.Elapsed.Seconds()))
		}
		b.WriteString("\nThe client writes the whole pipeline as fast as the socket takes it while another goroutine reads the replies.\n\n")
	}
}

func ops(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(a, b float64) string {
	if a == 0 || b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func ms(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}

func cpu(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
