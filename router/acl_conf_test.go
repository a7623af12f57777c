package router

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// aclConfPath is the shipped ACL file for the shards' proxy user.
const aclConfPath = "../deploy/redis/acl.conf"

// shardproxyACLUser compiles the "shardproxy" user of deploy/redis/acl.conf.
func shardproxyACLUser(t *testing.T) *aclUser {
	t.Helper()
	data, err := os.ReadFile(aclConfPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rules := config.UserName(line)
		if name != "shardproxy" {
			continue
		}
		u := newACLUser(name)
		for _, r := range rules {
			if err := u.apply(r); err != nil {
				t.Fatalf("%s: rule %q: %v", aclConfPath, r, err)
			}
		}
		return u
	}
	t.Fatalf("%s has no user shardproxy", aclConfPath)
	return nil
}

// TestACLConfMatchesCommandTable: the backend user of acl.conf may run every
// command the proxy forwards, and none that it refuses or denies by default,
// except the few the proxy sends itself. A command table change that this
// file does not follow fails here.
func TestACLConfMatchesCommandTable(t *testing.T) {
	u := shardproxyACLUser(t)
	proxyUses := map[string]bool{"asking": true, "readonly": true, "cluster|slots": true, "cluster|shards": true}
	deny := map[string]bool{}
	for _, e := range config.DefaultDenyCommands() {
		deny[e.Value] = true
	}
	for i := 0; i < command.Count; i++ {
		ci := command.ByIndex(i)
		if !ci.Redis() || ci.Container() || strings.HasSuffix(ci.Name(), "|help") {
			continue
		}
		want := true
		switch {
		case proxyUses[ci.Name()]:
		case ci.Class() == command.ClassRefused, deny[ci.Name()]:
			want = false
		case ci.Class() == command.ClassLocal:
			continue // never reaches a shard
		}
		if u.allowed[i] != want {
			t.Errorf("%s: shardproxy may run %s = %v, want %v (class %v)", aclConfPath, ci.Name(), u.allowed[i], want, ci.Class())
		}
	}
}

// TestACLConfStopsScripts is issue 12's Lua hole: through the proxy, a
// script calling SWAPDB (or FLUSHALL) on a shard that runs with acl.conf is
// refused by Redis, and the data stays in database 0.
func TestACLConfStopsScripts(t *testing.T) {
	// Start open (testenv's readiness probe needs the default user), then
	// load the shipped file.
	aclFile := filepath.Join(t.TempDir(), "acl.conf")
	if err := os.WriteFile(aclFile, []byte("user default on nopass ~* &* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := testenv.StartRedis(t, "--aclfile", aclFile)
	conf, err := os.ReadFile(aclConfPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aclFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.Do(r.Addr, "ACL", "LOAD"); err != nil {
		t.Fatalf("ACL LOAD %s: %v", aclConfPath, err)
	}
	if _, err := testenv.Do(r.Addr, "SET", "k", "v"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("the default user still works on the shard: %v", err)
	}
	p := startProxy(t, []*testenv.Redis{r}, func(pc *config.Pool) {
		pc.RedisUsername = "shardproxy"
		pc.RedisAuth = "shardproxy-change-me"
		pc.Users = config.Entries("default on nopass ~* &* +@all")
	})
	c := dialRaw(t, p)
	const refused = "-ERR The user executing the script can't run this command or subcommand script: "
	c.send(respCommand("SET", "x", "1") +
		respCommand("EVAL", "return redis.call('SWAPDB','0','1')", "1", "x") +
		respCommand("EVAL", "return redis.call('FLUSHALL')", "1", "x") +
		respCommand("EVAL", "return redis.call('MOVE',KEYS[1],'1')", "1", "x") +
		respCommand("EVAL", "return redis.call('GET',KEYS[1])", "1", "x") +
		respCommand("SWAPDB", "0", "1") +
		respCommand("GET", "x"))
	c.mustReply("+OK\r\n")
	for _, what := range []string{"SWAPDB", "FLUSHALL", "MOVE"} {
		got, err := c.reply()
		if err != nil || !strings.HasPrefix(got, refused) {
			t.Fatalf("EVAL calling %s: %q, %v; want %q...", what, got, err, refused)
		}
	}
	c.mustReply("$1\r\n1\r\n")
	c.mustReply("-ERR command 'swapdb' is not supported by the proxy: the proxy serves database 0 only\r\n")
	c.mustReply("$1\r\n1\r\n")
}
