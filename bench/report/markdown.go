package report

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
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
	r.aclTable(&b)
	r.pinnedTable(&b)

	b.WriteString("## Configuration\n\n")
	fmt.Fprintf(&b, "redis-benchmark `-c %d -r %d`, %d interleaved round(s) (%s, for each test in turn; each round starts one target further along, so that no target always runs first or right after the same one). Requests per run (`-n`):",
		r.Clients, r.KeySpace, r.Rounds, strings.Join(r.BenchTargets(), ", "))
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
	targets := r.BenchTargets()
	var sps []string
	for _, t := range targets {
		if IsShardproxy(t) {
			sps = append(sps, t)
		}
	}
	abbrevs := make([]string, len(targets))
	for i, t := range targets {
		abbrevs[i] = Abbrev(t)
	}
	list := strings.Join(abbrevs, " / ")
	v4 := slices.Contains(targets, TwemproxyV4)
	for _, p := range []int{1, 16} {
		var rows []string
		for _, test := range BenchTests() {
			sums := make([]Summary, len(targets))
			seen := false
			for i, t := range targets {
				var ok bool
				sums[i], ok = Find(r.Bench, t, test, p)
				seen = seen || ok
			}
			if !seen {
				continue
			}
			get := func(name string) Summary {
				for i, t := range targets {
					if t == name {
						return sums[i]
					}
				}
				return Summary{}
			}
			d, tw, tw4 := get(Direct), get(Twemproxy), get(TwemproxyV4)
			cells := []string{test}
			for _, s := range sums {
				cells = append(cells, ops(s.RPS))
			}
			cells = append(cells, ratio(get(Shardproxy).RPS, d.RPS))
			for _, sp := range sps {
				cells = append(cells, ratio(get(sp).RPS, tw.RPS))
			}
			if v4 {
				cells = append(cells, ratio(get(Shardproxy).RPS, tw4.RPS))
			}
			var p50, p99, cpus []string
			for _, s := range sums {
				p50 = append(p50, ms(s.P50Ms))
				p99 = append(p99, ms(s.P99Ms))
				cpus = append(cpus, cpu(s.CPUPerMreq))
			}
			cells = append(cells, strings.Join(p50, " / "), strings.Join(p99, " / "), strings.Join(cpus, " / "))
			for _, sp := range sps {
				cells = append(cells, ratio(get(sp).CPUPerMreq, tw.CPUPerMreq))
			}
			if v4 {
				cells = append(cells, ratio(get(Shardproxy).CPUPerMreq, tw4.CPUPerMreq))
			}
			rows = append(rows, "| "+strings.Join(cells, " | ")+" |\n")
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(b, "## redis-benchmark, -P %d (medians)\n\n", p)
		head := []string{"test"}
		align := []string{"---"}
		for _, t := range targets {
			head = append(head, t+" ops/s")
			align = append(align, "---:")
		}
		head = append(head, "s/d")
		align = append(align, "---:")
		for _, sp := range sps {
			head = append(head, Abbrev(sp)+"/t")
			align = append(align, "---:")
		}
		if v4 {
			head = append(head, "s/t4")
			align = append(align, "---:")
		}
		head = append(head, "p50 ms "+list, "p99 ms "+list, "CPU s/Mreq "+list)
		align = append(align, "---", "---", "---")
		for _, sp := range sps {
			head = append(head, "CPU "+Abbrev(sp)+"/t")
			align = append(align, "---:")
		}
		if v4 {
			head = append(head, "CPU s/t4")
			align = append(align, "---:")
		}
		b.WriteString("| " + strings.Join(head, " | ") + " |\n")
		b.WriteString("|" + strings.Join(align, "|") + "|\n")
		for _, row := range rows {
			b.WriteString(row)
		}
		b.WriteString("\n")
	}
	var legend []string
	for _, t := range targets {
		name := t
		switch t {
		case Shardproxy:
			name = "shardproxy with default flags"
		case Twemproxy:
			name = "twemproxy with default flags"
		}
		legend = append(legend, Abbrev(t)+" = "+name)
	}
	b.WriteString(strings.Join(legend, ", ") + ". ")
	b.WriteString("CPU s/Mreq is user+system CPU seconds of the measured process per million requests " +
		"(for direct: the redis-server shard; for the proxies: the proxy process alone, not the shards behind it); " +
		"CPU s/t is shardproxy's CPU per request over twemproxy's. " +
		"LRANGE_100 reads a 100-element list `mylist`; MSET sets 10 random keys, which both proxies split over the shards.\n\n")
	r.flagsTable(b, sps)
}

// flagsTable sets shardproxy's runs (default flags and the others) side by
// side relative to twemproxy, as issue 8 states where things stand.
func (r *Results) flagsTable(b *bytes.Buffer, sps []string) {
	if len(sps) < 2 {
		return
	}
	type metric struct {
		name string
		get  func(Summary) float64
	}
	metrics := []metric{
		{"ops/s", func(s Summary) float64 { return s.RPS }},
		{"proxy CPU per request", func(s Summary) float64 { return s.CPUPerMreq }},
		{"p99", func(s Summary) float64 { return s.P99Ms }},
	}
	var rows []string
	for _, p := range []int{1, 16} {
		for _, m := range metrics {
			cells := []string{fmt.Sprintf("-P %d SET / GET %s vs twemproxy", p, m.name)}
			found := false
			for _, sp := range sps {
				var parts []string
				for _, test := range []string{"SET", "GET"} {
					s, ok1 := Find(r.Bench, sp, test, p)
					t, ok2 := Find(r.Bench, Twemproxy, test, p)
					found = found || (ok1 && ok2)
					parts = append(parts, ratio(m.get(s), m.get(t)))
				}
				cells = append(cells, strings.Join(parts, " / "))
			}
			if found {
				rows = append(rows, "| "+strings.Join(cells, " | ")+" | 1 |\n")
			}
		}
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("## shardproxy by flags, relative to twemproxy\n\n")
	head := []string{"measure"}
	align := []string{"---"}
	for _, sp := range sps {
		name := sp
		if sp == Shardproxy {
			name = "shardproxy default"
		}
		head = append(head, name)
		align = append(align, "---")
	}
	b.WriteString("| " + strings.Join(head, " | ") + " | twemproxy |\n|" + strings.Join(align, "|") + "|---|\n")
	for _, row := range rows {
		b.WriteString(row)
	}
	b.WriteString("\nMedians from the same interleaved rounds. The targets judge the default; " +
		"for ops/s higher is better, for CPU per request and p99 lower is better.\n\n")
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

// aclTable shows the ACL phase: shardproxy with an authenticated ACL user
// against twemproxy and plain shardproxy in the same rounds.
func (r *Results) aclTable(b *bytes.Buffer) {
	if len(r.ACL) == 0 {
		return
	}
	b.WriteString("## ACL user (medians of the ACL phase's own interleaved rounds)\n\n")
	b.WriteString("shardproxy ACL is shardproxy with `users: [\"bench on >... ~* +@all\"]`, its default user off, " +
		"and redis-benchmark authenticating with `--user bench -a ...`; twemproxy and shardproxy run without authentication.\n\n")
	b.WriteString("| test | -P | twemproxy ops/s | shardproxy ops/s | shardproxy ACL ops/s | ACL vs twemproxy ops | ACL vs shardproxy ops | CPU s/Mreq (tw / sp / ACL) | ACL vs twemproxy CPU/req | p99 ms (tw / sp / ACL) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range []int{1, 16} {
		for _, test := range BenchTests() {
			tw, ok1 := Find(r.ACL, Twemproxy, test, p)
			sp, ok2 := Find(r.ACL, Shardproxy, test, p)
			acl, ok3 := Find(r.ACL, ShardproxyACL, test, p)
			if !ok1 || !ok2 || !ok3 {
				continue
			}
			fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s / %s / %s | %s | %s / %s / %s |\n", test, p,
				ops(tw.RPS), ops(sp.RPS), ops(acl.RPS), ratio(acl.RPS, tw.RPS), ratio(acl.RPS, sp.RPS),
				cpu(tw.CPUPerMreq), cpu(sp.CPUPerMreq), cpu(acl.CPUPerMreq), ratio(acl.CPUPerMreq, tw.CPUPerMreq),
				ms(tw.P99Ms), ms(sp.P99Ms), ms(acl.P99Ms))
		}
	}
	b.WriteString("\n")
}

// pinnedTable shows transactions/s and BLPOP hand-offs/s through the
// proxy against direct Redis.
func (r *Results) pinnedTable(b *bytes.Buffer) {
	if len(r.Pinned) == 0 {
		return
	}
	var direct PinnedRow
	for _, p := range r.Pinned {
		if p.Target == Direct {
			direct = p
		}
	}
	b.WriteString("## Transactions and blocking commands (medians)\n\n")
	b.WriteString("50 clients each pipelining MULTI / INCR / SET / EXEC on their own hash tag, and 50 BLPOP consumers fed by one producer pipelining RPUSHes by 100.\n\n")
	b.WriteString("| target | shards | transactions/s | vs direct | BLPOP hand-offs/s | vs direct |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range r.Pinned {
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s |\n", p.Target, p.Shards, ops(p.TxPerSec), ratio(p.TxPerSec, direct.TxPerSec),
			ops(p.HandoffsPerSec), ratio(p.HandoffsPerSec, direct.HandoffsPerSec))
	}
	b.WriteString("\n")
}
