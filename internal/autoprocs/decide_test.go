package autoprocs

import (
	"testing"
	"time"
)

// feed gives d n samples of one second each with the proxy using `used`
// cores and the machine `idle` cores (negative: unknown), and returns the
// decisions after each.
func feed(d *Decider, n int, used, idle float64, limit int) []int {
	out := make([]int, n)
	for i := range out {
		s := Sample{Wall: time.Second, ProcCPU: time.Duration(used * float64(time.Second)), IdleCPU: -1, Limit: limit}
		if idle >= 0 {
			s.IdleCPU = time.Duration(idle * float64(time.Second))
		}
		out[i] = d.Next(s)
	}
	return out
}

func last(v []int) int { return v[len(v)-1] }

func TestStartsAtMin(t *testing.T) {
	if got := NewDecider(DefaultPolicy()).Procs(); got != 1 {
		t.Fatalf("start = %d, want 1", got)
	}
	pol := DefaultPolicy()
	pol.Min = 0
	if got := NewDecider(pol).Procs(); got != 1 {
		t.Fatalf("start with Min 0 = %d, want 1", got)
	}
}

// The 2-core bench box: the proxy uses most of one core, Redis and the
// clients the rest. Another P would find no idle core: stay at one.
func TestSmallBusyMachineStaysAtOne(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	for _, c := range []struct{ used, idle float64 }{{0.81, 0.3}, {0.9, 0.1}, {0.97, 0.2}, {1.0, 0.45}} {
		if got := feed(d, 50, c.used, c.idle, 2); last(got) != 1 {
			t.Fatalf("used %.2f idle %.2f: procs went to %v, want 1", c.used, c.idle, got)
		}
	}
}

// A many-core idle machine under heavy load: the proxy saturates whatever
// it has, so it doubles every RaiseAfter samples up to the limit.
func TestScalesUpOnManyCores(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	var trace []int
	for i := 0; i < 20; i++ {
		p := float64(d.Procs())
		trace = append(trace, feed(d, 1, p, 32-p, 32)...)
	}
	want := []int{1, 2, 2, 4, 4, 8, 8, 16, 16, 32, 32, 32}
	for i, w := range want {
		if trace[i] != w {
			t.Fatalf("trace %v, want prefix %v", trace, want)
		}
	}
	if last(trace) != 32 {
		t.Fatalf("ended at %d, want the limit 32", last(trace))
	}
}

// Growth is bounded by the idle cores: with 3 cores idle, +3 at most.
func TestRaiseStepBoundedByIdle(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	for d.Procs() < 8 {
		p := float64(d.Procs())
		feed(d, 1, p, 100, 64)
	}
	if got := last(feed(d, 2, 8, 3.5, 64)); got != 11 {
		t.Fatalf("8 Ps busy with 3.5 cores idle: got %d, want 11", got)
	}
}

func TestRaiseNeedsConsecutiveSamples(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	for i := 0; i < 10; i++ {
		feed(d, 1, 1, 4, 8)   // hot
		feed(d, 1, 0.5, 4, 8) // not: the streak restarts
	}
	if d.Procs() != 1 {
		t.Fatalf("alternating samples raised to %d", d.Procs())
	}
	if got := feed(d, 2, 1, 4, 8); got[0] != 1 || got[1] != 2 {
		t.Fatalf("two hot samples: %v, want [1 2]", got)
	}
}

// When the platform cannot tell the machine's idle time, saturation alone
// decides.
func TestUnknownIdle(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	if got := last(feed(d, 2, 1, -1, 4)); got != 2 {
		t.Fatalf("saturated, idle unknown: %d, want 2", got)
	}
}

// Load that ends: back to the minimum within LowerAfter samples.
func TestIdleGoesBackDown(t *testing.T) {
	pol := DefaultPolicy()
	d := NewDecider(pol)
	for d.Procs() < 16 {
		p := float64(d.Procs())
		feed(d, 1, p, 32-p, 32)
	}
	got := feed(d, pol.LowerAfter, 0.02, 31.9, 32)
	for _, v := range got[:pol.LowerAfter-1] {
		if v != 16 {
			t.Fatalf("lowered before LowerAfter samples: %v", got)
		}
	}
	if last(got) != 1 {
		t.Fatalf("idle for LowerAfter samples: %v, want 1 at the end", got)
	}
}

// Load that falls to two cores' worth goes to what it needs, and stays.
func TestPartialLoadSettles(t *testing.T) {
	pol := DefaultPolicy()
	d := NewDecider(pol)
	for d.Procs() < 8 {
		p := float64(d.Procs())
		feed(d, 1, p, 32-p, 32)
	}
	got := feed(d, 100, 2, 20, 32)
	if last(got) != 3 {
		t.Fatalf("2 cores of load from 8 Ps: %v, want to settle at 3", got)
	}
}

// Raised while the machine had room, then the machine filled up and the
// proxy cannot use its second P: give it back, and wait before retrying.
func TestContendedGoesBackAndCoolsDown(t *testing.T) {
	pol := DefaultPolicy()
	d := NewDecider(pol)
	feed(d, 2, 1, 1, 2)
	if d.Procs() != 2 {
		t.Fatalf("setup: procs %d, want 2", d.Procs())
	}
	got := feed(d, pol.LowerAfter, 1.1, 0.05, 2)
	if last(got) != 1 {
		t.Fatalf("contended: %v, want back to 1", got)
	}
	// The machine has room again: no raise during the cooldown...
	if got := feed(d, pol.Cooldown-1, 1, 1, 2); last(got) != 1 {
		t.Fatalf("raised during the cooldown: %v", got)
	}
	// ...then one.
	if got := feed(d, pol.RaiseAfter+1, 1, 1, 2); last(got) != 2 {
		t.Fatalf("no raise after the cooldown: %v", got)
	}
	// A second contended lower waits twice as long.
	feed(d, pol.LowerAfter, 1.1, 0.05, 2)
	if got := feed(d, 2*pol.Cooldown-1, 1, 1, 2); last(got) != 1 {
		t.Fatalf("raised during the doubled cooldown: %v", got)
	}
	if got := feed(d, pol.RaiseAfter+1, 1, 1, 2); last(got) != 2 {
		t.Fatalf("no raise after the doubled cooldown: %v", got)
	}
}

// A proxy that does use both Ps on a full machine keeps them.
func TestBusyOnFullMachineKeepsPs(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	feed(d, 2, 1, 1, 2)
	if got := feed(d, 100, 1.8, 0.05, 2); last(got) != 2 {
		t.Fatalf("proxy using 1.8 of 2 Ps: %v, want to keep 2", got)
	}
}

func TestQuotaShrinkObeyedAtOnce(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	for d.Procs() < 8 {
		p := float64(d.Procs())
		feed(d, 1, p, 32-p, 8)
	}
	if got := feed(d, 1, 8, 20, 3); got[0] != 3 {
		t.Fatalf("quota fell to 3 CPUs: %v, want 3 at once", got)
	}
	if got := feed(d, 10, 3, 20, 3); last(got) != 3 {
		t.Fatalf("over the limit: %v", got)
	}
}

func TestZeroWallIgnored(t *testing.T) {
	d := NewDecider(DefaultPolicy())
	for i := 0; i < 10; i++ {
		d.Next(Sample{Wall: 0, ProcCPU: time.Second, IdleCPU: time.Second, Limit: 4})
	}
	if d.Procs() != 1 {
		t.Fatalf("zero-length samples moved procs to %d", d.Procs())
	}
}

func TestDiff(t *testing.T) {
	t0 := time.Unix(100, 0)
	s := Diff(Reading{At: t0, ProcCPU: time.Second, IdleCPU: 5 * time.Second, Limit: 4},
		Reading{At: t0.Add(2 * time.Second), ProcCPU: 3 * time.Second, IdleCPU: 6 * time.Second, Limit: 2})
	if s.Wall != 2*time.Second || s.ProcCPU != 2*time.Second || s.IdleCPU != time.Second || s.Limit != 2 {
		t.Fatalf("Diff = %+v", s)
	}
	s = Diff(Reading{At: t0, IdleCPU: -1}, Reading{At: t0.Add(time.Second), IdleCPU: 5})
	if s.IdleCPU >= 0 {
		t.Fatalf("unknown idle became %v", s.IdleCPU)
	}
}
