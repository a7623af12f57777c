//go:build unix

package testenv

import "syscall"

// The process-group signals of this package. A negative pid names the whole
// group, including anything the server forked (redis forks for BGSAVE and
// full resyncs).

func killGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGKILL) }

func stopGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGSTOP) }

func contGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGCONT) }

func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
