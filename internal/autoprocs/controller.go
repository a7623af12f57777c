package autoprocs

import (
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// Reading is one reading of the cumulative counters a Sample is the
// difference of.
type Reading struct {
	At      time.Time
	ProcCPU time.Duration // user+system CPU of the process since it started
	IdleCPU time.Duration // idle CPU of the machine since boot; negative if unknown
	Limit   int           // see Sample.Limit
}

// Options configure a Controller. Zero fields take defaults.
type Options struct {
	// Interval between samples; default 500 ms.
	Interval time.Duration
	// Policy; default DefaultPolicy().
	Policy *Policy
	// Read takes a reading; default ReadSystem (getrusage, /proc/stat and
	// the cgroup CPU quota).
	Read func() (Reading, error)
	// Set applies a decision; default runtime.GOMAXPROCS.
	Set func(n int)
	// OnChange, if not nil, is called with every value applied, the
	// first one included (for a metric).
	OnChange func(n int)
	// Log, if not nil, gets one debug line per change.
	Log *slog.Logger
}

// Controller samples and sets GOMAXPROCS until Stop.
type Controller struct {
	opt  Options
	dec  *Decider
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu    sync.Mutex
	procs int
}

// Supported reports whether this platform can run a controller (it can
// read the process's CPU time). When it cannot, the proxy keeps Go's default.
func Supported() bool {
	_, err := ReadSystem()
	return err == nil
}

// Start applies the policy's minimum at once and starts the sampling
// goroutine; the caller owns it and must call Stop.
func Start(opt Options) *Controller {
	if opt.Interval <= 0 {
		opt.Interval = 500 * time.Millisecond
	}
	pol := DefaultPolicy()
	if opt.Policy != nil {
		pol = *opt.Policy
	}
	if opt.Read == nil {
		opt.Read = ReadSystem
	}
	if opt.Set == nil {
		opt.Set = func(n int) { runtime.GOMAXPROCS(n) }
	}
	c := &Controller{opt: opt, dec: NewDecider(pol), stop: make(chan struct{}), done: make(chan struct{})}
	c.apply(c.dec.Procs())
	go c.loop()
	return c
}

// Procs returns the value last applied.
func (c *Controller) Procs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs
}

// Stop ends the sampling goroutine and waits for it. GOMAXPROCS stays as
// last set. Safe to call more than once.
func (c *Controller) Stop() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

func (c *Controller) apply(n int) {
	c.mu.Lock()
	old := c.procs
	c.procs = n
	c.mu.Unlock()
	if n == old {
		return
	}
	c.opt.Set(n)
	if c.opt.OnChange != nil {
		c.opt.OnChange(n)
	}
	if c.opt.Log != nil && old != 0 {
		c.opt.Log.Debug("GOMAXPROCS changed", "from", old, "to", n)
	}
}

func (c *Controller) loop() {
	defer close(c.done)
	t := time.NewTicker(c.opt.Interval)
	defer t.Stop()
	prev, err := c.opt.Read()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		cur, rerr := c.opt.Read()
		if rerr != nil {
			err = rerr
			continue
		}
		if err != nil { // no baseline yet
			prev, err = cur, nil
			continue
		}
		c.apply(c.dec.Next(Diff(prev, cur)))
		prev = cur
	}
}

// Diff is the sample between two readings.
func Diff(prev, cur Reading) Sample {
	s := Sample{
		Wall:    cur.At.Sub(prev.At),
		ProcCPU: cur.ProcCPU - prev.ProcCPU,
		IdleCPU: -1,
		Limit:   cur.Limit,
	}
	if prev.IdleCPU >= 0 && cur.IdleCPU >= 0 {
		s.IdleCPU = cur.IdleCPU - prev.IdleCPU
	}
	return s
}
