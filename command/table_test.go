package command

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func argv(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

func TestTableIsConsistent(t *testing.T) {
	if len(table) != Count || len(Names()) != Count {
		t.Fatalf("table has %d entries, names %d, Count %d", len(table), len(Names()), Count)
	}
	top := 0
	seen := map[string]bool{}
	for i := range table {
		ci := &table[i]
		t.Run(ci.name, func(t *testing.T) {
			if ci.index != i || Names()[i] != ci.name {
				t.Errorf("index %d at position %d", ci.index, i)
			}
			if seen[ci.name] || byName[ci.name] != ci {
				t.Errorf("name not unique or not in byName")
			}
			seen[ci.name] = true
			if ci.name != strings.ToLower(ci.name) {
				t.Errorf("name not lowercase")
			}
			if ci.class > ClassRefused {
				t.Errorf("no class: %d", ci.class)
			}
			if ci.parent >= 0 {
				p := &table[ci.parent]
				if !p.container || !strings.HasPrefix(ci.name, p.name+"|") {
					t.Errorf("parent %q is not its container", p.name)
				}
			} else if strings.Contains(ci.name, "|") {
				t.Errorf("subcommand without parent")
			}
			if ci.parent < 0 && ci.redis {
				top++
			}
			if ci.redis != (ci.info.hi > ci.info.lo) || ci.redis != (ci.docs.hi > ci.docs.lo) {
				t.Errorf("redis %v but info %v docs %v", ci.redis, ci.info, ci.docs)
			}
			switch ci.class {
			case ClassSplit:
				if ci.merge == MergeNone || ci.step < 1 {
					t.Errorf("split without merge/step")
				}
			case ClassFanout:
				if ci.merge == MergeNone || ci.hasKeys {
					t.Errorf("fanout without merge, or with keys")
				}
			case ClassPinned, ClassRefused:
				if ci.reply == "" || ci.reason == "" || !strings.HasPrefix(ci.reply, "ERR command '"+ci.name+"' is not supported by the proxy") {
					t.Errorf("reply %q reason %q", ci.reply, ci.reason)
				}
			case ClassSingle:
				if ci.simpleKey < 1 {
					t.Errorf("single without a fixed key position")
				}
			case ClassSameShard:
				if !ci.hasKeys {
					t.Errorf("same-shard without keys")
				}
			}
			if ci.flags&FlagBlocking != 0 && ci.class != ClassPinned && !ci.blockOption {
				t.Errorf("blocking command is %v", ci.class)
			}
			if ci.container && ci.arity > -2 && ci.class != ClassLocal {
				t.Errorf("container callable alone must have a real class")
			}
		})
	}
	if top != redisCount {
		t.Errorf("%d top-level Redis commands, redisCount %d", top, redisCount)
	}
}

// TestTableMatchesEmbeddedInfo checks every entry's fields against its own
// COMMAND INFO and DOCS data.
func TestTableMatchesEmbeddedInfo(t *testing.T) {
	for i := range table {
		ci := &table[i]
		if !ci.redis {
			continue
		}
		t.Run(ci.name, func(t *testing.T) {
			v, rest := mustParse(t, ci.infoRESP())
			if len(rest) != 0 {
				t.Fatalf("%d trailing bytes", len(rest))
			}
			e := v.([]any)
			var flags Flags
			for _, f := range e[2].([]any) {
				flags |= 1 << slices.Index(cmdFlagNames[:], f.(string))
			}
			var acl ACLCategories
			for _, a := range e[6].([]any) {
				acl |= 1 << slices.Index(aclCategoryNames[:], strings.TrimPrefix(a.(string), "@"))
			}
			got := fmt.Sprint(e[0], e[1], e[3], e[4], e[5], len(e[8].([]any)), flags, acl)
			want := fmt.Sprint(ci.name, ci.arity, ci.firstKey, ci.lastKey, ci.keyStep, len(ci.specs), ci.flags, ci.acl)
			if got != want {
				t.Errorf("info %s, table %s", got, want)
			}
			d, rest := mustParse(t, ci.docsRESP())
			if d != ci.name {
				t.Errorf("docs start with %v", d)
			}
			if _, rest = mustParse(t, rest); len(rest) != 0 {
				t.Errorf("docs span has %d trailing bytes", len(rest))
			}
		})
	}
}

func mustParse(t testing.TB, s string) (any, string) {
	t.Helper()
	r := bufio.NewReaderSize(strings.NewReader(s), len(s)+16)
	v, err := readTestReply(r)
	if err != nil {
		t.Fatal(err)
	}
	return v, s[len(s)-r.Buffered():]
}

// readTestReply parses one RESP2 reply: strings, ints, errors (as error), arrays.
func readTestReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	body := strings.TrimSuffix(line[1:], "\r\n")
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return fmt.Errorf("%s", body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, _ := strconv.Atoi(body)
		if n < 0 {
			return nil, nil
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = readTestReply(r); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	return nil, fmt.Errorf("bad RESP line %q", line)
}

func TestLookupCommand(t *testing.T) {
	long := strings.Repeat("x", 200)
	tests := []struct {
		args []string
		name string // "" when an error is expected
		err  string
	}{
		{[]string{"GET", "k"}, "get", ""},
		{[]string{"gEt", "k"}, "get", ""},
		{[]string{"get"}, "", "ERR wrong number of arguments for 'get' command"},
		{[]string{"get", "a", "b"}, "", "ERR wrong number of arguments for 'get' command"},
		{[]string{"Script", "LOAD", "return 1"}, "script|load", ""},
		{[]string{"script", "load"}, "", "ERR wrong number of arguments for 'script|load' command"},
		{[]string{"script", "nope"}, "", "ERR unknown subcommand 'nope'. Try SCRIPT HELP."},
		{[]string{"config"}, "", "ERR wrong number of arguments for 'config' command"},
		{[]string{"command"}, "command", ""},
		{[]string{"command", "info", "get"}, "command|info", ""},
		{[]string{"foo", "a", "b"}, "", "ERR unknown command 'foo', with args beginning with: 'a' 'b' "},
		{[]string{"foo"}, "", "ERR unknown command 'foo', with args beginning with: "},
		{[]string{"fo\r\no", "a\nb"}, "", "ERR unknown command 'fo  o', with args beginning with: 'a b' "},
		{[]string{long, long}, "", "ERR unknown command '" + long[:128] + "', with args beginning with: '" + long[:128] + "' "},
		{[]string{"x", long[:100], long, "c"}, "", "ERR unknown command 'x', with args beginning with: '" + long[:100] + "' '" + long[:25] + "' "},
		{[]string{"script|load", "x"}, "", "ERR unknown command 'script|load', with args beginning with: 'x' "},
		{[]string{"get|x", "k"}, "", "ERR unknown command 'get|x', with args beginning with: 'k' "},
		{[]string{"mset", "a", "1"}, "mset", ""},
		{[]string{"mset", "a", "1", "b"}, "", "ERR wrong number of arguments for 'mset' command"},
		{[]string{"client", "setinfo", "lib-name", "x"}, "client|setinfo", ""},
		{[]string{"client", long}, "", "ERR unknown subcommand '" + long[:128] + "'. Try CLIENT HELP."},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ci, err := Lookup(argv(tt.args...))
			if err != tt.err {
				t.Errorf("error %q, want %q", err, tt.err)
			}
			name := ""
			if ci != nil {
				name = ci.name
			}
			if name != tt.name {
				t.Errorf("command %q, want %q", name, tt.name)
			}
		})
	}
}

func TestClasses(t *testing.T) {
	tests := []struct {
		name  string
		class Class
		merge Merge
	}{
		{"get", ClassSingle, MergeNone},
		{"set", ClassSingle, MergeNone},
		{"hset", ClassSingle, MergeNone},
		{"xadd", ClassSingle, MergeNone},
		{"expire", ClassSingle, MergeNone},
		{"object|encoding", ClassSingle, MergeNone},
		{"memory|usage", ClassSingle, MergeNone},
		{"xinfo|stream", ClassSingle, MergeNone},
		{"sort_ro", ClassSingle, MergeNone},
		{"mget", ClassSplit, MergeArray},
		{"mset", ClassSplit, MergeOK},
		{"del", ClassSplit, MergeSum},
		{"unlink", ClassSplit, MergeSum},
		{"exists", ClassSplit, MergeSum},
		{"touch", ClassSplit, MergeSum},
		{"rename", ClassSameShard, MergeNone},
		{"smove", ClassSameShard, MergeNone},
		{"lmove", ClassSameShard, MergeNone},
		{"sunionstore", ClassSameShard, MergeNone},
		{"zunionstore", ClassSameShard, MergeNone},
		{"bitop", ClassSameShard, MergeNone},
		{"pfmerge", ClassSameShard, MergeNone},
		{"msetnx", ClassSameShard, MergeNone},
		{"eval", ClassSameShard, MergeNone},
		{"fcall_ro", ClassSameShard, MergeNone},
		{"georadius", ClassSameShard, MergeNone},
		{"sort", ClassSameShard, MergeNone},
		{"xread", ClassSameShard, MergeNone},
		{"flushall", ClassFanout, MergeOK},
		{"dbsize", ClassFanout, MergeSum},
		{"keys", ClassFanout, MergeConcat},
		{"scan", ClassFanout, MergeScan},
		{"randomkey", ClassFanout, MergeRandom},
		{"script|load", ClassFanout, MergeSame},
		{"script|exists", ClassFanout, MergeAnd},
		{"ping", ClassLocal, MergeNone},
		{"command", ClassLocal, MergeNone},
		{"command|docs", ClassLocal, MergeNone},
		{"auth", ClassLocal, MergeNone},
		{"client|setinfo", ClassLocal, MergeNone},
		{"object|help", ClassLocal, MergeNone},
		{"multi", ClassPinned, MergeNone},
		{"watch", ClassPinned, MergeNone},
		{"blpop", ClassPinned, MergeNone},
		{"subscribe", ClassPinned, MergeNone},
		{"pubsub|channels", ClassPinned, MergeNone},
		{"reset", ClassPinned, MergeNone},
		{"client|tracking", ClassLocal, MergeNone},
		{"shutdown", ClassRefused, MergeNone},
		{"config|set", ClassFanout, MergeEach},
		{"config|rewrite", ClassRefused, MergeNone},
		{"slowlog|get", ClassFanout, MergeSlow},
		{"script|kill", ClassFanout, MergeAny},
		{"cluster|info", ClassRefused, MergeNone},
		{"migrate", ClassRefused, MergeNone},
		{"move", ClassRefused, MergeNone},
		{"acl|whoami", ClassLocal, MergeNone},
		{"acl|setuser", ClassRefused, MergeNone},
		{"client|kill", ClassLocal, MergeNone},
		{"client|pause", ClassRefused, MergeNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ci := byName[tt.name]
			if ci == nil {
				t.Fatal("not in the table")
			}
			if ci.class != tt.class || ci.merge != tt.merge {
				t.Errorf("class %v merge %d, want %v %d", ci.class, ci.merge, tt.class, tt.merge)
			}
		})
	}
	if ci := byName["mset"]; ci.step != 2 {
		t.Errorf("mset step %d", ci.step)
	}
	if ci := byName["object|help"]; !strings.HasPrefix(ci.HelpReply(), "*") {
		t.Errorf("object|help has no help text")
	}
}

func TestClassifyBlockOption(t *testing.T) {
	tests := []struct {
		args []string
		want Class
	}{
		{[]string{"xread", "streams", "s", "0"}, ClassSameShard},
		{[]string{"XREAD", "COUNT", "2", "STREAMS", "block", "0"}, ClassSameShard},
		{[]string{"xread", "BLOCK", "0", "streams", "s", "0"}, ClassPinned},
		{[]string{"xread", "count", "1", "block", "10", "streams", "s", "0"}, ClassPinned},
		{[]string{"xreadgroup", "group", "g", "c", "streams", "s", ">"}, ClassSameShard},
		{[]string{"xreadgroup", "group", "g", "c", "noack", "block", "1", "streams", "s", ">"}, ClassPinned},
		{[]string{"get", "block"}, ClassSingle},
		// Options that run to the end without STREAMS (Redis: a syntax error).
		{[]string{"xread", "count", "1", "noack"}, ClassSameShard},
		// Option names in capitals (NOACK has the letter A).
		{[]string{"XREADGROUP", "GROUP", "g", "c", "NOACK", "BLOCK", "1", "STREAMS", "s", ">"}, ClassPinned},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ci, err := Lookup(argv(tt.args...))
			if err != "" {
				t.Fatal(err)
			}
			got, reply := ci.Classify(argv(tt.args...))
			if got != tt.want || (got == ClassPinned) != (reply != "") {
				t.Errorf("class %v reply %q, want %v", got, reply, tt.want)
			}
		})
	}
}

func TestKeyIndexes(t *testing.T) {
	tests := []struct {
		args string
		want []int
		err  string
	}{
		{"get k", []int{1}, ""},
		{"set k v get", []int{1}, ""},
		{"mset a 1 b 2 c 3", []int{1, 3, 5}, ""},
		{"mget a b c", []int{1, 2, 3}, ""},
		{"rename a b", []int{1, 2}, ""},
		{"object encoding k", []int{2}, ""},
		{"memory usage k samples 5", []int{2}, ""},
		{"xinfo stream s full", []int{2}, ""},
		{"eval s 2 a b c", []int{3, 4}, ""},
		{"eval s 0", nil, ""},
		{"eval s 0 x", nil, ""},
		{"eval s 3 a b", nil, "ERR Number of keys can't be greater than number of args"},
		{"eval s -1", nil, "ERR Number of keys can't be negative"},
		{"eval s 1x a", nil, "ERR value is not an integer or out of range"},
		{"eval_ro s +1 a", nil, "ERR value is not an integer or out of range"},
		{"evalsha s 3 a b", nil, ""},
		{"fcall f 2 a b", []int{3, 4}, ""},
		{"zunionstore d 2 a b weights 1 2", []int{1, 3, 4}, ""},
		{"zunionstore d 0 a", nil, ""},
		{"zinter 2 a b", []int{2, 3}, ""},
		{"sintercard 2 a b limit 1", []int{2, 3}, ""},
		{"lmpop 2 a b left", []int{2, 3}, ""},
		{"blmpop 0 2 a b left", []int{3, 4}, ""},
		{"sort k by w get h limit 0 1 store d", []int{1, 10}, ""},
		{"sort k store d1 store d2", []int{1, 5}, ""},
		{"sort k store", []int{1}, ""},
		{"migrate h 6379 k 0 1000", []int{3}, ""},
		{"migrate h 6379 \"\" 0 1000 auth p keys a b", []int{9, 10}, ""},
		{"migrate h 6379 k 0 1000 keys a b", nil, ""},
		{"georadius k 0 0 1 km store d", []int{1, 7}, ""},
		{"georadius k 0 0 1 km store d storedist e", []int{1, 7, 9}, ""},
		{"georadius k 0 0 1 km store", []int{1}, ""},
		{"georadius_ro k 0 0 1 km", []int{1}, ""},
		{"xread count 1 streams a b 0 0", []int{4, 5}, ""},
		{"xread count 1 streams a", nil, ""},
		{"xreadgroup group g c streams s1 s2 > >", []int{5, 6}, ""},
		{"bitop and d a b c", []int{2, 3, 4, 5}, ""},
		{"lmove a b left right", []int{1, 2}, ""},
		{"pfcount a b", []int{1, 2}, ""},
		{"ping", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			f := strings.Fields(tt.args)
			for i := range f {
				if f[i] == `""` {
					f[i] = ""
				}
			}
			args := argv(f...)
			ci, err := Lookup(args)
			if err != "" {
				t.Fatal(err)
			}
			got, msg := ci.AppendKeyIndexes(nil, args)
			if !slices.Equal(got, tt.want) || msg != tt.err {
				t.Errorf("keys %v %q, want %v %q", got, msg, tt.want, tt.err)
			}
		})
	}
}

func TestAtoi(t *testing.T) {
	// Beyond the int32 range the value is clamped, to 2^31 (MaxInt32 where
	// an int is 32 bits).
	const top = int(min(1<<31, math.MaxInt))
	ai := []struct {
		in string
		n  int
	}{{"3", 3}, {" \t3x", 3}, {"+4", 4}, {"-2", -2}, {"x", 0}, {"", 0},
		{"2147483647", 1<<31 - 1}, {"2147483648", top}, {"21474836470", top},
		{"99999999999999999999999", top}, {"-2147483648", -1 << 31}, {"-2147483649", -1 << 31}}
	for _, tt := range ai {
		t.Run("atoi "+tt.in, func(t *testing.T) {
			if n := atoi([]byte(tt.in)); n != tt.n {
				t.Errorf("got %d", n)
			}
		})
	}
}

func BenchmarkLookupCommand(b *testing.B) {
	for _, c := range []string{"GET k", "set k v", "mget a b c", "SCRIPT LOAD x", "nosuchcommand a"} {
		args := argv(strings.Fields(c)...)
		b.Run(c, func(b *testing.B) {
			b.ReportAllocs()
			unknown := strings.HasPrefix(c, "nosuch")
			for b.Loop() {
				if unknown {
					// lookupCommand then builds its error text; measure the lookup.
					if Find(args) != nil {
						b.Fatal("found")
					}
				} else if ci, _ := Lookup(args); ci == nil {
					b.Fatal("not found")
				}
			}
		})
	}
}

func BenchmarkKeyIndexes(b *testing.B) {
	mset := []string{"mset"}
	for i := range 10 {
		mset = append(mset, "key"+strconv.Itoa(i), "v")
	}
	for _, c := range []struct{ name, args string }{
		{"GET", "get k"},
		{"MSET10", strings.Join(mset, " ")},
		{"EVAL3", "eval s 3 a b c x"},
		{"ZUNIONSTORE", "zunionstore d 3 a b c weights 1 2 3"},
		{"SORTSTORE", "sort k by w limit 0 1 store d"},
	} {
		args := argv(strings.Fields(c.args)...)
		ci, msg := Lookup(args)
		if msg != "" {
			b.Fatal(msg)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]int, 0, 16)
			for b.Loop() {
				dst, _ = ci.AppendKeyIndexes(dst[:0], args)
			}
		})
	}
}

// FuzzKeyIndexes feeds random arguments to random commands: key extraction
// must not panic, must only return positions of arguments, and must agree
// with GETKEYS.
func FuzzKeyIndexes(f *testing.F) {
	// The seeds are checked against redis-server's COMMAND GETKEYS by
	// TestKeyIndexesMatchRedisOnSeedCorpus.
	for _, sd := range keyIndexSeeds {
		f.Add(sd.idx, []byte(sd.raw))
	}
	f.Fuzz(func(t *testing.T, idx uint16, raw []byte) {
		ci := &table[int(idx)%Count]
		args := [][]byte{[]byte(ci.name)}
		if ci.parent >= 0 {
			args = argv(strings.Split(ci.name, "|")...)
		}
		if len(raw) > 0 {
			args = append(args, bytes.Split(raw, []byte{0})...)
		}
		keys, _ := ci.AppendKeyIndexes(nil, args)
		var fl []KeyFlags
		all := ci.appendKeys(nil, &fl, args)
		if len(fl) != len(all) {
			t.Fatalf("%d flags for %d keys", len(fl), len(all))
		}
		for _, k := range append(keys, all...) {
			if k < 1 || k >= len(args) {
				t.Fatalf("%s: key index %d out of range 1..%d", ci.name, k, len(args)-1)
			}
		}
		_ = AppendReply(nil, append(argv("command", "getkeysandflags"), args...))
	})
}

// TestKeyIndexesRandom runs the fuzz property on a deterministic sample, so
// plain go test covers it.
func TestKeyIndexesRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	words := []string{"k", "0", "1", "2", "3", "-1", "store", "STREAMS", "keys", "block", "get", "limit", "by", ""}
	for i := range table {
		ci := &table[i]
		for range 20 {
			args := argv(strings.Split(ci.name, "|")...)
			for range rng.Intn(8) {
				args = append(args, []byte(words[rng.Intn(len(words))]))
			}
			keys, _ := ci.AppendKeyIndexes(nil, args)
			for _, k := range keys {
				if k < 1 || k >= len(args) {
					t.Fatalf("%q: key index %d out of range", args, k)
				}
			}
		}
	}
}

// Find does not allocate, also for a name too long for its lowercase buffer
// (unknown, not copied to the heap).
func TestFindDoesNotAllocate(t *testing.T) {
	room := maxCommandName - len("config|")
	for _, tt := range []struct {
		args  [][]byte
		found bool
	}{
		{argv("GET", "k"), true}, {argv("config", "GET"), true},
		{argv("config", strings.Repeat("x", room)), false},
		{argv("config", strings.Repeat("x", room+1)), false},
		{argv(strings.Repeat("x", maxCommandName+1)), false},
	} {
		if ci := Find(tt.args); (ci != nil) != tt.found {
			t.Errorf("Find(%.20q...) = %v, want found %v", tt.args, ci, tt.found)
		}
		if n := testing.AllocsPerRun(100, func() { Find(tt.args) }); n != 0 {
			t.Errorf("Find(%.20q...) allocates %v times", tt.args, n)
		}
	}
}
