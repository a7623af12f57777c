package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// commandTimeout bounds one management command sent by this package.
	commandTimeout = 2 * time.Second
	// maxBulkLen and maxArrayLen bound what a reply may announce, so a
	// corrupt length cannot make readReply allocate gigabytes.
	maxBulkLen  = 64 << 20
	maxArrayLen = 1 << 20
)

// RespError is an error reply from a server, e.g. "ERR unknown command".
type RespError string

// Error returns the reply text without the leading '-'.
func (e RespError) Error() string { return string(e) }

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
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
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

// readReply parses one RESP2 reply. Errors inside arrays become RespError
// elements; a RespError at the top level is returned as the error.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, RespError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("malformed length %q", line)
		}
		switch {
		case n < -1:
			return nil, fmt.Errorf("malformed length %q", line)
		case n == -1:
			return nil, nil
		case kind == '$' && n > maxBulkLen, kind == '*' && n > maxArrayLen:
			return nil, fmt.Errorf("length %d too large", n)
		}
		if kind == '$' {
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, err
			}
			if buf[n] != '\r' || buf[n+1] != '\n' {
				return nil, fmt.Errorf("bulk string of length %d not followed by CRLF", n)
			}
			return string(buf[:n]), nil
		}
		// Grow as elements arrive: the announced length is untrusted.
		arr := make([]any, 0, min(n, 1024))
		for range n {
			v, err := readReply(r)
			var re RespError
			if err != nil && !errors.As(err, &re) {
				return nil, err
			}
			if err != nil {
				v = re
			}
			arr = append(arr, v)
		}
		return arr, nil
	default:
		return nil, fmt.Errorf("unexpected reply type %q", line)
	}
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
