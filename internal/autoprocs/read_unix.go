//go:build unix

package autoprocs

import (
	"runtime"
	"syscall"
	"time"
)

// startProcs is Go's default GOMAXPROCS at start, read before anyone sets
// it: it already follows the CPU affinity and a cgroup v1 or v2 quota.
var startProcs = runtime.GOMAXPROCS(0)

// ReadSystem reads the process's CPU time (getrusage), the machine's idle
// time (/proc/stat, Linux only) and the CPU limit.
func ReadSystem() (Reading, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return Reading{}, err
	}
	return Reading{
		At:      time.Now(),
		ProcCPU: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		IdleCPU: machineIdle(),
		Limit:   cpuLimit(min(runtime.NumCPU(), startProcs)),
	}, nil
}
