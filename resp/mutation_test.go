package resp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
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
// limit); one byte more is refused as too large. A bulk this long is read as
// it arrives, so nothing near 512 MB is allocated.
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

// Counts near int64's limits: the element count must not overflow into a
// negative number of pending elements, which would end the read early and
// return an incomplete reply as if it were whole (the rest of it then read
// as the next reply). Each announces more than maxAggregated elements at
// once; a map of exactly 2^31 entries (2^32 elements) is within the limit.
func TestReadReplyAggregateOverflow(t *testing.T) {
	for _, in := range []string{
		"*2\r\n*9223372036854775807\r\n", "%4611686018427387904\r\n", "*2\r\n%4611686018427387904\r\n",
		"%2147483649\r\n", "*2\r\n*4294967296\r\n", "|2147483649\r\n",
	} {
		raw, err := ReadReply(bufio.NewReader(strings.NewReader(in)), nil)
		if !errors.Is(err, ErrDeepReply) {
			t.Errorf("ReadReply(%q) = %q, %v; want ErrDeepReply", in, raw, err)
		}
	}
	if _, err := ReadReply(bufio.NewReader(strings.NewReader("%2147483648\r\n")), nil); err == nil || errors.Is(err, ErrDeepReply) {
		t.Fatalf("a map of 2^31 entries: %v, want a short read", err)
	}
}

// A reply line holds at least its type byte: an empty line is refused at
// the top and inside an aggregate, a line of only the type byte is read.
func TestReadReplyEmptyLine(t *testing.T) {
	for _, in := range []string{"\r\n", "\n", "*1\r\n\r\n", "*2\r\n:1\r\n\r\n"} {
		if raw, err := ReadReply(bufio.NewReader(strings.NewReader(in)), nil); !errors.Is(err, ErrBadReply) {
			t.Errorf("ReadReply(%q) = %q, %v; want ErrBadReply", in, raw, err)
		}
	}
	for _, in := range []string{"_\r\n", "*1\r\n_\r\n", "*2\r\n+\r\n-\r\n"} {
		if raw, err := ReadReply(bufio.NewReader(strings.NewReader(in)), nil); err != nil || string(raw) != in {
			t.Errorf("ReadReply(%q) = %q, %v", in, raw, err)
		}
	}
}

// A reply line longer than maxLine is refused (ErrBadReply): the reader
// checks each time its buffer fills, so with a 16-byte buffer and a limit
// of 32 a line reaching exactly 32 bytes at a check still goes on; the
// limit counts the line, not the bytes dst held before it.
func TestReadReplyLineLimit(t *testing.T) {
	defer func(old int) { maxLine = old }(maxLine)
	maxLine = 32
	read := func(dst []byte, in string) ([]byte, error) {
		return ReadReply(bufio.NewReaderSize(strings.NewReader(in), 16), dst)
	}
	long := "+" + strings.Repeat("x", 37) + "\r\n" // 32 bytes at the second check
	if raw, err := read(nil, long); err != nil || string(raw) != long {
		t.Fatalf("a line of %d bytes: %q, %v", len(long), raw, err)
	}
	prefix := strings.Repeat("p", 40)
	if raw, err := read([]byte(prefix), long); err != nil || string(raw) != prefix+long {
		t.Fatalf("a line of %d bytes after %d in dst: %q, %v", len(long), len(prefix), raw, err)
	}
	tooLong := "+" + strings.Repeat("x", 47) + "\r\n" // 48 bytes at the third check
	if raw, err := read(nil, tooLong); !errors.Is(err, ErrBadReply) {
		t.Fatalf("a line of %d bytes: %q, %v; want ErrBadReply", len(tooLong), raw, err)
	}
	if raw, err := read(nil, "*1\r\n"+tooLong); !errors.Is(err, ErrBadReply) {
		t.Fatalf("an element line of %d bytes: %q, %v; want ErrBadReply", len(tooLong), raw, err)
	}
}

// ValueLen on values whole, cut short, corrupt or announcing more than b
// holds (lengths near int64's limits must not wrap around into a "complete"
// value or a panic).
func TestValueLenCorners(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{"+OK\r\n", 5}, {"+\r\n", 3}, {"_\r\n", 3}, {"$0\r\n\r\n", 6}, {"$1\r\na\r\n", 7},
		{"$-1\r\n", 5}, {"*-1\r\n", 5}, {"*0\r\n", 4}, {"%0\r\n", 4}, {"%-1\r\n", 5},
		{"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n", 20}, {"~2\r\n:1\r\n:2\r\n", 12},
		{"*1\r\n$1\r\na\r\n+next\r\n", 11}, {"=5\r\ntxt:x\r\n", 11}, {"!1\r\nE\r\n", 7},
		{"", -1}, {"+OK", -1}, {"+OK\r", -1}, {":1\r", -1}, {"\r\n", -1}, {"\r\r\n", -1},
		{"?x\r\n", -1}, {"$x\r\n", -1}, {"*x\r\n", -1}, {"%x\r\n", -1},
		{"$5\r\nab\r\n", -1}, {"$5\r\nabc\r\n", -1}, {"$1\r\na", -1}, {"$1\r\na\r", -1},
		{"*2\r\n:1\r\n", -1}, {"%1\r\n+a\r\n", -1},
		{"$9223372036854775807\r\n", -1}, {"*1\r\n$9223372036854775806\r\nab", -1},
		{"*2\r\n*9223372036854775807\r\n", -1}, {"*2\r\n%4611686018427387904\r\n", -1},
	} {
		if got := ValueLen([]byte(tt.in)); got != tt.want {
			t.Errorf("ValueLen(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// The value helpers on their corner cases: an empty bulk, an integer line
// without its CRLF or its digits, a reply of another type.
func TestValueHelpersCorners(t *testing.T) {
	if b, ok := BulkValue([]byte("$0\r\n\r\n")); !ok || b == nil || len(b) != 0 {
		t.Errorf("BulkValue of an empty bulk = %q, %v", b, ok)
	}
	if b, ok := BulkValue([]byte("$3\r\nabc\r\n")); !ok || string(b) != "abc" {
		t.Errorf("BulkValue = %q, %v", b, ok)
	}
	if b, ok := TextValue([]byte("=4\r\ntxt:\r\n")); !ok || b == nil || len(b) != 0 {
		t.Errorf("TextValue of an empty verbatim string = %q, %v", b, ok)
	}
	for _, in := range []string{
		"$3\r\nabc", "$3\r\nabc\r", "$9223372036854775807\r\n", "$9223372036854775803\r\nabc\r\n",
		"=4\r\ntxt:", "=5\r\ntxt:x\r", "=9223372036854775807\r\ntxt:x\r\n", "=4\r\ntxtx\r\n",
	} {
		if b, ok := TextValue([]byte(in)); ok {
			t.Errorf("TextValue(%q) = %q, accepted", in, b)
		}
	}
	for _, tt := range []struct {
		in string
		n  int64
		ok bool
	}{
		{":12\r\n", 12, true}, {":-1\r\n", -1, true}, {":0\r\n", 0, true},
		{"", 0, false}, {":", 0, false}, {":\r\n", 0, false}, {":12", 0, false}, {":1x\r\n", 0, false},
		{"+12\r\n", 0, false}, {"$2\r\n12\r\n", 0, false},
	} {
		if n, ok := IntValue([]byte(tt.in)); n != tt.n || ok != tt.ok {
			t.Errorf("IntValue(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
		}
	}
	for _, in := range []string{"*", "*1", "*1\r", "=", "=4\r", "$", "$1\r"} {
		if elems, ok := ArrayElems(nil, []byte(in)); ok {
			t.Errorf("ArrayElems(%q) = %q, accepted", in, elems)
		}
		if b, ok := TextValue([]byte(in)); ok {
			t.Errorf("TextValue(%q) = %q, accepted", in, b)
		}
	}
	if elems, ok := ArrayElems(nil, []byte("*2\r\n$-1\r\n%1\r\n+k\r\n$0\r\n\r\n")); !ok || len(elems) != 2 || string(elems[1]) != "%1\r\n+k\r\n$0\r\n\r\n" {
		t.Errorf("ArrayElems = %q, %v", elems, ok)
	}
}

// ReadValue allocates what arrives, not what a header announces: a bulk
// that announces 512 MB on a short input costs kilobytes, and a bulk up to
// 64 KB is read into one buffer of its size (a few allocations in all,
// where reading it as it arrives would grow a buffer many times).
func TestDecodeBulkAllocation(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Decode([]byte("$536870912\r\nabc"))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a 512 MB header on 3 bytes: %v, want a short read", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("a 512 MB header on 3 bytes allocated %d bytes", n)
	}
	for _, size := range []int{1, 64 << 10} {
		raw := []byte("$" + strconv.Itoa(size) + "\r\n" + strings.Repeat("x", size) + "\r\n")
		allocs := testing.AllocsPerRun(10, func() {
			if v, err := Decode(raw); err != nil || len(v.(string)) != size {
				t.Fatalf("bulk of %d bytes: %v", size, err)
			}
		})
		if allocs > 10 {
			t.Errorf("decoding a bulk of %d bytes: %v allocations", size, allocs)
		}
	}
}

// AppendDouble writes infinities and NaN as Redis does (redis-server 7.0's
// HELLO 3 ZSCORE answers ",inf", ",-inf"); -Inf must not fall through to
// strconv's "-Inf".
func TestAppendDoubleSpecials(t *testing.T) {
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{math.Inf(1), ",inf\r\n"}, {math.Inf(-1), ",-inf\r\n"}, {math.NaN(), ",nan\r\n"}, {1.5, ",1.5\r\n"}, {-2, ",-2\r\n"},
	} {
		if got := string(AppendDouble(nil, tt.f)); got != tt.want {
			t.Errorf("AppendDouble(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}
