package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Error is an error reply, e.g. "ERR unknown command" (no '-', no CRLF).
type Error string

// Error returns the reply text.
func (e Error) Error() string { return string(e) }

// Limits of ReadValue: what a reply may announce before it is refused, so a
// corrupt length cannot make it allocate gigabytes or recurse without end.
const (
	maxDecodeArray = 1 << 24
	maxDecodeDepth = 1000
)

// ReadValue reads one reply from r and decodes it into Go values: string for
// simple, bulk and verbatim strings and big numbers; int64; float64 for
// doubles; bool; nil for every null; Error for error replies (at the top and
// inside aggregates); []any for arrays, sets, pushes and maps (maps
// flattened to key, value, ... as RESP2 sends them). Attributes are read and
// dropped. It is meant for replies inspected off the hot path; the hot path
// keeps raw replies (ReadReply).
func ReadValue(r *bufio.Reader) (any, error) { return readValue(r, 0) }

// Decode is ReadValue on one complete raw reply (as ReadReply returns it);
// bytes after the reply are an error.
func Decode(raw []byte) (any, error) {
	r := bufio.NewReader(bytes.NewReader(raw))
	v, err := ReadValue(r)
	if err != nil {
		return nil, err
	}
	// Not r.Buffered(): a long bulk string is read past the buffer, so
	// bytes after it may still be in the underlying reader.
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, errors.New("trailing bytes after reply")
	}
	return v, nil
}

func readValue(r *bufio.Reader, depth int) (any, error) {
	if depth > maxDecodeDepth {
		return nil, errors.New("reply nested too deep")
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+', '(':
		return body, nil
	case '-':
		return Error(body), nil
	case ':':
		n, ok := ParseInt([]byte(body))
		if !ok {
			return nil, fmt.Errorf("malformed integer %q", line)
		}
		return n, nil
	case '_':
		return nil, nil
	case '#':
		switch body {
		case "t":
			return true, nil
		case "f":
			return false, nil
		}
		return nil, fmt.Errorf("malformed boolean %q", line)
	case ',':
		switch body {
		case "inf":
			return math.Inf(1), nil
		case "-inf":
			return math.Inf(-1), nil
		}
		f, err := strconv.ParseFloat(body, 64)
		if err != nil {
			return nil, fmt.Errorf("malformed double %q", line)
		}
		return f, nil
	}
	n, ok := ParseInt([]byte(body))
	if !ok || n < -1 {
		return nil, fmt.Errorf("malformed length %q", line)
	}
	switch kind {
	case '$', '=', '!':
		if n == -1 {
			return nil, nil
		}
		if n > MaxBulk {
			return nil, fmt.Errorf("length %d too large", n)
		}
		// Allocate what arrives, not what is announced: a short input that
		// declares a 512 MB string must not cost 512 MB.
		var buf []byte
		if n <= 64<<10 {
			buf = make([]byte, n+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF // the header promised bytes
				}
				return nil, err
			}
		} else {
			var b bytes.Buffer
			if _, err := io.CopyN(&b, r, int64(n)+2); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
			buf = b.Bytes()
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return nil, fmt.Errorf("bulk string of length %d not followed by CRLF", n)
		}
		s := string(buf[:n])
		switch kind {
		case '!':
			return Error(s), nil
		case '=':
			if len(s) < 4 || s[3] != ':' {
				return nil, fmt.Errorf("malformed verbatim string %q", s)
			}
			return s[4:], nil
		}
		return s, nil
	case '*', '~', '>', '%', '|':
		if n == -1 {
			return nil, nil
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		if n > maxDecodeArray {
			return nil, fmt.Errorf("length %d too large", n)
		}
		// Grow as elements arrive: the announced length is untrusted.
		arr := make([]any, 0, min(n, 1024))
		for range n {
			v, err := readValue(r, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		if kind == '|' {
			return readValue(r, depth) // an attribute precedes the reply it describes
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unexpected reply type %q", line)
}
