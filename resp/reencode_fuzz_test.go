package resp

import (
	"bufio"
	"bytes"
	"strconv"
	"testing"
)

// refNode is one RESP value as the reference parser reads it: its type
// byte, the rest of its first line, a bulk payload, and its elements.
type refNode struct {
	typ     byte
	line    []byte
	payload []byte // bulk types with a length >= 0
	bulk    bool
	elems   []*refNode
}

// refInt is Redis's string2ll by its definition: the canonical decimal
// form of an int64 ("-0", "+1", "01" are not).
func refInt(b []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil && strconv.FormatInt(n, 10) == string(b) && string(b) != "-0"
}

// refParse reads one value at the start of b, recursively, straight from
// the RESP2/RESP3 grammar. It returns the value, the bytes it took, and
// false when b does not start with a complete, well-formed value.
func refParse(b []byte) (*refNode, int, bool) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 2 || b[nl-1] != '\r' {
		return nil, 0, false
	}
	v := &refNode{typ: b[0], line: b[1 : nl-1]}
	pos := nl + 1
	switch v.typ {
	case '+', '-', ':', '_', ',', '#', '(':
		return v, pos, true
	case '$', '=', '!':
		n, ok := refInt(v.line)
		if !ok {
			return nil, 0, false
		}
		if n < 0 {
			return v, pos, true
		}
		if n > MaxBulk || int64(len(b)-pos) < n+2 || b[pos+int(n)] != '\r' || b[pos+int(n)+1] != '\n' {
			return nil, 0, false
		}
		v.bulk, v.payload = true, b[pos:pos+int(n)]
		return v, pos + int(n) + 2, true
	case '*', '~', '>', '%', '|':
		n, ok := refInt(v.line)
		if !ok {
			return nil, 0, false
		}
		if v.typ == '%' || v.typ == '|' {
			n *= 2
		}
		for i := int64(0); i < n; i++ {
			e, used, ok := refParse(b[pos:])
			if !ok {
				return nil, 0, false
			}
			v.elems = append(v.elems, e)
			pos += used
		}
		return v, pos, true
	}
	return nil, 0, false
}

// encode writes v back in RESP.
func (v *refNode) encode(dst []byte) []byte {
	dst = append(append(append(dst, v.typ), v.line...), '\r', '\n')
	if v.bulk {
		dst = append(append(dst, v.payload...), '\r', '\n')
	}
	for _, e := range v.elems {
		dst = e.encode(dst)
	}
	return dst
}

// FuzzReadReplyReencode compares ReadReply with a reference parser written
// from the grammar: both accept the same inputs, ReadReply returns exactly
// the bytes of the first value (not less: a reader that stops after an
// array header fails here), and those bytes, parsed and encoded again,
// are the same bytes.
func FuzzReadReplyReencode(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "-ERR x\r\n", ":-12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n",
		"*2\r\n:1\r\n$-1\r\n", "*2\r\n*1\r\n+a\r\n$2\r\nbc\r\n+next\r\n", "%1\r\n+a\r\n:1\r\n",
		"|1\r\n+a\r\n#t\r\n_\r\n", "~2\r\n,1.5\r\n(123\r\n", ">2\r\n$7\r\nmessage\r\n=7\r\ntxt:abc\r\n",
		"!5\r\nERR x\r\n", "*3\r\n", "$-5\r\n", "$01\r\na\r\n", "*+1\r\n:1\r\n", "$3\r\nabc", "+a\rb\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if announcesMoreThan(in, len(in)) {
			return // ReadReply would allocate the announced size first
		}
		got, err := ReadReply(bufio.NewReaderSize(bytes.NewReader(in), 16), nil)
		ref, n, ok := refParse(in)
		if ok != (err == nil) {
			t.Fatalf("ReadReply(%q) = %q, %v; the reference parser says complete=%v (%d bytes)", in, got, err, ok, n)
		}
		if !ok {
			return
		}
		if len(got) != n || !bytes.Equal(got, in[:n]) {
			t.Fatalf("ReadReply(%q) returned %q, the first value is %q", in, got, in[:n])
		}
		again, m, ok := refParse(got)
		if !ok || m != len(got) {
			t.Fatalf("ReadReply's bytes %q are not one whole value", got)
		}
		if enc := again.encode(nil); !bytes.Equal(enc, got) {
			t.Fatalf("re-encoded %q, read %q", enc, got)
		}
		if enc := ref.encode(nil); !bytes.Equal(enc, got) {
			t.Fatalf("re-encoded %q, read %q", enc, got)
		}
	})
}

// announcesMoreThan reports whether a line of b announces a bulk longer
// than limit: such a value can never complete within b.
func announcesMoreThan(b []byte, limit int) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) > 1 && (line[0] == '$' || line[0] == '=' || line[0] == '!') {
			if n, ok := refInt(bytes.TrimSuffix(line[1:], []byte("\r"))); ok && n > int64(limit) {
				return true
			}
		}
	}
	return false
}
