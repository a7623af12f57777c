package backend

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
)

// Value is a decoded RESP reply, for the few replies the proxy inspects off
// the hot path (CLUSTER SHARDS, CLUSTER SLOTS): string ([]byte), int64,
// nil, *RedisError or []Value.
type Value any

// RedisError is an error reply.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// Decode parses one raw RESP2 reply (as ReadReply returns it).
func Decode(raw []byte) (Value, error) {
	v, rest, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing bytes after reply")
	}
	return v, nil
}

func decode(b []byte) (Value, []byte, error) {
	end := bytes.Index(b, []byte("\r\n"))
	if end < 1 {
		return nil, nil, errBadReply
	}
	line, rest := b[1:end], b[end+2:]
	switch b[0] {
	case '+':
		return append([]byte(nil), line...), rest, nil
	case '-':
		return RedisError(line), rest, nil
	case ':':
		n, err := strconv.ParseInt(string(line), 10, 64)
		return n, rest, err
	case '$':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return nil, nil, err
		}
		if n < 0 {
			return nil, rest, nil
		}
		if len(rest) < n+2 {
			return nil, nil, errBadReply
		}
		return append([]byte(nil), rest[:n]...), rest[n+2:], nil
	case '*':
		n, err := strconv.Atoi(string(line))
		if err != nil {
			return nil, nil, err
		}
		if n < 0 {
			return nil, rest, nil
		}
		arr := make([]Value, 0, min(n, 1024))
		for i := 0; i < n; i++ {
			var v Value
			v, rest, err = decode(rest)
			if err != nil {
				return nil, nil, err
			}
			arr = append(arr, v)
		}
		return arr, rest, nil
	}
	return nil, nil, errBadReply
}

// roundTrip sends one command on a short-lived reader/writer pair and
// returns its decoded reply.
func roundTrip(bw *bufio.Writer, br *bufio.Reader, args ...string) (Value, error) {
	if _, err := bw.Write(AppendCommand(nil, args...)); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	raw, err := ReadReply(br, nil)
	if err != nil {
		return nil, err
	}
	return Decode(raw)
}
