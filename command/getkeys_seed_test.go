package command

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shardproxy/shardproxy/resp"
)

// keyIndexSeeds is the seed corpus of FuzzKeyIndexes: a command (by table
// index) and its arguments, separated by NUL bytes.
var keyIndexSeeds = []struct {
	idx uint16
	raw string
}{
	{0, "k\x00v"},
	{100, "s\x003\x00a\x00b\x00c"},
	{284, "k\x00store\x00d\x00limit\x000"},
	{329, "count\x001\x00streams\x00a\x00b\x000\x000"},
	{0, "2\x00a\x00b\x00c"},
	{0, "0"},
	{0, "k\x00by\x00w\x00get\x00h\x00store\x00d"},
	{0, "block\x000\x00streams\x00a\x00b\x00>\x00>"},
	{0, "\x00\x00keys\x00a\x00b"},
}

// fuzzCorpus reads the `go test fuzz v1` files of FuzzKeyIndexes under
// testdata, when there are any, as (idx, raw) seeds.
func fuzzCorpus(t *testing.T) []struct {
	idx uint16
	raw string
} {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzKeyIndexes", "*"))
	var out []struct {
		idx uint16
		raw string
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 3 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a two-value fuzz corpus file", f)
		}
		n, err1 := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(lines[1], "uint16("), ")"), 0, 16)
		raw, err2 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", f, err1, err2)
		}
		out = append(out, struct {
			idx uint16
			raw string
		}{uint16(n), raw})
	}
	return out
}

// TestKeyIndexesMatchRedisOnSeedCorpus runs the seed corpus of
// FuzzKeyIndexes against a real redis-server: every seed's arguments are
// given to every command Redis knows, and the keys the proxy routes by
// (AppendKeyIndexes) must be the keys COMMAND GETKEYS names, in order. A
// call Redis finds no keys in (an error reply) must give no keys or an
// error. The fuzz target itself needs no server; this is its oracle.
func TestKeyIndexesMatchRedisOnSeedCorpus(t *testing.T) {
	r := dialRawRedis(t)
	seeds := append(keyIndexSeeds[:len(keyIndexSeeds):len(keyIndexSeeds)], fuzzCorpus(t)...)
	var calls, cmds [][][]byte
	for _, sd := range seeds {
		for i := range table {
			ci := &table[i]
			if !ci.redis || ci.container {
				continue
			}
			args := argv(strings.Split(ci.name, "|")...)
			if sd.raw != "" {
				args = append(args, bytes.Split([]byte(sd.raw), []byte{0})...)
			}
			if c, msg := Lookup(args); c == nil || msg != "" {
				continue // refused before routing (arity), as Redis refuses it
			}
			calls = append(calls, args)
			cmds = append(cmds, append(argv("COMMAND", "GETKEYS"), args...))
		}
	}
	replies := r.pipeline(cmds)
	withKeys := 0
	for i, args := range calls {
		ci, _ := Lookup(args)
		pos, msg := ci.AppendKeyIndexes(nil, args)
		var got []string
		for _, k := range pos {
			got = append(got, string(args[k]))
		}
		v, err := resp.Decode(replies[i])
		if err != nil {
			t.Fatalf("GETKEYS %q: undecodable reply %q: %v", args, replies[i], err)
		}
		switch v := v.(type) {
		case resp.Error:
			if msg == "" && len(got) > 0 {
				t.Errorf("%q: Redis finds no keys (%s), the proxy routes by %q", args, v, got)
			}
		case []any:
			var want []string
			for _, k := range v {
				want = append(want, k.(string))
			}
			if len(want) > 0 {
				withKeys++
			}
			// The proxy may refuse what Redis's GETKEYS reads as no keys
			// (EVAL with a bad numkeys: Redis refuses the EVAL itself).
			if msg != "" && len(want) == 0 {
				continue
			}
			if msg != "" || strings.Join(got, "\x00") != strings.Join(want, "\x00") || len(got) != len(want) {
				t.Errorf("%q: the proxy routes by %q (%s), Redis's GETKEYS says %q", args, got, msg, want)
			}
		default:
			t.Fatalf("GETKEYS %q: reply %q", args, replies[i])
		}
		if t.Failed() && i > 50 {
			t.FailNow()
		}
	}
	if withKeys < 100 {
		t.Fatalf("only %d of %d calls have keys: the corpus does not exercise key extraction", withKeys, len(calls))
	}
	t.Logf("%d calls, %d with keys, compared with redis-server", len(calls), withKeys)
}
