package report

import (
	"fmt"
	"slices"
)

// Check is one of the targets, judged against the results.
type Check struct {
	// Target states what is wanted.
	Target string
	// Got states the measured numbers.
	Got string
	// Met is false when the target is missed or could not be measured.
	Met bool
}

// Thresholds of the targets. They judge shardproxy with default
// flags (Shardproxy), the way users run it; other shardproxy variants are
// shown beside it but not judged.
const (
	// MinRatioP16 is the lowest shardproxy/twemproxy ops/s ratio at -P 16.
	MinRatioP16 = 1.5
	// MinRatioP1 is the lowest shardproxy/twemproxy ops/s ratio at -P 1.
	MinRatioP1 = 1.0
	// MaxCPURatioP1 is the highest shardproxy/twemproxy ratio of proxy CPU
	// per request at -P 1.
	MaxCPURatioP1 = 1.0
	// MaxIdleBytesPerConn is the most RSS one idle client connection may cost.
	MaxIdleBytesPerConn = 12 << 10
	// MaxStreamRSS is the most RSS while streaming the long pipeline.
	MaxStreamRSS = 256 << 20
	// IdleTargetConns and StreamTargetCommands are the sizes the issue
	// states the memory targets at; a run with fewer (a smoke run) says so.
	IdleTargetConns      = 10000
	StreamTargetCommands = 1000000
)

// Checks judges the targets, in the order: -P 1 SET and GET,
// -P 16 SET and GET, idle memory, pipeline memory, all against twemproxy
// with default flags. A target whose inputs are missing is reported as
// not met, saying so. When the run also measured twemproxy -v 4, the four
// throughput targets follow again, judged against it.
func (r *Results) Checks() []Check {
	out := r.ratioChecks(Twemproxy)
	out = append(out, r.idleCheck(), r.streamCheck())
	if slices.Contains(r.BenchTargets(), TwemproxyV4) {
		out = append(out, r.ratioChecks(TwemproxyV4)...)
	}
	return out
}

func (r *Results) ratioChecks(base string) []Check {
	var out []Check
	for _, p := range []int{1, 16} {
		for _, test := range []string{"SET", "GET"} {
			out = append(out, r.ratioCheck(test, p, base))
		}
	}
	return out
}

func (r *Results) ratioCheck(test string, p int, base string) Check {
	want := fmt.Sprintf("-P 16 %s: shardproxy ops/s >= %.1fx %s", test, MinRatioP16, base)
	if p == 1 {
		want = fmt.Sprintf("-P 1 %s: shardproxy ops/s >= %.1fx %s, proxy CPU per request <= %s's, p99 no worse", test, MinRatioP1, base, base)
	}
	sp, ok1 := Find(r.Bench, Shardproxy, test, p)
	tw, ok2 := Find(r.Bench, base, test, p)
	if !ok1 || !ok2 || tw.RPS == 0 {
		return Check{Target: want, Got: "not measured"}
	}
	ratio := sp.RPS / tw.RPS
	c := Check{Target: want, Got: fmt.Sprintf("%.0f vs %.0f ops/s = %.2fx%s", sp.RPS, tw.RPS, ratio,
		r.paired(base, test, p, func(b BenchRow) float64 { return b.RPS }))}
	if p != 1 {
		c.Met = ratio >= MinRatioP16
		return c
	}
	cpuOK := false
	if sp.CPUPerMreq > 0 && tw.CPUPerMreq > 0 {
		cr := sp.CPUPerMreq / tw.CPUPerMreq
		c.Got += fmt.Sprintf("; CPU %.2f vs %.2f s/Mreq = %.2fx", sp.CPUPerMreq, tw.CPUPerMreq, cr)
		cpuOK = cr <= MaxCPURatioP1
	} else {
		c.Got += "; CPU not measured"
	}
	c.Got += fmt.Sprintf("; p99 %.3f vs %.3f ms%s", sp.P99Ms, tw.P99Ms,
		r.paired(base, test, p, func(b BenchRow) float64 { return b.P99Ms }))
	c.Met = ratio >= MinRatioP1 && cpuOK && sp.P99Ms <= tw.P99Ms
	return c
}

// paired describes the round-by-round ratios of shardproxy to base (see
// PairedRatio), or nothing when fewer than two rounds measured both.
func (r *Results) paired(base, test string, p int, metric func(BenchRow) float64) string {
	med, lo, hi, n := PairedRatio(r.Samples, Shardproxy, base, test, p, metric)
	if n < 2 {
		return ""
	}
	return fmt.Sprintf(" (per round: median %.2fx, %.2f-%.2fx over %d rounds)", med, lo, hi, n)
}

func (r *Results) idleCheck() Check {
	want := fmt.Sprintf("<= %d KB RSS per idle client connection at %d idle clients", MaxIdleBytesPerConn>>10, IdleTargetConns)
	for _, row := range r.Idle {
		if row.Target == Shardproxy {
			per := row.PerConn()
			got := fmt.Sprintf("%.2f KB per connection", per/1024)
			if row.Conns != IdleTargetConns {
				got += fmt.Sprintf(" (measured at %d connections, not %d)", row.Conns, IdleTargetConns)
			}
			return Check{Target: want, Got: got, Met: per <= MaxIdleBytesPerConn}
		}
	}
	return Check{Target: want, Got: "not measured"}
}

func (r *Results) streamCheck() Check {
	want := fmt.Sprintf("< %d MB peak RSS streaming a %d-command pipeline (growth over the RSS before it)", MaxStreamRSS>>20, StreamTargetCommands)
	for _, row := range r.Stream {
		if row.Target == Shardproxy {
			// The proxy is not fresh when the stream starts: it may still
			// hold memory of the idle phase's 10,000 connections (Go
			// returns it to the system lazily), which is not the
			// pipeline's cost. The target judges the growth.
			growth := row.Peak - min(row.Before, row.Peak)
			got := fmt.Sprintf("grew %.1f MB (peak %.1f MB, %.1f MB before)", mb(growth), mb(row.Peak), mb(row.Before))
			if row.Commands != StreamTargetCommands {
				got += fmt.Sprintf(" (measured with %d commands, not %d)", row.Commands, StreamTargetCommands)
			}
			return Check{Target: want, Got: got, Met: growth < MaxStreamRSS}
		}
	}
	return Check{Target: want, Got: "not measured"}
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
