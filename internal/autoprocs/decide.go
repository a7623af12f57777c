// Package autoprocs chooses the proxy's GOMAXPROCS from what it measures.
//
// A proxy spends most of its CPU in system calls and goroutine hand-offs.
// A P that has no Go code to run still costs: the scheduler spins looking
// for work and wakes threads with futexes. On a small machine shared with
// Redis and the clients, one P measured cheaper per request and faster
// than two; on a large idle machine a busy proxy needs many. So the
// controller starts at one P and adds Ps only while the proxy keeps the
// ones it has busy and the machine has idle CPU for another; it gives them
// back when the load falls or when the machine has no room for them.
//
// The decision is a pure function of fed samples (Decider), so that it can
// be tested without a clock; Controller samples the process and the machine
// and applies the decision with runtime.GOMAXPROCS.
package autoprocs

import (
	"math"
	"time"
)

// Sample is what was measured over one interval.
type Sample struct {
	// Wall is the length of the interval.
	Wall time.Duration
	// ProcCPU is the user and system CPU time the process used in it.
	ProcCPU time.Duration
	// IdleCPU is the idle CPU time of the whole machine in it, summed over
	// every CPU; negative when the platform cannot tell.
	IdleCPU time.Duration
	// Limit is the most Ps the process may use: the CPUs it may run on,
	// capped by its cgroup CPU quota. At least 1.
	Limit int
}

// Policy holds the thresholds of the decision. The zero value is not
// useful; start from DefaultPolicy.
type Policy struct {
	// Min is the fewest Ps; the controller starts there.
	Min int
	// RaiseAt is the share of its current Ps the proxy must keep busy
	// for RaiseAfter samples in a row before it gets more.
	RaiseAt float64
	// IdleNeeded is the idle CPU, in cores, the machine must have for an
	// extra P to be worth anything. Ignored when the idle time is unknown.
	IdleNeeded float64
	// RaiseAfter is the number of samples in a row that must ask for more.
	RaiseAfter int
	// LowerAt: the proxy gets fewer Ps when its use would fit in one P
	// less at this share (use < LowerAt*(p-1)) for LowerAfter samples.
	LowerAt float64
	// ContendedIdle: the proxy also gets one P less when the machine's
	// idle CPU is below this many cores and the proxy leaves at least
	// ContendedSlack cores of its Ps unused, for LowerAfter samples: the
	// extra P then adds only contention.
	ContendedIdle  float64
	ContendedSlack float64
	// LowerAfter is the number of samples in a row that must ask for less.
	LowerAfter int
	// Cooldown is how many samples raising waits after a contended lower;
	// it doubles each time a raise is undone that way, up to MaxCooldown,
	// and is reset by a lower for lack of load.
	Cooldown    int
	MaxCooldown int
}

// DefaultPolicy is the policy the proxy runs with. With a 500 ms interval a
// busy proxy on an idle machine doubles its Ps every second, and a proxy
// left idle drops back within five seconds.
func DefaultPolicy() Policy {
	return Policy{
		Min:            1,
		RaiseAt:        0.85,
		IdleNeeded:     0.5,
		RaiseAfter:     2,
		LowerAt:        0.5,
		ContendedIdle:  0.2,
		ContendedSlack: 0.6,
		LowerAfter:     10,
		Cooldown:       60,
		MaxCooldown:    1200,
	}
}

// Decider turns samples into a GOMAXPROCS value. Not safe for concurrent
// use; the Controller owns one.
type Decider struct {
	pol      Policy
	procs    int
	hot      int // samples in a row asking for more
	cold     int // samples in a row asking for less (idle)
	crowded  int // samples in a row asking for less (no room)
	wait     int // samples left before raising is allowed
	cooldown int // next cooldown after a contended lower
}

// NewDecider returns a decider that starts at pol.Min Ps.
func NewDecider(pol Policy) *Decider {
	if pol.Min < 1 {
		pol.Min = 1
	}
	return &Decider{pol: pol, procs: pol.Min, cooldown: pol.Cooldown}
}

// Procs is the current decision.
func (d *Decider) Procs() int { return d.procs }

// Next feeds one sample and returns the new decision.
func (d *Decider) Next(s Sample) int {
	limit := max(s.Limit, d.pol.Min)
	if d.procs > limit { // the quota shrank: obey at once
		d.procs = limit
		d.reset()
		return d.procs
	}
	if s.Wall <= 0 {
		return d.procs
	}
	p := float64(d.procs)
	used := s.ProcCPU.Seconds() / s.Wall.Seconds()
	idle := math.Inf(1)
	if s.IdleCPU >= 0 {
		idle = s.IdleCPU.Seconds() / s.Wall.Seconds()
	}
	if d.wait > 0 {
		d.wait--
	}

	if used >= d.pol.RaiseAt*p && idle >= d.pol.IdleNeeded && d.procs < limit && d.wait == 0 {
		d.hot++
	} else {
		d.hot = 0
	}
	if d.procs > d.pol.Min && used < d.pol.LowerAt*(p-1) {
		d.cold++
	} else {
		d.cold = 0
	}
	if d.procs > d.pol.Min && idle < d.pol.ContendedIdle && used <= p-d.pol.ContendedSlack {
		d.crowded++
	} else {
		d.crowded = 0
	}

	switch {
	case d.hot >= d.pol.RaiseAfter:
		// Grow by what the machine has idle, at most doubling.
		step := d.procs
		if !math.IsInf(idle, 1) {
			step = min(step, max(1, int(idle)))
		}
		d.procs = min(limit, d.procs+step)
		d.reset()
	case d.cold >= d.pol.LowerAfter:
		// Shrink to what the use needs at the lowering share.
		want := max(d.pol.Min, int(math.Ceil(used/d.pol.RaiseAt)))
		d.procs = max(d.pol.Min, min(d.procs-1, want))
		d.cooldown = d.pol.Cooldown
		d.reset()
	case d.crowded >= d.pol.LowerAfter:
		d.procs--
		d.reset()
		d.wait = d.cooldown
		d.cooldown = min(2*d.cooldown, max(d.pol.MaxCooldown, d.pol.Cooldown))
	}
	return d.procs
}

func (d *Decider) reset() { d.hot, d.cold, d.crowded = 0, 0, 0 }
