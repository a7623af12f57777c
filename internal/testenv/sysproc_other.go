//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts the child in its own process group, so a signal reaches
// everything it forks. Outside Linux there is no Pdeathsig: a test binary
// killed without running t.Cleanup can leave servers behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
