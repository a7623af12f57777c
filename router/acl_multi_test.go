package router

import (
	"testing"
)

// TestACLInMultiMatchesRedis sends transactions of ACL users (aclUsers)
// that run a denied command or touch a key outside their patterns inside
// MULTI, to a real redis-server with the same users and through the proxy
// (two shards), and compares every reply byte for byte: the NOPERM errors
// while queueing, EXEC's EXECABORT (nothing applied, as the GETs after
// show), DISCARD, WATCH of a forbidden key, a clean transaction after, and
// EXEC itself refused.
// The keys share a hash tag so that the proxy binds each transaction to one
// shard.
func TestACLInMultiMatchesRedis(t *testing.T) {
	r := aclRedis(t)
	rs := shards(t, 2)
	p := startProxy(t, rs, aclPool(nil))
	scripts := [][]string{
		// alice: ~cache:* +@read -@dangerous +get +set
		{"AUTH alice apass", "MULTI", "GET cache:{a}1", "SET cache:{a}1 v", "INCR cache:{a}n", "EXEC",
			"GET cache:{a}1", "GET cache:{a}n", "QUIT"},
		{"AUTH alice apass", "MULTI", "SET cache:{a}1 v", "GET other{a}", "GET cache:{a}1", "EXEC",
			"GET cache:{a}1", "QUIT"},
		{"AUTH alice apass", "MULTI", "SET cache:{a}1 v", "MGET cache:{a}1 other{a}", "DEL cache:{a}1", "DISCARD",
			"MULTI", "SET cache:{a}1 v1", "GET cache:{a}1", "EXEC", "QUIT"},
		{"AUTH alice apass", "WATCH other{a}", "WATCH cache:{a}1", "MULTI", "GET cache:{a}1", "FLUSHALL", "EXEC", "QUIT"},
		{"AUTH alice apass", "MULTI", "PING", "INCR cache:{a}n", "EXEC", "QUIT"},
		// frank: ~* &* -@all +@write +@read -@dangerous +config|get -set +acl|whoami
		{"AUTH frank fpass", "MULTI", "INCR f{f}:n", "SET f{f} v", "GET f{f}", "EXEC", "GET f{f}:n", "QUIT"},
		{"AUTH frank fpass", "MULTI", "INCR f{f}:n", "GET f{f}:n", "EXEC", "QUIT"},
		// bob: %R~r:* %W~w:* +@all -flushall -config|set
		{"AUTH bob bpass", "MULTI", "GET r:{b}1", "SET r:{b}1 x", "EXEC", "GET r:{b}1", "QUIT"},
		{"AUTH bob bpass", "MULTI", "SET w:{b}1 x", "GET w:{b}1", "APPEND w:{b}1 y", "EXEC", "QUIT"},
		{"AUTH bob bpass", "MULTI", "SET w:{b}1 x", "APPEND w:{b}1 y", "EXEC", "FLUSHALL", "QUIT"},
		// A refused EXEC (NOAUTH, wrong arity) answers EXECABORT with the
		// reason and ends the transaction and the WATCH, as Redis's
		// rejectCommand does: the own write to the watched key no longer
		// aborts the next transaction.
		{"EXEC", "MULTI", "EXEC x", "AUTH secret", "EXEC x", "MULTI", "SET k{k} 1", "EXEC x", "EXEC", "GET k{k}", "QUIT"},
		{"AUTH secret", "WATCH w{w}", "SET w{w} 1", "EXEC x", "MULTI", "SET w{w} 2", "EXEC", "GET w{w}",
			"WATCH w{w}", "SET w{w} 3", "MULTI", "SET w{w} 4", "EXEC", "GET w{w}", "QUIT"},
	}
	for i, script := range scripts {
		want := exchange(t, r.Addr, script)
		got := exchange(t, p.Addr(), script)
		for j := range script {
			if got[j] != want[j] {
				t.Errorf("script %d, %q:\n got %q\nwant %q", i, script[j], got[j], want[j])
			}
		}
		t.Logf("script %d: %q", i, want)
	}
}
