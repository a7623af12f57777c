package testenv

import "syscall"

// sysProcAttr puts the child in its own process group, so a signal reaches
// everything it forks, and asks the kernel to SIGKILL it if the test binary
// dies without running t.Cleanup (for example on a -timeout panic).
//
// Pdeathsig fires when the OS thread that forked the child exits; the Go
// runtime only retires threads whose goroutine exits while locked with
// runtime.LockOSThread, which this package never does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
