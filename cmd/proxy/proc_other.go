//go:build !unix

package main

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// notifySignals: where there is no SIGHUP or SIGUSR1 to send, the proxy
// only stops on a signal (Ctrl-C, or the console closing: SIGTERM).
var notifySignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// reloadSignal and reopenSignal are never delivered here.
var reloadSignal, reopenSignal os.Signal = noSignal("reload"), noSignal("reopen")

// noSignal is a signal no one can send.
type noSignal string

func (s noSignal) String() string { return string(s) }
func (noSignal) Signal()          {}

// detach refuses -d: the child gets its readiness pipe as descriptor 3,
// which exec passes on Unix only.
func detach(*exec.Cmd) error {
	return errors.New("-d needs a Unix system")
}
