package load

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
)

// ReplyError is an error reply ("-ERR ...") from the server.
type ReplyError struct {
	// Msg is the reply without the leading '-'.
	Msg string
}

func (e *ReplyError) Error() string { return "server replied -" + e.Msg }

// errProtocol marks a malformed reply.
var errProtocol = errors.New("load: malformed RESP reply")

// appendCommand appends args as a RESP array of bulk strings.
func appendCommand(b []byte, args ...[]byte) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// appendSet appends "SET <prefix><i> <value>".
func appendSet(b []byte, prefix string, i int, value []byte) []byte {
	var key [64]byte
	k := strconv.AppendInt(append(key[:0], prefix...), int64(i), 10)
	return appendCommand(b, []byte("SET"), k, value)
}

// readLine returns one CRLF-terminated line without the CRLF. The slice is
// valid until the next read.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	return line[:len(line)-2], nil
}

// skipReply reads one complete reply and discards it. An error reply is
// returned as *ReplyError after it has been consumed, so the stream stays
// in step.
func skipReply(r *bufio.Reader) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	switch line[0] {
	case '+', ':':
		return nil
	case '-':
		return &ReplyError{Msg: string(line[1:])}
	case '$':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return errProtocol
		}
		if n < 0 {
			return nil
		}
		if _, err := r.Discard(n + 2); err != nil {
			return err
		}
		return nil
	case '*':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return errProtocol
		}
		var first error
		for range n {
			if err := skipReply(r); err != nil {
				var re *ReplyError
				if !errors.As(err, &re) {
					return err
				}
				if first == nil {
					first = err
				}
			}
		}
		return first
	}
	return fmt.Errorf("%w: type byte %q", errProtocol, line[0])
}

// expectOK reads one reply and requires it to be +OK.
func expectOK(r *bufio.Reader) error {
	line, err := readLine(r)
	if err != nil {
		return err
	}
	if string(line) == "+OK" {
		return nil
	}
	if line[0] == '-' {
		return &ReplyError{Msg: string(line[1:])}
	}
	return fmt.Errorf("load: got %q, want +OK", line)
}
