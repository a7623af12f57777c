package router

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// exchange sends every command of script in one write (a pipeline) on a
// new connection to addr and returns the replies, one string each.
func exchange(t *testing.T, addr string, script [][]string) []string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var wire []byte
	for _, c := range script {
		wire = resp.AppendCommand(wire, c...)
	}
	if _, err := nc.Write(wire); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	out := make([]string, len(script))
	for i := range script {
		b, err := resp.ReadReply(br, nil)
		if err != nil {
			t.Fatalf("%v: reply %d: %v", script, i, err)
		}
		out[i] = string(b)
	}
	return out
}

func cmds(lines ...string) [][]string {
	out := make([][]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Fields(l)
	}
	return out
}

// TestTxSameAsRedis runs transaction scripts against one redis-server and
// through the proxy (3 shards, keys of one hash tag) and compares the
// replies byte for byte: Redis's own error texts for nested MULTI, EXEC and
// DISCARD without MULTI, WATCH inside MULTI, queueing errors and EXECABORT,
// proxy-answered commands spliced into EXEC, keyless transactions.
func TestTxSameAsRedis(t *testing.T) {
	direct := testenv.StartRedis(t)
	rs := shards(t, 3)
	p := startProxy(t, rs, nil)
	scripts := [][][]string{
		cmds("MULTI", "MULTI", "SET {u}a 1", "EXEC", "GET {u}a"),
		cmds("EXEC", "DISCARD", "UNWATCH", "PING"),
		cmds("MULTI", "WATCH {u}a", "SET {u}a 2", "EXEC"),
		cmds("MULTI", "SET {u}a", "EXEC", "GET {u}a"),
		cmds("MULTI", "FOO bar", "EXEC"),
		cmds("MULTI", "UNWATCH", "PING", "ECHO hi", "EXEC"),
		cmds("MULTI", "BLPOP {u}l 0", "EXEC"),
		cmds("MULTI", "EXEC", "EXEC"),
		cmds("MULTI", "INCR {u}n", "SET {u}n x", "INCR {u}n", "EXEC", "DEL {u}n"),
		cmds("MULTI", "PING", "SET {u}b 1", "GET {u}b", "ECHO x", "EXEC"),
		cmds("MULTI", "SET {u}c 1", "SELECT 0", "CLIENT SETNAME tx", "GET {u}c", "EXEC", "CLIENT GETNAME"),
		cmds("SET {u}d 1", "MULTI", "SET {u}d 2", "DISCARD", "GET {u}d", "DISCARD"),
		cmds("WATCH {u}e", "SET {u}e 1", "MULTI", "SET {u}e 2", "EXEC", "GET {u}e"),
		cmds("WATCH {u}f", "MULTI", "SET {u}f 2", "EXEC", "GET {u}f"),
		cmds("WATCH {u}g", "UNWATCH", "SET {u}g 1", "MULTI", "INCR {u}g", "EXEC"),
		cmds("WATCH {u}h", "MULTI", "EXEC", "WATCH {u}h", "DISCARD", "UNWATCH"),
		{{"MULTI"}, {"EVAL", "return redis.call('set',KEYS[1],ARGV[1])", "1", "{u}s", "v"}, {"EVAL", "return 1", "0"}, {"GET", "{u}s"}, {"EXEC"}},
		{{"MULTI"}, {"EVAL", "return 1", "0"}, {"EVAL", "return redis.call('get',KEYS[1])", "1", "{u}s"}, {"EXEC"}},
		cmds("MULTI", "MGET {u}a {u}b", "MSET {u}x 1 {u}y 2", "DEL {u}x {u}y", "EXEC"),
		cmds("MULTI", "LPUSH {u}q a", "BRPOPLPUSH {u}q {u}r 0", "WAIT 0 0", "EXEC"),
		cmds("MULTI", "SET {u}z", "EXEC", "PING"),
	}
	for _, sc := range scripts {
		want := exchange(t, direct.Addr, sc)
		got := exchange(t, p.Addr(), sc)
		for i := range sc {
			if got[i] != want[i] {
				t.Errorf("%v\n  command %v: proxy %q, redis %q", sc, sc[i], got[i], want[i])
			}
		}
	}
}
