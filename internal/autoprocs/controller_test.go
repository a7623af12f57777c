package autoprocs

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The controller, reading this process's real CPU time, really raises
// runtime.GOMAXPROCS while goroutines burn CPU and lowers it again when they
// stop. The machine's idle time is not required (IdleNeeded 0, contention
// rule off): the test machine is shared, and the decision rules on it have
// their own tests above.
func TestControllerFollowsRealLoad(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })

	pol := DefaultPolicy()
	pol.RaiseAt = 0.25 // a shared machine may give the spinners little
	pol.IdleNeeded = 0
	pol.ContendedIdle = 0
	pol.LowerAt = 0.9 // two P-less and the spinners are gone: well under
	pol.LowerAfter = 3
	var changes []int
	var mu sync.Mutex
	c := Start(Options{
		Interval: 100 * time.Millisecond,
		Policy:   &pol,
		Read: func() (Reading, error) {
			r, err := ReadSystem()
			r.Limit = 2 // one CPU or many: the test wants room for a raise
			return r, err
		},
		OnChange: func(n int) { mu.Lock(); changes = append(changes, n); mu.Unlock() },
	})
	defer c.Stop()

	if got := runtime.GOMAXPROCS(0); got != 1 || c.Procs() != 1 {
		t.Fatalf("after Start: GOMAXPROCS %d, Procs %d; want 1", got, c.Procs())
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for !stop.Load() {
				for j := 0; j < 1000; j++ {
					x += j
				}
			}
			_ = x
		}()
	}
	waitFor(t, "GOMAXPROCS 2 under load", func() bool { return runtime.GOMAXPROCS(0) == 2 })
	stop.Store(true)
	wg.Wait()
	waitFor(t, "GOMAXPROCS 1 when idle", func() bool { return runtime.GOMAXPROCS(0) == 1 })
	c.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(changes) < 3 || changes[0] != 1 || changes[1] != 2 || changes[len(changes)-1] != 1 {
		t.Fatalf("OnChange saw %v, want 1, 2, ..., 1", changes)
	}
}

func TestStopTwice(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	c := Start(Options{Interval: time.Millisecond})
	c.Stop()
	c.Stop()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
