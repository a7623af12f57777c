//go:build unix

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// notifySignals are the signals run handles: SIGHUP reloads, SIGUSR1
// (reopenSignal) reopens the log file, SIGINT and SIGTERM stop.
var notifySignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1}

var reloadSignal, reopenSignal os.Signal = syscall.SIGHUP, syscall.SIGUSR1

// detach makes the -d child a session of its own, away from the terminal.
func detach(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return nil
}
