package resp

import (
	"strings"
	"testing"
	"time"
)

func TestStringMatch(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "get", true}, {"g?t", "GET", true}, {"client|*", "client|list", true},
		{"client|*", "client", false}, {"*|help", "acl|help", true}, {"[gs]et", "set", true},
		{"[^gs]et", "set", false}, {"[a-h]et", "get", true}, {"[h-a]et", "get", true},
		{`\*`, "*", true}, {`g\et`, "get", true}, {"ge[", "ge", false}, {"ge[t", "get", true},
		{"**t", "get", true}, {"*x*", "get", false}, {"", "", true}, {"a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.pat+" "+tt.s, func(t *testing.T) {
			if got := Match([]byte(tt.pat), []byte(tt.s), true); got != tt.want {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestMatchCase(t *testing.T) {
	if Match([]byte("GET"), []byte("get"), false) {
		t.Error("case-sensitive match folded case")
	}
	if !Match([]byte("[A-C]x"), []byte("bX"), true) {
		t.Error("nocase range did not fold")
	}
}

// TestMatchBacktrackingGuard feeds the pattern that makes a naive glob take
// exponential time; Redis's skipLonger guard makes it answer at once.
func TestMatchBacktrackingGuard(t *testing.T) {
	pat := []byte(strings.Repeat("*a", 30) + "b")
	s := []byte(strings.Repeat("a", 60))
	start := time.Now()
	if Match(pat, s, false) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v", d)
	}
	deep := []byte(strings.Repeat("?*", 2000))
	if Match(deep, []byte(strings.Repeat("x", 3000)), false) {
		t.Fatal("a pattern nested deeper than the guard matched")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte("a*b?[c-e]\\*"), []byte("axxbyd*"), true)
	f.Add([]byte("[^"), []byte("x"), false)
	f.Fuzz(func(t *testing.T, pat, s []byte, nocase bool) {
		Match(pat, s, nocase)
		// Redis's stringmatchlen("*", "") is 0: its loop needs a byte of
		// string, and KEYS and SCAN special-case a lone "*" before matching.
		if len(s) > 0 && !Match([]byte("*"), s, nocase) {
			t.Fatal("* did not match")
		}
	})
}
