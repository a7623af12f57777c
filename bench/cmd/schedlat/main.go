// Command schedlat reads a Go execution trace (such as the proxy's
// /debug/pprof/trace?seconds=2 under load, with --pprof) and prints how long
// goroutines waited to run once they were runnable, grouped by what made them
// runnable: the innermost function of the given package prefix on the stack
// of the event that readied them, "netpoll" for goroutines readied by the
// poller (such events carry no stack), "yield" for a goroutine that gave up
// its P itself (Gosched, preemption).
//
// `go tool trace -pprof=sched` gives the same waits summed per stack; this
// gives their distribution (mean, p50 to p99.9), which is what a p99 needs.
//
// On a saturated single-P proxy these waits are where a request's time goes
// between the proxy's own steps, and their tails are the proxy's part of the
// clients' p99.
//
//	go run ./cmd/schedlat [-prefix github.com/shardproxy/shardproxy/] trace.out
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	prefix := flag.String("prefix", "github.com/shardproxy/shardproxy/", "package prefix whose innermost frame names a group")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: schedlat [-prefix P] trace.out")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "schedlat:", err)
		os.Exit(1)
	}
	defer f.Close()
	groups, err := waits(f, *prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, "schedlat:", err)
		os.Exit(1)
	}
	printTable(os.Stdout, groups)
}

// waits returns, per group, every runnable-to-running wait in the trace.
func waits(r io.Reader, prefix string) (map[string][]time.Duration, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, err
	}
	type pending struct {
		since trace.Time
		group string
	}
	ready := map[trace.GoID]pending{}
	groups := map[string][]time.Duration{}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			return groups, nil
		}
		if err != nil {
			return nil, err
		}
		if ev.Kind() != trace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			continue
		}
		id := st.Resource.Goroutine()
		from, to := st.Goroutine()
		switch {
		case to == trace.GoRunnable && from != trace.GoRunnable:
			ready[id] = pending{ev.Time(), group(ev.Stack(), from, prefix)}
		case to == trace.GoRunning:
			if p, ok := ready[id]; ok {
				groups[p.group] = append(groups[p.group], time.Duration(ev.Time()-p.since))
				delete(ready, id)
			}
		}
	}
}

// group names what made a goroutine runnable.
func group(st trace.Stack, from trace.GoState, prefix string) string {
	if from == trace.GoRunning {
		return "yield"
	}
	var inner, first string
	for fr := range st.Frames() {
		if first == "" {
			first = fr.Func
		}
		if inner == "" && strings.HasPrefix(fr.Func, prefix) {
			inner = strings.TrimPrefix(fr.Func, prefix)
		}
	}
	switch {
	case inner != "":
		return inner
	case first != "":
		return first
	case from == trace.GoWaiting:
		return "netpoll"
	}
	return "other"
}

func printTable(w io.Writer, groups map[string][]time.Duration) {
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	slices.SortFunc(names, func(a, b string) int { return len(groups[b]) - len(groups[a]) })
	fmt.Fprintf(w, "%-48s %9s %9s %9s %9s %9s %9s\n", "readied by", "count", "mean µs", "p50", "p90", "p99", "p99.9")
	for _, g := range names {
		d := groups[g]
		slices.Sort(d)
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		q := func(p float64) float64 { return us(d[int(p*float64(len(d)-1))]) }
		fmt.Fprintf(w, "%-48s %9d %9.1f %9.1f %9.1f %9.1f %9.1f\n", g, len(d), us(sum)/float64(len(d)), q(.5), q(.9), q(.99), q(.999))
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
