package autoprocs

import (
	"testing"
	"time"
)

func TestParseCPUMax(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"max 100000\n", 0, false},
		{"200000 100000\n", 2, true},
		{"150000 100000", 2, true},
		{"50000 100000", 1, true},
		{"garbage", 0, false},
		{"0 100000", 0, false},
	} {
		got, ok := parseCPUMax(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseCPUMax(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestParseStatIdle(t *testing.T) {
	got := parseStatIdle([]byte("cpu  1101964 107959 599566 1131224 3163 0 52011 0 0 0\n"))
	if want := time.Duration(1131224+3163) * clockTick; got != want {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := parseStatIdle([]byte("intr 1 2 3 4 5 6\n")); got != -1 {
		t.Fatalf("non-cpu line: %v, want -1", got)
	}
}
