//go:build !unix

package testenv

import (
	"errors"
	"os"
	"runtime"
	"syscall"
)

// Outside Unix there are no process groups or job-control signals: the
// package builds (so that packages whose tests use it can be vetted for
// every platform), kills the server process alone, and cannot pause it.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// signalGroup can only kill.
func signalGroup(pid int, sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return killGroup(pid)
	}
	return errors.New("signals are not supported on " + runtime.GOOS)
}

var errNoPause = errors.New("pausing a process is not supported on " + runtime.GOOS)

func stopGroup(int) error { return errNoPause }

func contGroup(int) error { return errNoPause }
