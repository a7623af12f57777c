package resp_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// parseIntCases are string2ll's rules, one case per rule.
var parseIntCases = []struct {
	in string
	n  int64
	ok bool
}{
	{"0", 0, true}, {"12", 12, true}, {"-3", -3, true}, {"", 0, false}, {"-", 0, false},
	{"00", 0, false}, {"01", 0, false}, {"-0", 0, false}, {"-01", 0, false}, {"+1", 0, false},
	{" 1", 0, false}, {"1 ", 0, false}, {"1\x00", 0, false}, {"0x1", 0, false}, {"1e3", 0, false},
	{"9223372036854775807", 1<<63 - 1, true}, {"9223372036854775808", 0, false},
	{"-9223372036854775808", -1 << 63, true}, {"-9223372036854775809", 0, false},
	{"18446744073709551616", 0, false}, {"123456789012345678901", 0, false},
}

func TestParseInt(t *testing.T) {
	for _, tt := range parseIntCases {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			if n, ok := resp.ParseInt([]byte(tt.in)); n != tt.n || ok != tt.ok {
				t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
			}
		})
	}
}

// TestParseIntMatchesRedis asks a real redis-server: INCRBY of a missing key
// by each input answers the input itself when string2ll accepts it, and
// Redis's integer error otherwise; SELECT answers as ParseInt decides.
func TestParseIntMatchesRedis(t *testing.T) {
	srv := testenv.StartRedis(t)
	for _, tt := range parseIntCases {
		got, err := testenv.Do(srv.Addr, "INCRBY", "parseint:missing", tt.in)
		var re resp.Error
		switch {
		case tt.ok && (err != nil || got != tt.n):
			t.Errorf("INCRBY by %q = %v, %v; ParseInt accepts it as %d", tt.in, got, err, tt.n)
		case !tt.ok && (!errors.As(err, &re) || re != "ERR value is not an integer or out of range"):
			t.Errorf("INCRBY by %q = %v, %v; ParseInt refuses it", tt.in, got, err)
		}
		if _, err := testenv.Do(srv.Addr, "DEL", "parseint:missing"); err != nil {
			t.Fatal(err)
		}
	}
	for _, db := range []string{"0", "00", "-0", "+0", " 0"} {
		_, err := testenv.Do(srv.Addr, "SELECT", db)
		_, ok := resp.ParseInt([]byte(db))
		if (err == nil) != ok {
			t.Errorf("SELECT %q: redis says %v, ParseInt ok=%v", db, err, ok)
		}
	}
}

func FuzzParseInt(f *testing.F) {
	for _, tt := range parseIntCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, ok := resp.ParseInt(in)
		if !ok {
			return
		}
		// Whatever it accepts is the canonical decimal form of its value.
		if s := strconv.FormatInt(n, 10); s != string(in) {
			t.Fatalf("ParseInt(%q) = %d, which prints as %q", in, n, s)
		}
	})
}
