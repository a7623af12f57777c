package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// The nesting limit of ReadValue is exact: a value 1000 aggregates deep
// decodes, one more level is refused. Kills the boundary mutant of the
// depth check that make mutate found alive.
func TestDecodeDepthBoundary(t *testing.T) {
	nested := func(n int) []byte { return []byte(strings.Repeat("*1\r\n", n) + ":1\r\n") }
	v, err := Decode(nested(maxDecodeDepth))
	if err != nil {
		t.Fatalf("a value %d deep: %v", maxDecodeDepth, err)
	}
	for range maxDecodeDepth {
		a, ok := v.([]any)
		if !ok || len(a) != 1 {
			t.Fatalf("decoded shape %T", v)
		}
		v = a[0]
	}
	if v != int64(1) {
		t.Fatalf("innermost value %v", v)
	}
	if _, err := Decode(nested(maxDecodeDepth + 1)); err == nil || !strings.Contains(err.Error(), "nested too deep") {
		t.Fatalf("a value %d deep: %v, want refused", maxDecodeDepth+1, err)
	}
}

// A bulk of exactly MaxBulk is within the limit (the reader then waits for
// its bytes: here the input ends, so the error is a short read, not the
// limit); one byte more is refused as too large. The 512 MB buffer is
// allocated but never touched.
func TestDecodeBulkLimitBoundary(t *testing.T) {
	_, err := Decode([]byte("$536870912\r\n"))
	if err == nil || strings.Contains(err.Error(), "too large") {
		t.Fatalf("a bulk of exactly %d bytes: %v, want a short read", MaxBulk, err)
	}
	_, err = Decode([]byte("$536870913\r\n"))
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("a bulk of %d bytes: %v, want refused as too large", MaxBulk+1, err)
	}
}

// A verbatim string with an empty text ("txt:" and nothing) is the empty
// string, and three bytes cannot hold the format: kills the boundary
// mutant of the length check that make mutate found alive.
func TestDecodeVerbatimBoundary(t *testing.T) {
	if v, err := Decode([]byte("=4\r\ntxt:\r\n")); err != nil || v != "" {
		t.Fatalf("empty verbatim string: %q, %v", v, err)
	}
	if v, err := Decode([]byte("=5\r\nmkd:x\r\n")); err != nil || v != "x" {
		t.Fatalf("verbatim string: %q, %v", v, err)
	}
	if _, err := Decode([]byte("=3\r\ntxt\r\n")); err == nil {
		t.Fatal("a verbatim string without its format was accepted")
	}
}

// Twenty digits can exceed uint64: the overflow checks must refuse a value
// that would wrap around to a small one (2^64 would read as 0). Kills the
// arithmetic mutants of those checks that make mutate found alive.
func TestParseIntWrapAround(t *testing.T) {
	for _, s := range []string{
		"18446744073709551616", "18446744073709551619", "36893488147419103232",
		"99999999999999999999", "-18446744073709551616", "-99999999999999999999",
	} {
		if n, ok := ParseInt([]byte(s)); ok {
			t.Errorf("ParseInt(%q) = %d, want refused", s, n)
		}
	}
}

// nocase folds exactly the letters A to Z, as Redis's tolower does in the C
// locale: 'A' and 'Z' fold, the bytes just outside ('@' before 'A', '['
// after 'Z') do not, though they are 32 away from '`' and '{'. Kills the
// boundary mutants of lowerASCII's range check.
func TestMatchNocaseFoldsExactlyAToZ(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"a", "A", true}, {"A", "a", true}, {"z", "Z", true}, {"Z", "z", true},
		{"`", "@", false}, {"@", "`", false}, {"{", "[", false}, {"[[]", "{", false},
		{"[a-c]", "A", true}, {"[x-z]", "Z", true},
	} {
		if got := Match([]byte(tt.pat), []byte(tt.s), true); got != tt.want {
			t.Errorf("Match(%q, %q, nocase) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

// A bulk string cut short after its header, with none or some of its bytes,
// is io.ErrUnexpectedEOF whatever its announced length (small strings are
// read at once, large ones as they arrive: the two ways give the same
// result).
func TestDecodeTruncatedBulk(t *testing.T) {
	for _, n := range []int{5, 64<<10 - 1, 64 << 10, 64<<10 + 1} {
		for _, body := range []string{"", "ab"} {
			_, err := Decode([]byte("$" + strconv.Itoa(n) + "\r\n" + body))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("$%d with %d bytes: %v, want %v", n, len(body), err, io.ErrUnexpectedEOF)
			}
		}
	}
}

// A complete bulk string longer than 64 KB (read as it arrives) decodes to
// its bytes, as a short one does, and the bytes after it are the next reply.
func TestDecodeLargeBulk(t *testing.T) {
	for _, n := range []int{64 << 10, 64<<10 + 1, 200 << 10} {
		s := strings.Repeat("x", n-1) + "y"
		v, err := Decode([]byte("$" + strconv.Itoa(n) + "\r\n" + s + "\r\n"))
		if err != nil || v != s {
			t.Fatalf("bulk of %d bytes: %v (%d bytes decoded)", n, err, len(fmt.Sprint(v)))
		}
		if _, err := Decode([]byte("$" + strconv.Itoa(n) + "\r\n" + s + "\r\n:1\r\n")); err == nil {
			t.Fatalf("bulk of %d bytes followed by another reply: accepted as one", n)
		}
	}
}

// An aggregate of exactly maxDecodeArray elements (a map counts two per
// entry) is within the limit: the reader then waits for its elements, here
// a short read; one more is refused as too large.
func TestDecodeArrayLimitBoundary(t *testing.T) {
	for _, hdr := range []string{"*16777216\r\n", "%8388608\r\n"} {
		if _, err := Decode([]byte(hdr)); err == nil || strings.Contains(err.Error(), "too large") {
			t.Errorf("%q: %v, want a short read", hdr, err)
		}
	}
	for _, hdr := range []string{"*16777217\r\n", "%8388609\r\n"} {
		if _, err := Decode([]byte(hdr)); err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("%q: %v, want refused as too large", hdr, err)
		}
	}
}

// Glob corners Redis's KEYS answers so (checked against redis-server 7.0):
// a pattern that ends before the string, an escape inside a class, a class
// left open after a range or an escape. Kills the boundary mutants of the
// loop and class conditions of matchImpl.
func TestMatchClassAndEndCorners(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"", "x", false}, {"ge", "get", false}, {"g", "get", false},
		{`[\]]`, "]", true}, {`[\]]`, "x", false}, {`[\x`, "x", true},
		{"[a-c", "b", true}, {"[a-c", "d", false}, {`[\]`, "]", true}, {`[\]`, `\`, false},
	} {
		if got := Match([]byte(tt.pat), []byte(tt.s), false); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

// The wildcard nesting guard is exact: 1000 nested '*' still match, 1001 do
// not (Redis's stringmatchlen: nesting > 1000).
func TestMatchNestingBoundary(t *testing.T) {
	if !Match([]byte(strings.Repeat("*x", 1000)), []byte(strings.Repeat("x", 1000)), false) {
		t.Error("1000 nested wildcards did not match")
	}
	if Match([]byte(strings.Repeat("*x", 1001)), []byte(strings.Repeat("x", 1001)), false) {
		t.Error("1001 nested wildcards matched")
	}
}

// An empty bulk string is read whole ("$0" and its CRLF), and a bulk of
// exactly MaxBulk is within the limit (a short read here), one more byte is
// ErrLongBulk.
func TestReadReplyEmptyBulkAndLimit(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("$0\r\n\r\n:1\r\n"))
	raw, err := ReadReply(br, nil)
	if err != nil || string(raw) != "$0\r\n\r\n" {
		t.Fatalf("empty bulk: %q, %v", raw, err)
	}
	if raw, err := ReadReply(br, nil); err != nil || string(raw) != ":1\r\n" {
		t.Fatalf("reply after an empty bulk: %q, %v", raw, err)
	}
	if _, err := ReadReply(bufio.NewReader(strings.NewReader("$536870912\r\n")), nil); err == nil || errors.Is(err, ErrLongBulk) {
		t.Fatalf("a bulk of exactly MaxBulk: %v, want a short read", err)
	}
	if _, err := ReadReply(bufio.NewReader(strings.NewReader("$536870913\r\n")), nil); !errors.Is(err, ErrLongBulk) {
		t.Fatalf("a bulk of MaxBulk+1: %v, want ErrLongBulk", err)
	}
}

// ReadReply expects at most maxAggregated elements at once: an array that
// announces exactly that many is read (here a short read), one more is
// ErrDeepReply.
func TestReadReplyAggregateBound(t *testing.T) {
	if _, err := ReadReply(bufio.NewReader(strings.NewReader("*4294967296\r\n")), nil); err == nil || errors.Is(err, ErrDeepReply) {
		t.Fatalf("exactly 2^32 elements: %v, want a short read", err)
	}
	if _, err := ReadReply(bufio.NewReader(strings.NewReader("*4294967297\r\n")), nil); !errors.Is(err, ErrDeepReply) {
		t.Fatalf("2^32+1 elements: %v, want ErrDeepReply", err)
	}
}

// A map counts two elements per entry: ReadReply returns a two-entry map
// whole and stops there. And reading into a dst with exactly enough room
// does not allocate.
func TestReadReplyMapAndRoom(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n:9\r\n"))
	if raw, err := ReadReply(br, nil); err != nil || string(raw) != "%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n" {
		t.Fatalf("two-entry map: %q, %v", raw, err)
	}
	src := strings.NewReader("")
	br = bufio.NewReader(src)
	dst := make([]byte, 0, len("$3\r\nabc\r\n"))
	n := testing.AllocsPerRun(100, func() {
		src.Reset("$3\r\nabc\r\n")
		br.Reset(src)
		dst, _ = ReadReply(br, dst[:0])
	})
	if n != 0 || string(dst) != "$3\r\nabc\r\n" {
		t.Fatalf("ReadReply into a dst with room: %v allocations, %q", n, dst)
	}
}
