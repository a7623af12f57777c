package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Daemonizing (-d). A Go program cannot fork safely, so the parent starts
// itself again in a new session with the same arguments and daemonEnv set,
// waits until the child reports that it serves (or fails), and exits 0 (or
// 1). Unlike nutcracker, whose parent exits before the child has bound its
// ports, a zero exit here means the proxy is serving, so an init script can
// trust it. The child keeps the working directory, so relative -c, -p and -o
// paths mean what they meant on the command line.
const (
	daemonEnv = "SHARDPROXY_DAEMON_CHILD"
	// daemonReadyFD is the child's end of the readiness pipe.
	daemonReadyFD = 3
	// daemonStartTimeout bounds the parent's wait for the child.
	daemonStartTimeout = 60 * time.Second
	daemonReady        = "ready"
)

// daemonChild returns the readiness pipe when this process is the child of
// -d, else nil.
func daemonChild() *os.File {
	if os.Getenv(daemonEnv) != "1" {
		return nil
	}
	return os.NewFile(daemonReadyFD, "daemon-ready")
}

// notifyReady tells the waiting parent that the proxy serves, or why it
// failed, and closes the pipe. Nil f (not a daemon child) does nothing.
func notifyReady(f *os.File, err error) {
	if f == nil {
		return
	}
	if err != nil {
		fmt.Fprintf(f, "error: %v\n", err)
	} else {
		fmt.Fprintln(f, daemonReady)
	}
	_ = f.Close()
}

// daemonize starts the detached child and waits for its report. It returns
// the parent's exit status.
func daemonize(args []string, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "shardproxy: daemonize:", err)
		return 1
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(stderr, "shardproxy: daemonize:", err)
		return 1
	}
	defer r.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	// Stdin, stdout and stderr are /dev/null, as for nutcracker's daemon;
	// logs go to -o.
	err = detach(cmd)
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		w.Close()
		fmt.Fprintln(stderr, "shardproxy: daemonize:", err)
		return 1
	}
	w.Close()

	report := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		report <- strings.TrimSpace(line)
	}()
	select {
	case line := <-report:
		if line == daemonReady {
			_ = cmd.Process.Release()
			return 0
		}
		// The child failed (and said why) or exited without a word.
		werr := cmd.Wait()
		if line == "" {
			line = fmt.Sprintf("exited before serving (%v); see the log file (-o)", werr)
		}
		fmt.Fprintln(stderr, "shardproxy: daemon failed to start:", strings.TrimPrefix(line, "error: "))
		return 1
	case <-time.After(daemonStartTimeout):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-report
		fmt.Fprintf(stderr, "shardproxy: daemon not serving after %v; killed it\n", daemonStartTimeout)
		return 1
	}
}
