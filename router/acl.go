package router

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/resp"
)

// Client ACLs, as Redis 7.0 defines them (acl.c), compiled once per pool.
//
// Each user's rules are applied in order to a fresh user, exactly as
// ACL SETUSER applies them, giving a command bitmap over the command table.
// From the bitmap, the user's key and channel patterns and the pool's
// deny_commands, every user gets one verdict per command table index, so
// that the session pays one array load per command; only a user with key
// or channel patterns pays for finding a command's keys. Selectors
// ("(...)") and first-argument rules ("+select|0") are not supported.

// verdict is what a session may do with one command.
type verdict uint8

const (
	vAllow  verdict = iota // run it
	vCheck                 // allowed; its keys and channels must match the user's patterns
	vNoPerm                // the user may not run it
	vNoAuth                // the session has not authenticated
	vDenied                // the pool's deny_commands
)

// Redis's key permissions of a key pattern (~ is both).
const (
	permRead  = 1
	permWrite = 2
	permAll   = permRead | permWrite
)

// Reply texts of Redis 7.0 (server.c, acl.c), checked against redis-server.
const (
	errNoAuth          = "NOAUTH Authentication required."
	errWrongPass       = "WRONGPASS invalid username-password pair or user is disabled."
	errNoPassDefault   = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	errHelloNoAuth     = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
	errNoPermKey       = "NOPERM this user has no permissions to access one of the keys used as arguments"
	errNoPermChannel   = "NOPERM this user has no permissions to access one of the channels used as arguments"
	errNoPermCmdPrefix = "NOPERM this user has no permissions to run the '"
)

// keyPattern is one ~, %R~ or %W~ pattern.
type keyPattern struct {
	pat  []byte
	perm uint8
}

// aclUser is one compiled user. It is read-only once built and shared by
// every session authenticated as it.
type aclUser struct {
	name                   string
	enabled, nopass        bool
	sanitize, skipSanitize bool     // payload flags, only shown by ACL LIST
	hashes                 []string // sha256 hex of the passwords, in order
	future                 bool     // +@all: Redis's "future commands" bit
	allowed                [command.Count]bool
	allKeys, allChannels   bool
	keys                   []keyPattern
	channels               []string
	verdict                [command.Count]verdict
}

// newACLUser returns a user as ACL SETUSER creates one: off, no password,
// no commands, no keys, no channels.
func newACLUser(name string) *aclUser { return &aclUser{name: name} }

// defaultACLUser returns Redis's default user: on nopass ~* &* +@all.
func defaultACLUser() *aclUser {
	u := newACLUser("default")
	for _, r := range []string{"+@all", "~*", "&*", "on", "nopass"} {
		u.apply(r)
	}
	return u
}

// aclRuleError is Redis's description of a rule it cannot apply
// (acl.c ACLSetUserStringError).
type aclRuleError string

func (e aclRuleError) Error() string { return string(e) }

const (
	errACLUnknown    aclRuleError = "Unknown command or category name in ACL"
	errACLSyntax     aclRuleError = "Syntax error"
	errACLKeysAll    aclRuleError = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	errACLChansAll   aclRuleError = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	errACLNoSuchPass aclRuleError = "The password you are trying to remove from the user does not exist"
	errACLBadHash    aclRuleError = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	errACLSelector   aclRuleError = "selectors are not supported by the proxy"
	errACLFirstArg   aclRuleError = "first-argument rules (such as +select|0) are not supported by the proxy"
)

// apply applies one rule as Redis's ACLSetUser does.
func (u *aclUser) apply(op string) error {
	lower := strings.ToLower(op)
	switch lower {
	case "":
		return nil
	case "on":
		u.enabled = true
	case "off":
		u.enabled = false
	case "skip-sanitize-payload":
		u.skipSanitize, u.sanitize = true, false
	case "sanitize-payload":
		u.skipSanitize, u.sanitize = false, true
	case "nopass":
		u.nopass, u.hashes = true, nil
	case "resetpass":
		u.nopass, u.hashes = false, nil
	case "reset":
		u.nopass, u.hashes = false, nil
		u.allKeys, u.keys = false, nil
		u.allChannels, u.channels = false, nil
		u.enabled = false
		u.skipSanitize, u.sanitize = false, true
		u.setAll(false)
	case "clearselectors":
	case "allkeys", "~*":
		u.allKeys, u.keys = true, nil
	case "resetkeys":
		u.allKeys, u.keys = false, nil
	case "allchannels", "&*":
		u.allChannels, u.channels = true, nil
	case "resetchannels":
		u.allChannels, u.channels = false, nil
	case "allcommands", "+@all":
		u.setAll(true)
	case "nocommands", "-@all":
		u.setAll(false)
	default:
		return u.applyPattern(op)
	}
	return nil
}

// applyPattern applies passwords, patterns and command rules.
func (u *aclUser) applyPattern(op string) error {
	switch op[0] {
	case '>', '#':
		h := op[1:]
		if op[0] == '>' {
			h = hashPassword(op[1:])
		} else if !validHash(h) {
			return errACLBadHash
		}
		if !slices.Contains(u.hashes, h) {
			u.hashes = append(u.hashes, h)
		}
		u.nopass = false
	case '<', '!':
		h := op[1:]
		if op[0] == '<' {
			h = hashPassword(op[1:])
		} else if !validHash(h) {
			return errACLBadHash
		}
		i := slices.Index(u.hashes, h)
		if i < 0 {
			return errACLNoSuchPass
		}
		u.hashes = slices.Delete(u.hashes, i, i+1)
	case '(':
		return errACLSelector
	case '~', '%':
		if u.allKeys {
			return errACLKeysAll
		}
		perm, off := uint8(permAll), 1
		if op[0] == '%' {
			perm = 0
			for off = 1; off < len(op); off++ {
				c := op[off]
				if (c == 'R' || c == 'r') && perm&permRead == 0 {
					perm |= permRead
				} else if (c == 'W' || c == 'w') && perm&permWrite == 0 {
					perm |= permWrite
				} else if c == '~' {
					off++
					break
				} else {
					return errACLSyntax
				}
			}
			if perm == 0 || op[off-1] != '~' {
				return errACLSyntax
			}
		}
		pat := op[off:]
		if strings.ContainsRune(pat, 0) {
			return errACLSyntax
		}
		for i := range u.keys {
			if string(u.keys[i].pat) == pat {
				u.keys[i].perm |= perm
				return nil
			}
		}
		u.keys = append(u.keys, keyPattern{pat: []byte(pat), perm: perm})
	case '&':
		if u.allChannels {
			return errACLChansAll
		}
		if !slices.Contains(u.channels, op[1:]) {
			u.channels = append(u.channels, op[1:])
		}
	case '+', '-':
		allow := op[0] == '+'
		if len(op) > 1 && op[1] == '@' {
			cat, ok := command.ACLCategoryByName(op[2:])
			if !ok {
				return errACLUnknown
			}
			u.setCategory(cat, allow)
			return nil
		}
		ci := aclLookup(op[1:])
		if ci == nil {
			if parent, _, ok := strings.Cut(op[1:], "|"); ok && allow {
				if p := aclLookup(parent); p != nil && !p.Container() {
					return errACLFirstArg
				}
			}
			return errACLUnknown
		}
		u.setCommand(ci, allow)
	default:
		return errACLSyntax
	}
	return nil
}

// aclLookup finds a command or "parent|sub" by name, as ACLLookupCommand.
func aclLookup(name string) *command.Info { return command.ByName(name) }

func hashPassword(pass string) string {
	h := sha256.Sum256([]byte(pass))
	return hex.EncodeToString(h[:])
}

// validHash reports whether h is 64 lowercase hex digits, as Redis requires.
func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range []byte(h) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (u *aclUser) setAll(allow bool) {
	for i := range u.allowed {
		u.allowed[i] = allow
	}
	u.future = allow
}

// setCommand is ACLChangeSelectorPerm: a container carries its
// subcommands along.
func (u *aclUser) setCommand(ci *command.Info, allow bool) {
	u.allowed[ci.Index()] = allow
	if ci.Container() {
		for i := ci.Index() + 1; i < command.Count && command.ByIndex(i).Parent() == ci.Index(); i++ {
			u.allowed[i] = allow
		}
	}
}

// setCategory is ACLSetSelectorCommandBitsForCategory.
func (u *aclUser) setCategory(cat command.ACLCategories, allow bool) {
	for i := 0; i < command.Count; i++ {
		if command.ByIndex(i).ACL()&cat != 0 {
			u.setCommand(command.ByIndex(i), allow)
		}
	}
}

// checkPassword reports whether pass authenticates u (constant time per
// stored hash).
func (u *aclUser) checkPassword(pass []byte) bool {
	if !u.enabled {
		return false
	}
	if u.nopass {
		return true
	}
	sum := sha256.Sum256(pass)
	var h [64]byte
	hex.Encode(h[:], sum[:])
	ok := false
	for _, stored := range u.hashes {
		if subtle.ConstantTimeCompare(h[:], []byte(stored)) == 1 {
			ok = true
		}
	}
	return ok
}

// checkArgs checks a vCheck command's keys and channels against the user's
// patterns; it returns the NOPERM text or "". keys and flags are scratch.
func (u *aclUser) checkArgs(ci *command.Info, args [][]byte, keys *[]int, flags *[]command.KeyFlags) string {
	if !u.allKeys && ci.HasKeys() {
		*flags = (*flags)[:0]
		*keys = ci.AppendKeysAndFlags((*keys)[:0], flags, args)
		for i, k := range *keys {
			if !u.keyAllowed(args[k], (*flags)[i]) {
				return errNoPermKey
			}
		}
	}
	if !u.allChannels {
		first, last, pattern := channelArgs(ci, len(args))
		for i := first; i > 0 && i <= last; i++ {
			if !u.channelAllowed(args[i], pattern) {
				return errNoPermChannel
			}
		}
	}
	return ""
}

// keyAllowed is acl.c ACLSelectorCheckKey.
func (u *aclUser) keyAllowed(key []byte, f command.KeyFlags) bool {
	var need uint8
	if f&command.KeyAccess != 0 {
		need |= permRead
	}
	if f&(command.KeyInsert|command.KeyDelete|command.KeyUpdate) != 0 {
		need |= permWrite
	}
	for _, p := range u.keys {
		if p.perm&need == need && resp.Match(p.pat, key, false) {
			return true
		}
	}
	return false
}

// channelAllowed is acl.c ACLCheckChannelAgainstList: a PSUBSCRIBE pattern
// must equal one of the user's patterns; a channel must match one.
func (u *aclUser) channelAllowed(ch []byte, pattern bool) bool {
	for _, p := range u.channels {
		if pattern && p == string(ch) || !pattern && resp.Match([]byte(p), ch, false) {
			return true
		}
	}
	return false
}

// channelArgs returns the positions [first, last] of the channels of a
// publishing or subscribing command (acl.c getChannelsFromCommand), first
// 0 for other commands, and whether they are patterns.
func channelArgs(ci *command.Info, argc int) (first, last int, pattern bool) {
	switch ci.Name() {
	case "publish", "spublish":
		return 1, 1, false
	case "subscribe", "ssubscribe":
		return 1, argc - 1, false
	case "psubscribe":
		return 1, argc - 1, true
	}
	return 0, 0, false
}

// hasChannels reports whether channelArgs finds channels for ci.
func hasChannels(ci *command.Info) bool {
	first, _, _ := channelArgs(ci, 2)
	return first > 0
}

// compileVerdicts fills u.verdict from its bitmap, patterns and the pool's
// denied commands.
func (u *aclUser) compileVerdicts(denied *[command.Count]bool) {
	for i := 0; i < command.Count; i++ {
		ci := command.ByIndex(i)
		switch {
		case ci.Flags()&command.FlagNoAuth != 0:
			u.verdict[i] = vAllow // Redis skips the command bit for no_auth commands
		case !u.allowed[i]:
			u.verdict[i] = vNoPerm
		case denied[i]:
			u.verdict[i] = vDenied
		case !u.allKeys && ci.HasKeys(), !u.allChannels && hasChannels(ci):
			u.verdict[i] = vCheck
		default:
			u.verdict[i] = vAllow
		}
	}
}

// noAuthUser is the pseudo-user of a session that has not authenticated:
// only AUTH, HELLO, QUIT and RESET run.
func noAuthUser() *aclUser {
	u := newACLUser("default")
	for i := 0; i < command.Count; i++ {
		if command.ByIndex(i).Flags()&command.FlagNoAuth != 0 {
			u.verdict[i] = vAllow
		} else {
			u.verdict[i] = vNoAuth
		}
	}
	return u
}

// describe is ACL LIST's line for u (acl.c ACLDescribeUser), without the
// leading "user ".
func (u *aclUser) describe() string {
	var b strings.Builder
	b.WriteString(u.name)
	flag := func(on bool, name string) {
		if on {
			b.WriteString(" " + name)
		}
	}
	flag(u.enabled, "on")
	flag(!u.enabled, "off")
	flag(u.nopass, "nopass")
	flag(u.skipSanitize, "skip-sanitize-payload")
	flag(u.sanitize, "sanitize-payload")
	for _, h := range u.hashes {
		b.WriteString(" #" + h)
	}
	if u.allKeys {
		b.WriteString(" ~*")
	}
	for _, p := range u.keys {
		switch p.perm {
		case permAll:
			b.WriteString(" ~")
		case permRead:
			b.WriteString(" %R~")
		default:
			b.WriteString(" %W~")
		}
		b.Write(p.pat)
	}
	if u.allChannels {
		b.WriteString(" &*")
	} else {
		b.WriteString(" resetchannels")
		for _, c := range u.channels {
			b.WriteString(" &" + c)
		}
	}
	b.WriteString(" " + u.describeCommands())
	return b.String()
}

// describeCommands is acl.c ACLDescribeSelectorCommandRules: +@all or
// -@all, then the best-fitting categories, then single commands, so that
// the rules rebuild the same bitmap. Redis emits the single commands in
// its hash table's order; this emits them in table (name) order.
func (u *aclUser) describeCommands() string {
	additive := !u.future
	var b strings.Builder
	fake := newACLUser("")
	if additive {
		b.WriteString("-@all")
	} else {
		b.WriteString("+@all")
		fake.setAll(true)
	}
	temp := newACLUser("")
	temp.allowed = u.allowed
	names := command.ACLCategoryNames()
	applied := make([]bool, len(names))
	for {
		best, mindiff, maxsame := -1, int(^uint(0)>>1), 0
		for j := range names {
			if applied[j] {
				continue
			}
			on, off := 0, 0
			for i := 0; i < command.Count; i++ {
				if command.ByIndex(i).ACL()&(1<<j) != 0 {
					if temp.allowed[i] {
						on++
					} else {
						off++
					}
				}
			}
			diff, same := off, on
			if !additive {
				diff, same = on, off
			}
			if same > diff && (diff < mindiff || diff == mindiff && same > maxsame) {
				best, mindiff, maxsame = j, diff, same
			}
		}
		if best < 0 {
			break
		}
		fake.setCategory(1<<best, additive)
		temp.setCategory(1<<best, !additive)
		if additive {
			b.WriteString(" +@")
		} else {
			b.WriteString(" -@")
		}
		b.WriteString(names[best])
		applied[best] = true
	}
	for i := 0; i < command.Count; i++ {
		if u.allowed[i] != fake.allowed[i] {
			if u.allowed[i] {
				b.WriteString(" +")
			} else {
				b.WriteString(" -")
			}
			b.WriteString(command.ByIndex(i).Name())
			fake.setCommand(command.ByIndex(i), u.allowed[i])
		}
	}
	return b.String()
}

// poolAccess is a pool's compiled client authentication: its users, the
// default user and the pseudo-user of unauthenticated sessions.
type poolAccess struct {
	users  map[string]*aclUser
	names  []string // sorted, as Redis lists users
	def    *aclUser
	noauth *aclUser
	denied [command.Count]bool
}

// initial is the user a new session starts as: the default user when it is
// on and needs no password (Redis's rule), otherwise unauthenticated.
func (a *poolAccess) initial() *aclUser {
	if a.def.enabled && a.def.nopass {
		return a.def
	}
	return a.noauth
}

// authenticate returns the user that name and pass authenticate, or nil.
func (a *poolAccess) authenticate(name, pass []byte) *aclUser {
	u := a.users[string(name)]
	if u == nil || !u.checkPassword(pass) {
		return nil
	}
	return u
}

// newPoolAccess compiles the pool's requirepass, users and command policy.
// Problems are *config.Error values naming file, line and key.
func newPoolAccess(file string, pc *config.Pool) (*poolAccess, error) {
	a := &poolAccess{users: map[string]*aclUser{}, noauth: noAuthUser()}
	var errs []error
	fail := func(line int, key, format string, args ...any) {
		if line == 0 {
			line = pc.Line
		}
		errs = append(errs, &config.Error{File: file, Line: line, Pool: pc.Name, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	a.compilePolicy(pc, fail)

	def := defaultACLUser()
	pass := pc.RequirePass
	if pass == "" && len(pc.Users) == 0 && pc.RedisUsername == "" {
		// nutcracker compatibility: twemproxy asks clients for redis_auth.
		pass = pc.RedisAuth
	}
	if pass != "" {
		def.apply(">" + pass)
	}
	if len(pc.Users) > 0 {
		// Users without a default entry: the default user is off, so
		// that every client authenticates (safer than Redis's open
		// default).
		if pass == "" {
			def.apply("off")
			def.apply("resetpass")
		}
	}
	a.users["default"] = def
	for _, e := range pc.Users {
		name, rules := config.UserName(e.Value)
		if name == "" {
			continue // config reports it
		}
		u := newACLUser(name)
		for _, r := range rules {
			if err := u.apply(r); err != nil {
				fail(e.Line, "users", "user %s: rule %q: %v", name, r, err)
			}
		}
		a.users[name] = u
	}
	for name, u := range a.users {
		a.names = append(a.names, name)
		u.compileVerdicts(&a.denied)
	}
	slices.Sort(a.names)
	a.def = a.users["default"]
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// compilePolicy fills a.denied from deny_commands and allow_commands.
func (a *poolAccess) compilePolicy(pc *config.Pool, fail func(line int, key, format string, args ...any)) {
	mark := func(key string, e config.Entry, deny bool) {
		name := strings.TrimSpace(e.Value)
		if cat, ok := strings.CutPrefix(name, "@"); ok {
			bit, ok := command.ACLCategoryByName(cat)
			if !ok && !strings.EqualFold(cat, "all") {
				fail(e.Line, key, "unknown category %q; want one of %s", name, "@"+strings.Join(command.ACLCategoryNames(), ", @"))
				return
			}
			for i := 0; i < command.Count; i++ {
				ci := command.ByIndex(i)
				if (bit == 0 || ci.ACL()&bit != 0) && ci.Class() != command.ClassRefused && ci.Flags()&command.FlagNoAuth == 0 {
					a.denied[i] = deny
				}
			}
			return
		}
		ci := command.ByName(name)
		switch {
		case ci == nil:
			fail(e.Line, key, "unknown command %q", name)
			return
		case ci.Flags()&command.FlagNoAuth != 0:
			fail(e.Line, key, "%s cannot be denied: clients need it to authenticate and to leave", strings.ToUpper(name))
			return
		case ci.Class() == command.ClassRefused && !ci.Container():
			if !deny {
				fail(e.Line, key, "%s is always refused by the proxy (%s); allow_commands cannot enable it", strings.ToUpper(name), ci.Reason())
			}
			return
		}
		a.denied[ci.Index()] = deny
		if ci.Container() {
			for i := ci.Index() + 1; i < command.Count && command.ByIndex(i).Parent() == ci.Index(); i++ {
				if command.ByIndex(i).Class() != command.ClassRefused {
					a.denied[i] = deny
				}
			}
		}
	}
	for _, e := range pc.DenyCommands {
		mark("deny_commands", e, true)
	}
	for _, e := range pc.AllowCommands {
		mark("allow_commands", e, false)
	}
}
