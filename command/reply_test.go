package command

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// rawRedis is a RESP2 connection to a real server that returns raw replies.
type rawRedis struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRawRedis(t testing.TB) *rawRedis {
	t.Helper()
	srv := testenv.StartRedis(t)
	c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawRedis{t: t, c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

func encodeCommand(dst []byte, args [][]byte) []byte {
	return resp.AppendCommandBytes(dst, args)
}

// pipeline sends every command and returns the raw replies, in order.
func (r *rawRedis) pipeline(cmds [][][]byte) [][]byte {
	r.t.Helper()
	var out []byte
	for _, c := range cmds {
		out = encodeCommand(out, c)
	}
	r.c.SetDeadline(time.Now().Add(30 * time.Second))
	errc := make(chan error, 1)
	go func() { _, err := r.c.Write(out); errc <- err }()
	replies := make([][]byte, len(cmds))
	for i := range cmds {
		raw, err := readRawReply(r.r, nil)
		if err != nil {
			r.t.Fatalf("reply to %q: %v", cmds[i], err)
		}
		replies[i] = raw
	}
	if err := <-errc; err != nil {
		r.t.Fatal(err)
	}
	return replies
}

func (r *rawRedis) do(args ...string) []byte {
	r.t.Helper()
	return r.pipeline([][][]byte{argv(args...)})[0]
}

// readRawReply appends one whole RESP2 reply, byte for byte, to dst.
func readRawReply(r *bufio.Reader, dst []byte) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return dst, err
	}
	dst = append(dst, line...)
	if len(line) < 3 {
		return dst, fmt.Errorf("short line %q", line)
	}
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	switch line[0] {
	case '$':
		if n >= 0 {
			b := make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return dst, err
			}
			dst = append(dst, b...)
		}
	case '*':
		for range max(n, 0) {
			if dst, err = readRawReply(r, dst); err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

// canonical parses a reply and sorts what Redis emits in hash table order:
// COMMAND INFO subcommand lists, COMMAND DOCS maps and their "subcommands",
// COMMAND LIST. Then two replies compare as strings of fmt.Sprint.
func canonical(t testing.TB, raw []byte, kind string) string {
	t.Helper()
	v, err := readTestReply(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var info func(e any) string
	info = func(e any) string {
		a, ok := e.([]any)
		if !ok || len(a) != 10 {
			return fmt.Sprint(e)
		}
		var subs []string
		for _, s := range a[9].([]any) {
			subs = append(subs, info(s))
		}
		sort.Strings(subs)
		return fmt.Sprint(a[:9], subs)
	}
	// docsMap renders a name -> docs map (top level, or "subcommands")
	// sorted by name; docsEntry renders one command's docs in Redis's order.
	var docsMap func(m any) string
	docsEntry := func(d any) string {
		a, ok := d.([]any)
		if !ok {
			return fmt.Sprint(d)
		}
		var out []string
		for i := 0; i+1 < len(a); i += 2 {
			val := fmt.Sprint(a[i+1])
			if a[i] == "subcommands" {
				val = docsMap(a[i+1])
			}
			out = append(out, fmt.Sprint(a[i], "=", val))
		}
		return strings.Join(out, " ")
	}
	docsMap = func(m any) string {
		a, _ := m.([]any)
		var pairs []string
		for i := 0; i+1 < len(a); i += 2 {
			pairs = append(pairs, fmt.Sprint(a[i], ":", docsEntry(a[i+1])))
		}
		sort.Strings(pairs)
		return "{" + strings.Join(pairs, "; ") + "}"
	}
	switch kind {
	case "info":
		var all []string
		for _, e := range v.([]any) {
			all = append(all, info(e))
		}
		sort.Strings(all)
		return strings.Join(all, "\n")
	case "docs-top":
		return docsMap(v)
	case "list":
		var names []string
		for _, n := range v.([]any) {
			names = append(names, n.(string))
		}
		sort.Strings(names)
		return strings.Join(names, " ")
	}
	t.Fatalf("kind %q", kind)
	return ""
}

func local(args ...string) []byte { return AppendReply(nil, argv(args...)) }

// TestCommandRepliesMatchRedis compares the COMMAND family with a real
// redis-server: COMMAND INFO and DOCS byte for byte for every command whose
// reply has no hash-ordered part, the rest after sorting.
func TestCommandRepliesMatchRedis(t *testing.T) {
	r := dialRawRedis(t)
	requireTableVersion(t, r)

	var cmds [][][]byte
	var names []*Info
	for i := range table {
		ci := &table[i]
		if !ci.redis {
			continue
		}
		names = append(names, ci)
		cmds = append(cmds, argv("COMMAND", "INFO", strings.ToUpper(ci.name)), argv("COMMAND", "DOCS", ci.name))
	}
	replies := r.pipeline(cmds)
	for i, ci := range names {
		t.Run("info-docs/"+ci.name, func(t *testing.T) {
			wantInfo, wantDocs := replies[2*i], replies[2*i+1]
			gotInfo := local("command", "info", strings.ToUpper(ci.name))
			gotDocs := local("command", "docs", ci.name)
			if ci.container {
				// Subcommands come in hash table order from Redis.
				if canonical(t, gotInfo, "info") != canonical(t, wantInfo, "info") {
					t.Errorf("COMMAND INFO differs:\n got %q\nwant %q", gotInfo, wantInfo)
				}
				if canonical(t, gotDocs, "docs-top") != canonical(t, wantDocs, "docs-top") {
					t.Errorf("COMMAND DOCS differs:\n got %q\nwant %q", gotDocs, wantDocs)
				}
				return
			}
			if !bytes.Equal(gotInfo, wantInfo) {
				t.Errorf("COMMAND INFO differs:\n got %q\nwant %q", gotInfo, wantInfo)
			}
			if !bytes.Equal(gotDocs, wantDocs) {
				t.Errorf("COMMAND DOCS differs:\n got %q\nwant %q", gotDocs, wantDocs)
			}
		})
	}

	exact := [][]string{
		{"COMMAND", "COUNT"},
		{"command", "info", "get", "nosuch", "script|load", "SCRIPT|LOAD", "get|x", "script|", "script|load|x", "client|setinfo"},
		{"command", "docs", "get", "nosuch", "Script|Load", "client|setinfo"},
		{"command", "docs", "nosuch"},
		{"command", "help"},
		{"command", "count", "x"},
		{"command", "nosuch"},
		{"command", "list", "filterby", "aclcat"},
		{"command", "list", "filterby", "nosuch", "x"},
		{"command", "list", "x"},
		{"command", "list", "filterby", "module", "x"},
		{"command", "list", "filterby", "aclcat", "nosuch"},
	}
	for _, args := range exact {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if got, want := local(args...), r.do(args...); !bytes.Equal(got, want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
	for _, c := range []*Info{byName["object|help"], byName["config|help"], byName["xinfo|help"]} {
		t.Run("help/"+c.name, func(t *testing.T) {
			if got, want := c.HelpReply(), r.do(strings.Split(c.name, "|")...); got != string(want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}

	sorted := []struct {
		kind string
		args []string
	}{
		{"info", []string{"command"}},
		{"info", []string{"command", "info"}},
		{"docs-top", []string{"command", "docs"}},
		{"list", []string{"command", "list"}},
		{"list", []string{"command", "list", "filterby", "aclcat", "Scripting"}},
		{"list", []string{"command", "list", "filterby", "aclcat", "write"}},
		{"list", []string{"command", "list", "filterby", "pattern", "*|HELP"}},
		{"list", []string{"command", "list", "filterby", "pattern", "[a-c]*"}},
		{"list", []string{"command", "list", "filterby", "pattern", "x?*"}},
	}
	for _, s := range sorted {
		t.Run(strings.Join(s.args, " "), func(t *testing.T) {
			got, want := canonical(t, local(s.args...), s.kind), canonical(t, r.do(s.args...), s.kind)
			if got != want {
				t.Errorf("got  %.300s\nwant %.300s", got, want)
			}
		})
	}
}

// TestLookupErrorsMatchRedis checks lookupCommand's error texts against a real server.
func TestLookupErrorsMatchRedis(t *testing.T) {
	r := dialRawRedis(t)
	long := strings.Repeat("y", 300)
	calls := [][]string{
		{"foo", "a", "b"}, {"foo"}, {"FOO", long, "x"}, {long}, {"x", long[:100], long, "c"},
		{"f\r\noo", "a\nb"}, {"script", "nope"}, {"CONFIG", "Nope", "x"}, {"client", long},
		{"get"}, {"get", "a", "b"}, {"config"}, {"script", "load"}, {"mset", "a"},
		{"mset", "a", "b", "c"}, {"script|load", "x"}, {"object", "encoding"},
		{"eval", "s", "3", "a"}, {"eval", "s", "-1"}, {"eval", "s", "1x", "k"}, {"eval_ro", "s", "99999999999999999999"},
		// A subcommand's full name is no command, also under the first entry (acl).
		{"acl|cat"}, {"ACL|CAT", "x"},
		// The argument list stops once it reaches 128 bytes, here exactly.
		{"foo", long[:125], "z"},
	}
	for _, c := range calls {
		t.Run(fmt.Sprintf("%.40q", c), func(t *testing.T) {
			args := argv(c...)
			want := r.do(c...)
			ci, got := Lookup(args)
			if got == "" && ci != nil {
				_, got = ci.AppendKeyIndexes(nil, args)
			}
			if "-"+got+"\r\n" != string(want) {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
}

// TestGetKeysMatchesRedis compares COMMAND GETKEYS and GETKEYSANDFLAGS, byte
// for byte, with a real server: for tricky calls, then for random arguments
// to every command.
func TestGetKeysMatchesRedis(t *testing.T) {
	r := dialRawRedis(t)
	tricky := []string{
		"eval s 2 a b c", "eval s 0", "eval s 3 a b", "eval s -1 a", "eval s 1x a", "evalsha_ro s 1 a",
		"fcall f 2 a b x", "zunionstore d 2 a b weights 1 2", "zunionstore d 0 a", "zinterstore d 3 a b",
		"zdiff 2 a b", "sintercard 1 a limit 3", "lmpop 2 a b left count 1", "blmpop 0 2 a b left",
		"bzmpop 0 1 a min", "sort k by w get h limit 0 1 store d", "sort k store a store b", "sort k store",
		"sort_ro k by w get h", "xread count 1 streams a b 0 0", "xread streams a b c",
		"xreadgroup group g c block 0 streams s >", "xread streams streams streams 0 0",
		"migrate h 1 k 0 10", "migrate h 1 \"\" 0 10 copy replace auth2 u p keys a b",
		"migrate h 1 k 0 10 keys a", "georadius k 0 0 1 km store d", "georadius k 0 0 1 km storedist d store e",
		"georadiusbymember k m 1 km store", "georadius_ro k 0 0 1 km", "geosearchstore d s frommember m byradius 1 km",
		"lmove a b left right", "object encoding k", "memory usage k samples 3", "xinfo stream s full",
		"set k v get", "set k v", "bitfield k get u8 0", "bitfield k incrby u8 0 1", "bitfield_ro k get u8 0",
		"mset a 1 b 2", "mset a 1 b", "msetnx a 1 b 2", "del a b c", "rename a b", "bitop and d a b",
		"pfcount a b", "spublish ch m", "ssubscribe a b", "watch a b", "get", "ping", "nosuch a",
		"script load x", "client setinfo lib-name x", "command info get", "xgroup create s g $",
		// XREADGROUP's STREAMS spec fails (the keyword is second to last)
		// and Redis's own parser finds the keys after an earlier STREAMS;
		// in the other, its option list runs off the end without one.
		"xreadgroup streams a b c d streams x", "xreadgroup group g c count streams noack",
		// BITFIELD's flags: an operation short of its arguments is a write.
		"bitfield k get u8", "bitfield k overflow", "bitfield k overflow wrap",
		"bitfield k get u8 0 overflow sat get i8 1", "bitfield k set u8 0",
		// A numkeys that C's atoi reads but the key spec refuses: Redis's
		// own parser finds the keys.
		"eval s 2x a b", "zunionstore d 2x a b", "zunionstore d 01 a", "eval s 19x a b c d e f g h i j k l m n o p q r s",
		// Keywords match in any case.
		"XREAD COUNT 1 STREAMS a b 0 0", "MIGRATE h 1 \"\" 0 10 KEYS a b",
	}
	var cmds [][][]byte
	var calls [][][]byte
	add := func(args [][]byte) {
		calls = append(calls, args)
		cmds = append(cmds, append(argv("COMMAND", "GETKEYS"), args...), append(argv("COMMAND", "GETKEYSANDFLAGS"), args...))
	}
	for _, s := range tricky {
		f := strings.Fields(s)
		for i := range f {
			if f[i] == `""` {
				f[i] = ""
			}
		}
		add(argv(f...))
	}
	// atoi skips leading white space up to '\r', which strings.Fields would eat.
	add(argv("eval", "s", "\r1", "a"))
	rng := rand.New(rand.NewSource(7))
	words := []string{"k", "0", "1", "2", "3", "-1", "1x", "store", "STOREDIST", "streams", "keys", "block", "count",
		"group", "get", "GET", "set", "limit", "by", "auth", "auth2", "copy", "weights", "", "$", ">", "left"}
	for i := range table {
		ci := &table[i]
		if !ci.redis || !ci.hasKeys {
			continue
		}
		for range 25 {
			args := argv(strings.Split(ci.name, "|")...)
			n := -ci.arity - len(args) + rng.Intn(7)
			if ci.arity > 0 {
				n = ci.arity - len(args)
			}
			for range max(n, 0) {
				args = append(args, []byte(words[rng.Intn(len(words))]))
			}
			add(args)
		}
	}
	replies := r.pipeline(cmds)
	withKeys := 0
	for _, rep := range replies {
		if rep[0] == '*' && !bytes.HasPrefix(rep, []byte("*0\r\n")) {
			withKeys++
		}
	}
	if withKeys < len(replies)/4 {
		t.Errorf("only %d of %d calls have keys: the sample does not exercise key extraction", withKeys, len(replies))
	}
	for i, args := range calls {
		for j, sub := range []string{"getkeys", "getkeysandflags"} {
			got := AppendReply(nil, append(argv("command", sub), args...))
			if want := replies[2*i+j]; !bytes.Equal(got, want) {
				t.Errorf("COMMAND %s %q:\n got %q\nwant %q", sub, args, got, want)
			}
		}
		if t.Failed() && i > 200 {
			t.FailNow() // enough to diagnose
		}
	}
	// The session's key positions are GETKEYS' keys.
	for _, args := range calls {
		ci, msg := Lookup(args)
		if ci == nil || msg != "" || !ci.hasKeys {
			continue
		}
		pos, msg := ci.AppendKeyIndexes(nil, args)
		if msg != "" {
			continue
		}
		var fl []KeyFlags
		all := ci.AppendKeysAndFlags(nil, &fl, args)
		if !slices.Equal(pos, all) || len(fl) != len(all) {
			t.Errorf("%q: appendKeyIndexes %v, GETKEYS positions %v with %d flags", args, pos, all, len(fl))
		}
	}
}

// TestRedisCommandListCovered checks that the table has every command and
// subcommand of the running server, and nothing more.
func TestRedisCommandListCovered(t *testing.T) {
	r := dialRawRedis(t)
	v, err := readTestReply(bufio.NewReader(bytes.NewReader(r.do("COMMAND", "LIST"))))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range v.([]any) {
		want[n.(string)] = true
		t.Run(n.(string), func(t *testing.T) {
			ci := lookupByFullName([]byte(n.(string)))
			if ci == nil {
				t.Fatal("missing from the table")
			}
			if ci.class > ClassRefused {
				t.Errorf("no class")
			}
		})
	}
	for i := range table {
		if ci := &table[i]; ci.redis && !want[ci.name] {
			t.Errorf("%s is in the table but not in the server's COMMAND LIST", ci.name)
		}
	}
}

// TestCommandRepliesMatchRedisRESP3 compares AppendReplyProto's RESP3
// replies with a real redis-server speaking RESP3 (HELLO 3): maps for key
// specs and COMMAND DOCS, sets for flags, categories and tips, RESP3
// nulls. Byte for byte for every command without subcommands (whose order
// is Redis's hash table order) and for the calls of exact replies.
func TestCommandRepliesMatchRedisRESP3(t *testing.T) {
	r := dialRawRedis(t)
	requireTableVersion(t, r)
	r.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.c.Write(encodeCommand(nil, argv("HELLO", "3"))); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.ReadReply(r.r, nil); err != nil {
		t.Fatal(err)
	}
	do3 := func(args ...string) []byte {
		t.Helper()
		r.c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := r.c.Write(encodeCommand(nil, argv(args...))); err != nil {
			t.Fatal(err)
		}
		b, err := resp.ReadReply(r.r, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	local3 := func(args ...string) []byte { return AppendReplyProto(nil, argv(args...), 3) }
	checked := 0
	for i := range table {
		ci := &table[i]
		if !ci.redis || ci.container || strings.Contains(ci.name, "|") {
			continue
		}
		for _, args := range [][]string{{"COMMAND", "INFO", ci.name}, {"COMMAND", "DOCS", ci.name}} {
			if got, want := local3(args...), do3(args...); !bytes.Equal(got, want) {
				t.Errorf("%q differs:\n got %q\nwant %q", args, got, want)
			}
			checked++
		}
	}
	if checked < 300 {
		t.Fatalf("only %d replies compared", checked)
	}
	for _, args := range [][]string{
		{"COMMAND", "COUNT"},
		{"command", "info", "get", "nosuch", "script|load", "SCRIPT|LOAD", "get|x", "client|setinfo"},
		{"command", "docs", "get", "nosuch", "Script|Load", "client|setinfo"},
		{"command", "docs", "nosuch"},
		{"command", "help"},
		{"command", "nosuch"},
		{"command", "list", "filterby", "aclcat", "nosuch"},
		{"command", "getkeys", "mset", "a", "1", "b", "2"},
		{"command", "getkeysandflags", "mset", "a", "1", "b", "2"},
		{"command", "getkeysandflags", "lmove", "a", "b", "left", "right"},
		{"command", "getkeysandflags", "get"},
	} {
		if got, want := local3(args...), do3(args...); !bytes.Equal(got, want) {
			t.Errorf("%q differs:\n got %q\nwant %q", args, got, want)
		}
	}
	// Whole-table calls: the same number of entries, each a RESP3 reply
	// (Redis lists them in hash order, the proxy by name).
	for _, args := range [][]string{{"COMMAND"}, {"COMMAND", "DOCS"}} {
		got, want := local3(args...), do3(args...)
		if len(got) != len(want) || got[0] != want[0] {
			t.Errorf("%q: %d bytes starting %q, redis %d bytes starting %q", args, len(got), got[:1], len(want), want[:1])
		}
	}
	// RESP2 is unchanged.
	if got, want := AppendReplyProto(nil, argv("COMMAND", "INFO", "get"), 2), local("COMMAND", "INFO", "get"); !bytes.Equal(got, want) {
		t.Errorf("proto 2: %q, want %q", got, want)
	}
}

// requireTableVersion stops a test that compares the table with a
// redis-server of another version than the one it was generated from: a
// skip on a developer's machine, a failure under CI (which installs the
// version the table comes from).
func requireTableVersion(t *testing.T, r *rawRedis) {
	t.Helper()
	if info := string(r.do("INFO", "server")); !strings.Contains(info, "redis_version:"+RedisVersion+"\r\n") {
		msg := fmt.Sprintf("table generated from redis-server %s; the server here is another version", RedisVersion)
		if testenv.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}
