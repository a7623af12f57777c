package config

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// Access is a pool's client authentication, command policy and backend
// user. The zero value is a pool without client authentication that denies
// nothing beyond the commands the proxy always refuses; Default fills
// DenyCommands with DefaultDenyCommands.
//
// How the client side and the backend side relate:
//
//   - RequirePass is the password of the "default" user, as Redis's
//     requirepass: clients send AUTH <pass> (or AUTH default <pass>).
//   - Users are Redis ACL users ("alice on #<sha256> ~app:* +@read"); a
//     client sends AUTH <user> <pass> or HELLO 2 AUTH <user> <pass>. When
//     Users define no "default" user, the default user is off: a client
//     must authenticate (unlike Redis, whose default user then stays open).
//     Write "default on nopass ~* &* +@all" to keep it open.
//   - RedisAuth (nutcracker's redis_auth) and RedisUsername are what the
//     proxy sends to every backend. For nutcracker compatibility, a pool
//     with redis_auth but neither requirepass, users nor redis_username
//     asks clients for redis_auth, as twemproxy does.
//
// Backend credentials never reach clients, and client credentials never
// reach backends: every backend connection is the proxy's own.
type Access struct {
	// RedisUsername is the ACL user the proxy authenticates as on every
	// backend connection (AUTH <redis_username> <redis_auth>); "" sends
	// AUTH <redis_auth>, as nutcracker does.
	RedisUsername string
	// RequirePass is the default user's password for clients; "" means
	// none (but see RedisAuth above).
	RequirePass string
	// Users are the ACL users clients may authenticate as, one entry per
	// user: the name, then Redis ACL rules (on/off, #<sha256 hex>,
	// >password, nopass, ~pattern, %R~pattern, %W~pattern, &channel,
	// +command, -command, +@category, -@category, ...). An optional
	// leading "user " is ignored, so lines of ACL LIST can be pasted.
	Users []Entry
	// DenyCommands are commands (and "@category"s) the proxy refuses with
	// an error for every user of the pool. Default: DefaultDenyCommands.
	DenyCommands []Entry
	// AllowCommands re-enables commands that DenyCommands names, such as
	// FLUSHALL for a test environment.
	AllowCommands []Entry
}

// Entry is one item of a list-valued pool key.
type Entry struct {
	Value string
	// Line is the item's line in the file (0 when built in code).
	Line int
}

// Entries makes Entry values without lines, for pools built in code.
func Entries(values ...string) []Entry {
	e := make([]Entry, len(values))
	for i, v := range values {
		e[i].Value = v
	}
	return e
}

// DefaultDenyCommands returns the commands a pool denies unless its file
// says otherwise: those that wipe or walk every shard's whole keyspace, and
// the admin commands the proxy fans out to every shard (CONFIG SET,
// CONFIG RESETSTAT, SLOWLOG, SCRIPT KILL, FUNCTION KILL, LATENCY, MEMORY
// STATS/DOCTOR/MALLOC-STATS/PURGE). CONFIG GET stays allowed: clients and
// monitoring tools ask it. The commands the
// proxy can never serve, such as SHUTDOWN, DEBUG or SWAPDB, are refused
// regardless of this list. The slice is new on each call.
func DefaultDenyCommands() []Entry {
	return Entries("flushall", "flushdb", "keys", "config|set", "config|resetstat",
		"slowlog|get", "slowlog|len", "slowlog|reset", "script|kill", "function|kill",
		"latency|latest", "latency|history", "latency|reset", "latency|doctor", "latency|graph",
		"latency|histogram", "memory|stats", "memory|doctor", "memory|malloc-stats", "memory|purge")
}

// UserName returns the name of a users entry ("" if it has none) and its
// rules, without the optional leading "user".
func UserName(entry string) (string, []string) {
	f := strings.Fields(entry)
	if len(f) > 0 && strings.EqualFold(f[0], "user") {
		f = f[1:]
	}
	if len(f) == 0 {
		return "", nil
	}
	return f[0], f[1:]
}

// access decodes the keys of Access; known is false for other keys.
func (ps *parser) access(p *Pool, key string, line int, v *yaml.Node) (ok, known bool) {
	fail := func(format string, args ...any) (bool, bool) {
		ps.errorf(line, p.Name, key, format, args...)
		return false, true
	}
	switch key {
	case "redis_username", "requirepass":
		s, msg := scalar(v)
		if msg != "" {
			return fail("want a string, got %s", msg)
		}
		if key == "requirepass" {
			p.RequirePass = s
		} else {
			p.RedisUsername = s
		}
		return true, true
	case "users", "deny_commands", "allow_commands":
		if v.Kind != yaml.SequenceNode {
			return fail("want a list of strings, got %s", describe(v))
		}
		entries := make([]Entry, 0, len(v.Content))
		good := true
		for _, e := range v.Content {
			s, msg := scalar(e)
			if msg != "" {
				ps.errorf(e.Line, p.Name, key, "want a string, got %s", msg)
				good = false
				continue
			}
			entries = append(entries, Entry{Value: s, Line: e.Line})
		}
		switch key {
		case "users":
			p.Users = entries
		case "deny_commands":
			p.DenyCommands = entries
		default:
			p.AllowCommands = entries
		}
		return good, true
	}
	return false, false
}

// problems checks what can be checked without the command table: user
// names, and command entries being single words. The ACL rules and the
// command names themselves are checked by the router when it builds the
// pool (with the same file:line errors).
func (a *Access) problems(redisAuth string) []problem {
	var ps []problem
	add := func(key string, line int, format string, args ...any) {
		ps = append(ps, problem{key: key, line: line, msg: fmt.Sprintf(format, args...)})
	}
	seen := map[string]int{}
	for _, u := range a.Users {
		name, _ := UserName(u.Value)
		switch {
		case name == "":
			add("users", u.Line, "empty entry; want \"<name> <ACL rules>\", such as \"alice on #<sha256> ~app:* +@read\"")
			continue
		case strings.ContainsRune(name, 0):
			add("users", u.Line, "user name %q contains NUL", name)
		}
		if first, dup := seen[name]; dup {
			add("users", u.Line, "user %q is already defined (%s)", name, where(first))
			continue
		}
		seen[name] = u.Line
		if name == "default" && a.RequirePass != "" {
			add("users", u.Line, "a \"default\" user and requirepass both set the default user's password; keep one")
		}
	}
	for _, list := range []struct {
		key     string
		entries []Entry
	}{{"deny_commands", a.DenyCommands}, {"allow_commands", a.AllowCommands}} {
		for _, e := range list.entries {
			if f := strings.Fields(e.Value); len(f) != 1 {
				add(list.key, e.Line, "%q: want one command name (\"flushall\", \"config|set\") or category (\"@dangerous\")", e.Value)
			}
		}
	}
	if strings.ContainsFunc(a.RedisUsername, func(r rune) bool { return r == 0 || unicode.IsSpace(r) }) {
		add("redis_username", 0, "%q contains white space or NUL", a.RedisUsername)
	}
	if a.RedisUsername != "" && redisAuth == "" {
		add("redis_username", 0, "needs redis_auth, the password of that user on the backends")
	}
	return ps
}

// SameClientPolicy reports whether a and b authenticate clients and
// police commands alike (lines aside).
func (a *Access) SameClientPolicy(b *Access) bool {
	same := func(x, y []Entry) bool {
		return slices.EqualFunc(x, y, func(e, f Entry) bool { return e.Value == f.Value })
	}
	return a.RequirePass == b.RequirePass && same(a.Users, b.Users) &&
		same(a.DenyCommands, b.DenyCommands) && same(a.AllowCommands, b.AllowCommands)
}
