package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// commandTimeout bounds one management command sent by this package.
const commandTimeout = 2 * time.Second

// RespError is an error reply from a server, e.g. "ERR unknown command".
type RespError = resp.Error

// Do sends one command to addr on a fresh connection (2 s deadline) and
// returns the RESP2 reply: string for simple and bulk strings, int64, nil for
// a null, []any for arrays (an error element inside an array is a
// RespError value). An error reply is returned as a RespError.
//
// Do sends nothing but the command, so it also works against nutcracker,
// which closes the connection on the HELLO that go-redis v9 sends first.
func Do(addr string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, commandTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, err
	}
	if _, err := conn.Write(resp.AppendCommand(nil, args...)); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(conn))
}

// commandString is command for replies that are strings (status or bulk).
func commandString(addr string, args ...string) (string, error) {
	v, err := Do(addr, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: unexpected reply %T %v", strings.Join(args, " "), v, v)
	}
	return s, nil
}

// readReply reads one reply (resp.ReadValue). Errors inside arrays are
// RespError elements; a RespError at the top level is returned as the error.
func readReply(r *bufio.Reader) (any, error) {
	v, err := resp.ReadValue(r)
	if e, ok := v.(resp.Error); ok && err == nil {
		return nil, e
	}
	return v, err
}

// pingReady returns a readiness probe that succeeds once addr answers PING
// with PONG (a loading Redis answers -LOADING and is not ready yet).
func pingReady(addr string) func() error {
	return func() error {
		s, err := commandString(addr, "PING")
		if err != nil {
			return err
		}
		if s != "PONG" {
			return fmt.Errorf("PING answered %q", s)
		}
		return nil
	}
}

// tcpReady returns a readiness probe that succeeds once addr accepts a TCP
// connection.
func tcpReady(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, commandTimeout)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// httpReady returns a readiness probe that succeeds once url answers 200.
func httpReady(url string) func() error {
	// No keep-alive: an idle connection would outlive the probe as two
	// goroutines and trip goroutine-leak checks.
	client := &http.Client{Timeout: commandTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// infoField returns the value of key in an INFO or CLUSTER INFO text
// ("key:value" lines), or "" when absent.
func infoField(info, key string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r"), key+":"); ok {
			return v
		}
	}
	return ""
}
