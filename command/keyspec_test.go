package command

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestKeySpecShapesAsRedisReadsThem runs the key-spec interpreter on spec
// shapes that the Redis 7.0 table does not use but Redis's interpreter
// (db.c getKeysUsingKeySpecs) and modules' key specs allow: a keyword searched
// from startfrom 0 or backwards, and a numkeys not next to its begin position.
// The expected keys follow db.c step by step.
func TestKeySpecShapesAsRedisReadsThem(t *testing.T) {
	kw := func(begin int) keySpec {
		return keySpec{flags: KeyRO, keyword: "KEY", begin: begin, keyStep: 1}
	}
	keynum := keySpec{flags: KeyRW, begin: 1, keynum: true, keynumIdx: 1, firstKey: 2, keyStep: 1}
	tests := []struct {
		spec keySpec
		args string
		want []int // nil: the spec fails (ok false)
	}{
		// startfrom 0: argc+0 is past the end, nothing is searched, even
		// when argument 0 or the last one is the keyword.
		{kw(0), "key a key b", []int{}},
		// Backwards from argc-1 down to argument 2; argument 1 is never
		// searched (db.c stops at end_index 1).
		{kw(-1), "x key a", []int{}},
		{kw(-1), "x a key b", []int{3}},
		{kw(-1), "x key a key b", []int{4}},
		{kw(-2), "x a key b c", []int{3}},
		{kw(-2), "x key b c", []int{}},
		// Forwards from startfrom up to the last argument but one.
		{kw(1), "x key a", []int{2}},
		{kw(1), "x a key", []int{}},
		{kw(2), "x key key b", []int{3}},
		// numkeys at begin+keynumIdx (2), the keys from begin+firstKey (3).
		{keynum, "x y 2 a b", []int{3, 4}},
		{keynum, "x 5 1 a b", []int{3}},
		{keynum, "x y 0 a", nil},
		{keynum, "x y 3 a b", nil},
		{keynum, "x y", nil}, // numkeys would be past the end
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v %s", tt.spec, tt.args), func(t *testing.T) {
			ci := &Info{name: "x", specs: []keySpec{tt.spec}}
			var fl []KeyFlags
			got, ok := ci.appendKeysFromSpecs([]int{}, &fl, argv(strings.Fields(tt.args)...))
			if tt.want == nil {
				if ok {
					t.Fatalf("keys %v, want the spec to fail", got)
				}
				return
			}
			if !ok || !slices.Equal(got, tt.want) {
				t.Fatalf("keys %v ok %v, want %v", got, ok, tt.want)
			}
			if len(fl) != len(got) || slices.ContainsFunc(fl, func(f KeyFlags) bool { return f != tt.spec.flags }) {
				t.Errorf("flags %v for keys %v, want %v each", fl, got, tt.spec.flags)
			}
		})
	}
}

// TestArityAsRedisChecksIt checks ArityOK against Redis's commandCheckArity:
// (arity > 0 && arity != argc) || argc < -arity is wrong; arity 0 (a
// module's "any number") accepts every count.
func TestArityAsRedisChecksIt(t *testing.T) {
	for arity := -4; arity <= 4; arity++ {
		for argc := 0; argc <= 6; argc++ {
			want := !(arity > 0 && arity != argc || argc < -arity)
			if got := (&Info{arity: arity}).ArityOK(argc); got != want {
				t.Errorf("arity %d, %d arguments: ArityOK %v, want %v", arity, argc, got, want)
			}
		}
	}
}

// TestEqualFoldBoundaries checks both case-insensitive comparisons on the
// bytes around 'A'..'Z' and 'a'..'z': only letters fold.
func TestEqualFoldBoundaries(t *testing.T) {
	tests := []struct {
		b, s string
		want bool
	}{
		{"A", "a", true}, {"Z", "z", true}, {"a", "a", true}, {"z", "z", true},
		{"@", "`", false}, {"[", "{", false}, {"`", "@", false}, {"{", "[", false},
		{"KEYZ", "keyz", true}, {"keyz", "keyx", false}, {"key", "keys", false},
	}
	for _, tt := range tests {
		if got := equalFold([]byte(tt.b), tt.s); got != tt.want {
			t.Errorf("equalFold(%q, %q) = %v, want %v", tt.b, tt.s, got, tt.want)
		}
		// strcasecmp folds both sides.
		for _, p := range [][2]string{{tt.b, tt.s}, {tt.s, tt.b}, {tt.b, strings.ToUpper(tt.s)}} {
			if got := equalFoldString([]byte(p[0]), p[1]); got != tt.want {
				t.Errorf("equalFoldString(%q, %q) = %v, want %v", p[0], p[1], got, tt.want)
			}
		}
	}
}

// TestRESP3ConverterRefusesBrokenLayouts feeds the RESP3 converter replies
// cut short or of another layout than it expects: it must report them (so
// AppendReplyProto falls back to the RESP2 bytes), never read past the end
// or panic; and it converts the small layouts it knows exactly.
func TestRESP3ConverterRefusesBrokenLayouts(t *testing.T) {
	type step func(c *conv3)
	arrayOf := func(c *conv3) { c.array('*', c.copyValue) }
	info := func(c *conv3) { c.array('*', c.infoEntry) }
	mapOfValues := func(c *conv3) { c.mapOf(func(string) { c.copyValue() }) }
	tests := []struct {
		name, src string
		run       step
		want      string // "" when the conversion must fail
	}{
		{"empty", "", arrayOf, ""},
		{"header without CRLF", "*2", arrayOf, ""},
		{"header without LF", "*2\r", arrayOf, ""},
		{"empty header", "\r\n", arrayOf, ""},
		{"not an array", "+OK\r\n", arrayOf, ""},
		{"bad count", "*x\r\n", arrayOf, ""},
		{"element cut short", "*1\r\n$5\r\nab", arrayOf, ""},
		{"missing element", "*2\r\n:1\r\n", arrayOf, ""},
		{"entry missing", "*1\r\n", info, ""},
		{"entry of 3 fields", "*1\r\n*3\r\n:1\r\n:2\r\n:3\r\n", info, ""},
		{"odd map", "*3\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n", mapOfValues, ""},
		{"map value missing", "*2\r\n$1\r\na\r\n", mapOfValues, ""},
		{"array", "*2\r\n:1\r\n$-1\r\n", arrayOf, "*2\r\n:1\r\n_\r\n"},
		{"empty array", "*0\r\n", arrayOf, "*0\r\n"},
		{"null array", "*-1\r\n", arrayOf, "_\r\n"},
		{"null entry", "*1\r\n$-1\r\n", info, "*1\r\n_\r\n"},
		{"map", "*4\r\n$1\r\na\r\n:1\r\n$2\r\nbc\r\n*-1\r\n", mapOfValues, "%2\r\n$1\r\na\r\n:1\r\n$2\r\nbc\r\n_\r\n"},
		{"set", "*1\r\n+x\r\n", func(c *conv3) { c.set() }, "~1\r\n+x\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &conv3{src: []byte(tt.src)}
			tt.run(c)
			switch {
			case tt.want == "" && !c.bad:
				t.Errorf("converted %q to %q, want a failure", tt.src, c.dst)
			case tt.want != "" && (c.bad || string(c.dst) != tt.want || c.pos != len(tt.src)):
				t.Errorf("converted %q to %q (bad %v, read %d bytes), want %q", tt.src, c.dst, c.bad, c.pos, tt.want)
			}
		})
	}
}
