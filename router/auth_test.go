package router

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// allow returns a pool edit that re-enables denied commands (FLUSHALL,
// FLUSHDB, KEYS) for a test.
func allow(cmds ...string) func(*config.Pool) {
	return func(pc *config.Pool) { pc.AllowCommands = append(pc.AllowCommands, config.Entries(cmds...)...) }
}

// clientAuth is client with a username (or "") and password.
func clientAuth(t testing.TB, p *Pool, user, pass string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: p.Addr(), Username: user, Password: pass, MaxRetries: -1,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		PoolSize: 2, Protocol: 2, DisableIdentity: true,
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// aclUsers are the users of the ACL tests, as a pool's users entries and as
// ACL SETUSER arguments of a real redis-server.
var aclUsers = []string{
	"alice on >apass ~cache:* &chan:* +@read -@dangerous +get +set",
	"bob on >bpass %R~r:* %W~w:* +@all -flushall -config|set",
	"carol off >cpass +@all ~*",
	"dave on nopass +@all -@dangerous allkeys",
	"erin on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 resetchannels ~* +@all",
	"frank on >fpass ~* &* -@all +@write +@read -@dangerous +config|get -set +acl|whoami",
	"gina on >gpass ~* &* +@all -@admin +client|kill -@scripting +eval",
	"hank on >h1 >h2 <h1 ~* &* +@all -acl -cluster +cluster|slots reset on >h3 ~* +@hash",
	"ivan on >ipass ~* resetchannels &chan:* &news.* +@all",
}

// aclRedis starts a redis-server with requirepass secret and aclUsers.
func aclRedis(t *testing.T) *testenv.Redis {
	t.Helper()
	r := testenv.StartRedis(t)
	for _, u := range aclUsers {
		args := append([]string{"ACL", "SETUSER"}, strings.Fields(u)...)
		if _, err := testenv.Do(r.Addr, args...); err != nil {
			t.Fatalf("ACL SETUSER %s: %v", u, err)
		}
	}
	if _, err := testenv.Do(r.Addr, "CONFIG", "SET", "requirepass", "secret"); err != nil {
		t.Fatal(err)
	}
	return r
}

// aclPool is a pool with requirepass secret and aclUsers.
func aclPool(edit func(*config.Pool)) func(*config.Pool) {
	return func(pc *config.Pool) {
		pc.RequirePass = "secret"
		pc.Users = config.Entries(aclUsers...)
		if edit != nil {
			edit(pc)
		}
	}
}

// splitRules separates an ACL LIST line into the rules whose order is
// fixed and the single-command rules, which Redis emits in hash order.
func splitRules(line string) (fixed []string, single []string) {
	for _, f := range strings.Fields(line) {
		if (f[0] == '+' || f[0] == '-') && !strings.HasPrefix(f[1:], "@") {
			single = append(single, f)
		} else {
			fixed = append(fixed, f)
		}
	}
	slices.Sort(single)
	return fixed, single
}

// TestACLListMatchesRedis compiles aclUsers and compares ACL LIST with a
// real redis-server's, rule for rule.
func TestACLListMatchesRedis(t *testing.T) {
	r := aclRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr, Password: "secret", Protocol: 2, DisableIdentity: true})
	defer rc.Close()
	want, err := rc.Do(ctx(), "ACL", "LIST").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	pc := ringPool(t, []*testenv.Redis{r}, aclPool(nil))
	a, err := newPoolAccess("", pc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range a.names {
		got = append(got, "user "+a.users[n].describe())
	}
	if len(got) != len(want) {
		t.Fatalf("ACL LIST:\n got %q\nwant %q", got, want)
	}
	for i := range want {
		t.Logf("proxy %s\n         redis %s", got[i], want[i])
		gf, gs := splitRules(got[i])
		wf, ws := splitRules(want[i])
		if !slices.Equal(gf, wf) || !slices.Equal(gs, ws) {
			t.Errorf("ACL LIST line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// TestACLCommandBitsMatchRedis asks a real redis-server, with ACL DRYRUN,
// whether each user may run each command of the table, and compares.
func TestACLCommandBitsMatchRedis(t *testing.T) {
	r := aclRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: r.Addr, Password: "secret", Protocol: 2, DisableIdentity: true})
	defer rc.Close()
	pc := ringPool(t, []*testenv.Redis{r}, aclPool(nil))
	a, err := newPoolAccess("", pc)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range []string{"frank", "gina", "hank", "erin"} {
		u := a.users[name]
		pipe := rc.Pipeline()
		var cmds []*command.Info
		for i := 0; i < command.Count; i++ {
			ci := command.ByIndex(i)
			if !ci.Redis() || ci.Container() {
				continue
			}
			args := []any{"ACL", "DRYRUN", name}
			for _, w := range strings.Split(ci.Name(), "|") {
				args = append(args, w)
			}
			for len(args)-3 < max(ci.Arity(), -ci.Arity()) {
				args = append(args, "1")
			}
			pipe.Do(ctx(), args...)
			cmds = append(cmds, ci)
		}
		res, _ := pipe.Exec(ctx())
		for i, cmd := range res {
			v, err := cmd.(*redis.Cmd).Result()
			redisOK := err == nil && v == "OK"
			if err == nil && v != "OK" && !strings.Contains(fmt.Sprint(v), "no permissions to run") {
				// Denied for its key or channel: the command itself is allowed.
				redisOK = true
			}
			ci := cmds[i]
			proxyOK := u.verdict[ci.Index()] == vAllow || u.verdict[ci.Index()] == vCheck || u.verdict[ci.Index()] == vDenied
			if redisOK != proxyOK {
				t.Errorf("user %s, %s: redis allows=%v (%v %v), proxy verdict %d", name, ci.Name(), redisOK, v, err, u.verdict[ci.Index()])
			}
			checked++
		}
	}
	if checked < 4*300 {
		t.Fatalf("only %d commands checked", checked)
	}
}

// exchange sends script to addr as one pipeline and returns the raw replies.
func exchange(t *testing.T, addr string, script []string) []string {
	t.Helper()
	rc := dialRawAddr(t, addr)
	var b strings.Builder
	for _, line := range script {
		b.WriteString(respCommand(strings.Fields(line)...))
	}
	rc.send(b.String())
	out := make([]string, len(script))
	for i := range script {
		r, err := rc.reply()
		if err != nil {
			t.Fatalf("%s: reply %d (%s): %v", addr, i, script[i], err)
		}
		out[i] = r
	}
	return out
}

// respCommand encodes args as a RESP array.
func respCommand(args ...string) string {
	s := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	return s
}

// TestAuthRepliesMatchRedis sends the same pipelines to a real
// redis-server and to the proxy, both with requirepass and aclUsers, and
// compares every reply byte for byte: NOAUTH, WRONGPASS, NOPERM for
// commands, keys and channels, AUTH's and HELLO's errors, ACL WHOAMI, CAT.
func TestAuthRepliesMatchRedis(t *testing.T) {
	r := aclRedis(t)
	rs := shards(t, 2)
	p := startProxy(t, rs, aclPool(allow("flushall", "keys")))
	scripts := [][]string{
		{"GET x", "FOO x", "GET", "PING", "ACL WHOAMI", "HELLO", "HELLO 2 SETNAME x",
			"AUTH wrong", "AUTH a b", "AUTH a b c", "HELLO 2 AUTH default wrong", "HELLO 2 AUTH x",
			"AUTH carol cpass", "GET x", "AUTH secret", "ACL WHOAMI", "AUTH default wrong", "ACL WHOAMI",
			"ACL CAT", "ACL CAT foo", "ACL CAT read x", "ACL USERS", "QUIT"},
		{"AUTH alice apass", "ACL WHOAMI", "GET cache:1", "GET other", "SET cache:1 v", "GET cache:1",
			"DEL cache:1", "FLUSHALL", "KEYS *", "MGET cache:1 x", "MGET cache:1 cache:2", "PUBLISH chan:1 x",
			"CONFIG GET maxmemory", "ACL CAT", "SET other v", "INCR cache:n", "QUIT"},
		{"AUTH bob bpass", "GET r:1", "SET r:1 x", "SET w:1 x", "GET w:1", "FLUSHALL", "CONFIG SET maxmemory 0",
			"ACL WHOAMI", "STRLEN r:1", "APPEND w:1 y", "APPEND r:1 y", "GETDEL w:1", "QUIT"},
		{"AUTH dave anything", "ACL WHOAMI", "KEYS *", "SET k v", "GET k", "FLUSHALL", "CONFIG GET maxmemory", "QUIT"},
		{"AUTH erin password", "SET e v", "GET e", "QUIT"},
		{"AUTH frank fpass", "SET f v", "GET f", "INCR f:n", "EVAL return 1 0", "ACL WHOAMI", "QUIT"},
		{"AUTH hank h1", "AUTH hank h2", "AUTH hank h3", "HSET h f v", "HGET h f", "GET h", "QUIT"},
		// Channels: a channel must match a pattern; a PSUBSCRIBE pattern must
		// equal one. (Refusals, then a subscribed client.)
		{"AUTH ivan ipass", "PUBLISH other x", "SPUBLISH other x", "SUBSCRIBE chan:1 other", "PSUBSCRIBE chan:1*",
			"SSUBSCRIBE other", "SET k v", "QUIT"},
	}
	for i, script := range scripts {
		want := exchange(t, r.Addr, script)
		got := exchange(t, p.Addr(), script)
		for j := range script {
			if got[j] != want[j] {
				t.Errorf("script %d, %q:\n got %q\nwant %q", i, script[j], got[j], want[j])
			}
		}
	}
}

// dialRawAddr is dialRaw for any address.
func dialRawAddr(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// TestAuthClients connects go-redis, redis-cli and redis-py with a
// password and with a user and password, and checks NOPERM inside a
// pipeline.
func TestAuthClients(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, aclPool(nil))

	if err := client(t, p).Set(ctx(), "k", "v", 0).Err(); err == nil || err.Error() != errNoAuth {
		t.Fatalf("SET without AUTH: %v", err)
	}
	if err := clientAuth(t, p, "", "wrong").Ping(ctx()).Err(); err == nil || err.Error() != errWrongPass {
		t.Fatalf("connect with a wrong password: %v", err)
	}
	def := clientAuth(t, p, "", "secret")
	if err := def.Set(ctx(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("go-redis with password: %v", err)
	}
	if v, err := clientAuth(t, p, "frank", "fpass").Do(ctx(), "ACL", "WHOAMI").Text(); err != nil || v != "frank" {
		t.Fatalf("go-redis with user: WHOAMI = %q, %v", v, err)
	}
	alice := clientAuth(t, p, "alice", "apass")
	// NOPERM inside a pipeline: each command gets its own reply, in order.
	pipe := alice.Pipeline()
	set := pipe.Set(ctx(), "cache:a", "1", 0)
	other := pipe.Get(ctx(), "other")
	del := pipe.Del(ctx(), "cache:a")
	get := pipe.Get(ctx(), "cache:a")
	mget := pipe.MGet(ctx(), "cache:a", "nope")
	pipe.Exec(ctx())
	if set.Err() != nil || get.Val() != "1" ||
		other.Err() == nil || other.Err().Error() != errNoPermKey ||
		del.Err() == nil || del.Err().Error() != "NOPERM this user has no permissions to run the 'del' command" ||
		mget.Err() == nil || mget.Err().Error() != errNoPermKey {
		t.Fatalf("pipeline: set %v, other %v, del %v, get %q %v, mget %v", set.Err(), other.Err(), del.Err(), get.Val(), get.Err(), mget.Err())
	}

	// redis-cli, with -a and with --user/--pass.
	cli := testenv.RequireBinary(t, "redis-cli")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"-h", "127.0.0.1", "-p", fmt.Sprint(p.Port()), "--no-auth-warning"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := run("-a", "secret", "GET", "k"); out != "v" {
		t.Fatalf("redis-cli -a: %q", out)
	}
	if out := run("--user", "alice", "--pass", "apass", "GET", "cache:a"); out != "1" {
		t.Fatalf("redis-cli --user: %q", out)
	}
	if out := run("--user", "alice", "--pass", "apass", "GET", "k"); out != errNoPermKey {
		t.Fatalf("redis-cli NOPERM: %q", out)
	}
	if out := run("GET", "k"); out != errNoAuth {
		t.Fatalf("redis-cli without password: %q", out)
	}

	// redis-py (Debian python3-redis), password and username/password.
	// Debian's python3-redis lives beside /usr/bin/python3, which another
	// python3 first on PATH (pyenv) would not see.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = testenv.RequireBinary(t, "python3")
	}
	if err := exec.Command(py, "-c", "import redis").Run(); err != nil {
		if testenv.InCI() {
			t.Fatalf("python3 cannot import redis: apt-get install python3-redis")
		}
		t.Skip("python3-redis is not installed (apt-get install python3-redis)")
	}
	script := `
import sys, redis
port = int(sys.argv[1])
r = redis.Redis(port=port, password="secret")
assert r.get("k") == b"v", r.get("k")
f = redis.Redis(port=port, username="frank", password="fpass")
assert f.execute_command("ACL", "WHOAMI") == b"frank"
a = redis.Redis(port=port, username="alice", password="apass")
p = a.pipeline(transaction=False)
p.set("cache:py", "1"); p.get("k"); p.get("cache:py")
res = p.execute(raise_on_error=False)
assert res[0] is True and res[2] == b"1", res
assert isinstance(res[1], redis.exceptions.NoPermissionError), repr(res[1])
try:
    redis.Redis(port=port, password="wrong").ping()
    raise SystemExit("wrong password accepted")
except redis.exceptions.RedisError as e:
    assert str(e) == "WRONGPASS invalid username-password pair or user is disabled.", str(e)
try:
    redis.Redis(port=port).get("k")
    raise SystemExit("no password accepted")
except redis.exceptions.RedisError as e:
    assert str(e) == "Authentication required.", str(e)
print("ok")
`
	out, err := exec.Command(py, "-c", script, fmt.Sprint(p.Port())).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("redis-py: %v\n%s", err, out)
	}
}

// TestNoAuthConfiguredMatchesRedis: without requirepass, users or
// redis_auth, the proxy answers like a redis-server with no password.
func TestNoAuthConfiguredMatchesRedis(t *testing.T) {
	r := testenv.StartRedis(t)
	p := startProxy(t, shards(t, 1), nil)
	script := []string{"AUTH x", "AUTH default x", "AUTH nobody x", "ACL WHOAMI", "ACL LIST", "ACL USERS",
		"HELLO 2 AUTH nobody x", "SET k v", "GET k", "QUIT"}
	want := exchange(t, r.Addr, script)
	got := exchange(t, p.Addr(), script)
	for j := range script {
		if got[j] != want[j] {
			t.Errorf("%q:\n got %q\nwant %q", script[j], got[j], want[j])
		}
	}
	// HELLO AUTH as the default user works: it needs no password.
	c := dialRaw(t, p)
	c.send(respCommand("HELLO", "2", "AUTH", "default", "anything"))
	if got, err := c.reply(); err != nil || !strings.HasPrefix(got, "*16\r\n$6\r\nserver\r\n") {
		t.Fatalf("HELLO 2 AUTH default: %q %v", got, err)
	}
}

// TestNutcrackerAuthCompat: redis_auth without client auth settings asks
// clients for redis_auth, as twemproxy does.
func TestNutcrackerAuthCompat(t *testing.T) {
	r := testenv.StartRedis(t)
	if _, err := testenv.Do(r.Addr, "CONFIG", "SET", "requirepass", "s3cret"); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, []*testenv.Redis{r}, func(pc *config.Pool) { pc.RedisAuth = "s3cret" })
	c := dialRaw(t, p)
	c.send(respCommand("SET", "k", "v") + respCommand("AUTH", "wrong") + respCommand("AUTH", "s3cret") +
		respCommand("SET", "k", "v") + respCommand("ACL", "WHOAMI"))
	c.mustReply("-" + errNoAuth + "\r\n")
	c.mustReply("-" + errWrongPass + "\r\n")
	c.mustReply("+OK\r\n")
	c.mustReply("+OK\r\n")
	c.mustReply("$7\r\ndefault\r\n")

	// With users configured, redis_auth stays a backend secret only.
	q := startProxy(t, []*testenv.Redis{r}, func(pc *config.Pool) {
		pc.RedisAuth = "s3cret"
		pc.Users = config.Entries("app on >apppass ~* &* +@all")
	})
	d := dialRaw(t, q)
	d.send(respCommand("AUTH", "s3cret") + respCommand("AUTH", "default", "s3cret") + respCommand("AUTH", "app", "apppass") + respCommand("GET", "k"))
	d.mustReply("-" + errWrongPass + "\r\n")
	d.mustReply("-" + errWrongPass + "\r\n")
	d.mustReply("+OK\r\n")
	d.mustReply("$1\r\nv\r\n")
}

// TestDenyCommands checks the default policy, allow_commands, a denied
// category and that NOPERM comes before the pool's policy.
func TestDenyCommands(t *testing.T) {
	rs := shards(t, 2)
	denied := func(name string) string {
		return "-ERR command '" + name + "' is denied by the proxy's deny_commands; allow_commands re-enables it\r\n"
	}
	c := dialRaw(t, startProxy(t, rs, nil))
	c.send(respCommand("SET", "k", "v") + respCommand("FLUSHALL") + respCommand("flushdb", "async") +
		respCommand("KEYS", "*") + respCommand("GET", "k") + respCommand("DBSIZE"))
	c.mustReply("+OK\r\n")
	c.mustReply(denied("flushall"))
	c.mustReply(denied("flushdb"))
	c.mustReply(denied("keys"))
	c.mustReply("$1\r\nv\r\n")
	c.mustReply(":1\r\n")

	d := dialRaw(t, startProxy(t, rs, func(pc *config.Pool) {
		pc.DenyCommands = append(pc.DenyCommands, config.Entries("@hyperloglog", "config|get")...)
		pc.AllowCommands = config.Entries("flushall")
		pc.Users = config.Entries("default on nopass ~* &* +@all", "ro on >ro ~* &* +@read")
	}))
	d.send(respCommand("PFADD", "h", "a") + respCommand("CONFIG", "GET", "save") + respCommand("FLUSHALL") +
		respCommand("GET", "k") + respCommand("AUTH", "ro", "ro") + respCommand("FLUSHALL") + respCommand("KEYS", "*") +
		respCommand("GET", "k"))
	d.mustReply(denied("pfadd"))
	d.mustReply(denied("config|get"))
	d.mustReply("+OK\r\n")
	d.mustReply("$-1\r\n")
	d.mustReply("+OK\r\n")
	d.mustReply("-NOPERM this user has no permissions to run the 'flushall' command\r\n")
	d.mustReply(denied("keys")) // @read holds KEYS; the pool denies it
	d.mustReply("$-1\r\n")
}

// TestAccessConfigErrors: rules the router cannot compile are reported
// with the file, line and key, by CheckConfig and by New.
func TestAccessConfigErrors(t *testing.T) {
	tests := []struct{ line, want string }{
		{"users: [\"alice on +nosuch\"]", `f.yml:2: p.users: user alice: rule "+nosuch": Unknown command or category name in ACL`},
		{"users: [\"alice on +@nosuch\"]", `f.yml:2: p.users: user alice: rule "+@nosuch": Unknown command or category name in ACL`},
		{"users: [\"alice on #abc\"]", `f.yml:2: p.users: user alice: rule "#abc": The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters`},
		{"users: [\"alice on (+get ~x)\"]", `f.yml:2: p.users: user alice: rule "(+get": selectors are not supported by the proxy`},
		{"users: [\"alice ~* ~x\"]", `f.yml:2: p.users: user alice: rule "~x": Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns`},
		{"users: [\"alice +select|0\"]", `f.yml:2: p.users: user alice: rule "+select|0": first-argument rules (such as +select|0) are not supported by the proxy`},
		{"users: [\"alice on bogus\"]", `f.yml:2: p.users: user alice: rule "bogus": Syntax error`},
		{"allow_commands: [swapdb]", `f.yml:2: p.allow_commands: SWAPDB is always refused by the proxy (the proxy serves database 0 only); allow_commands cannot enable it`},
		{"deny_commands: [nosuch]", `f.yml:2: p.deny_commands: unknown command "nosuch"`},
		{"deny_commands: [auth]", `f.yml:2: p.deny_commands: AUTH cannot be denied: clients need it to authenticate and to leave`},
	}
	for _, tc := range tests {
		cfg, err := config.Parse("f.yml", []byte("p:\n  "+tc.line+"\n  redis: true\n  servers: [127.0.0.1:1:1]\n"))
		if err != nil {
			t.Fatalf("%s: %v", tc.line, err)
		}
		if err := CheckConfig(cfg); err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.line, err, tc.want)
		}
		if _, err := New(cfg, Options{Logger: testLogger(t)}); err == nil || err.Error() != tc.want {
			t.Errorf("New with %s: %v", tc.line, err)
		}
	}
}

// BenchmarkACLCheck is the per-command cost of the access check for a user
// with every permission (one array load) and for one with key patterns.
func BenchmarkACLCheck(b *testing.B) {
	pc := config.Default("bench")
	pc.Users = config.Entries("all on nopass +@all ~* &*", "patterns on nopass +@all ~other:* ~key:*")
	a, err := newPoolAccess("", pc)
	if err != nil {
		b.Fatal(err)
	}
	args := [][]byte{[]byte("SET"), []byte("key:0001"), []byte("value")}
	ci, _ := command.Lookup(args)
	for _, name := range []string{"all", "patterns"} {
		b.Run(name, func(b *testing.B) {
			s := &Session{auth: sessionAuth{user: a.users[name]}}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if v := s.auth.user.verdict[ci.Index()]; v != vAllow {
					if msg := s.checkAccess(v, ci, args); msg != "" {
						b.Fatal(msg)
					}
				}
			}
		})
	}
}
