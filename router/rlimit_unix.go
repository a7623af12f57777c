//go:build unix

package router

import "syscall"

// openFileLimit returns the soft RLIMIT_NOFILE (Go raises it to the hard
// limit at start-up), or false when there is none.
func openFileLimit() (int64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<40 { // RLIM_INFINITY too
		return 0, false
	}
	return int64(rl.Cur), true
}
