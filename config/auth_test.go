package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAccess(t *testing.T) {
	src := poolYAML(
		"redis_auth: backendpass",
		"redis_username: shardproxy",
		"requirepass: clientpass",
		"users:",
		"  - alice on >apass ~cache:* +@read",
		"  - user bob on nopass ~* +@all",
		"deny_commands: [flushall, \"@dangerous\"]",
		"allow_commands:",
		"  - keys",
	)
	c, err := Parse("f.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Pools[0].Access
	want := Access{
		RedisUsername: "shardproxy",
		RequirePass:   "clientpass",
		Users:         []Entry{{"alice on >apass ~cache:* +@read", 6}, {"user bob on nopass ~* +@all", 7}},
		DenyCommands:  []Entry{{"flushall", 8}, {"@dangerous", 8}},
		AllowCommands: []Entry{{"keys", 10}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Access:\ngot  %+v\nwant %+v", got, want)
	}
	if n, rules := UserName(got.Users[1].Value); n != "bob" || strings.Join(rules, " ") != "on nopass ~* +@all" {
		t.Fatalf("UserName = %q %q", n, rules)
	}
	// Absent keys: the default deny list, nothing else.
	c, err = Parse("f.yml", []byte(poolYAML()))
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Pools[0].DenyCommands; !reflect.DeepEqual(d, DefaultDenyCommands()) {
		t.Fatalf("default deny_commands = %v", d)
	}
	// An empty list denies nothing.
	c, err = Parse("f.yml", []byte(poolYAML("deny_commands: []")))
	if err != nil || len(c.Pools[0].DenyCommands) != 0 {
		t.Fatalf("deny_commands: [] = %v, %v", c.Pools[0].DenyCommands, err)
	}
}

func TestAccessErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"users not a list", poolYAML("users: alice"), `f.yml:2: p.users: want a list of strings, got "alice"`},
		{"user not a string", poolYAML("users:", "  - {a: 1}"), `f.yml:3: p.users: want a string, got a mapping`},
		{"duplicate user", poolYAML("users:", "  - alice on", "  - alice off"), `f.yml:4: p.users: user "alice" is already defined (line 3)`},
		{"default and requirepass", poolYAML("requirepass: x", "users:", "  - default on nopass"),
			`f.yml:4: p.users: a "default" user and requirepass both set the default user's password; keep one`},
		{"deny two words", poolYAML("deny_commands: [\"config set\"]"),
			`f.yml:2: p.deny_commands: "config set": want one command name ("flushall", "config|set") or category ("@dangerous")`},
		{"username without password", poolYAML("redis_username: proxy"),
			`f.yml:2: p.redis_username: needs redis_auth, the password of that user on the backends`},
		{"requirepass list", poolYAML("requirepass: [a]"), `f.yml:2: p.requirepass: want a string, got a list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yml", []byte(tc.yaml))
			if got := errText(err); got != tc.want {
				t.Errorf("error:\ngot  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSameClientPolicy(t *testing.T) {
	a := Access{RequirePass: "x", Users: []Entry{{"alice on", 3}}, DenyCommands: DefaultDenyCommands()}
	b := a
	b.Users = []Entry{{"alice on", 9}}
	if !a.SameClientPolicy(&b) {
		t.Fatal("lines alone changed the policy")
	}
	b.AllowCommands = Entries("keys")
	if a.SameClientPolicy(&b) {
		t.Fatal("allow_commands change not seen")
	}
}
