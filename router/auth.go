package router

import (
	"errors"
	"strings"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/resp"
)

// The session side of client authentication: AUTH, HELLO AUTH, the ACL
// subcommands the proxy answers, and the check every command passes before
// it is routed. The users themselves are compiled in acl.go.

// sessionAuth is a session's authentication state.
type sessionAuth struct {
	user  *aclUser           // never nil: the pool's no-auth pseudo-user until AUTH
	keys  []int              // scratch for key checks
	flags []command.KeyFlags // scratch for key checks
}

// CheckConfig checks what only the router can check in a configuration:
// every pool's ACL users (rules, command and category names) and
// deny_commands/allow_commands. Errors name the file and line.
func CheckConfig(cfg *config.Config) error {
	var errs []error
	for _, pc := range cfg.Pools {
		if _, err := newPoolAccess(cfg.File, pc); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkAccess returns the error reply for a command the session may not
// run (v is its verdict, not vAllow), or "".
func (s *Session) checkAccess(v verdict, ci *command.Info, args [][]byte) string {
	switch v {
	case vNoAuth:
		return errNoAuth
	case vNoPerm:
		return errNoPermCmdPrefix + ci.Name() + "' command"
	case vDenied:
		return "ERR command '" + ci.Name() + "' is denied by the proxy's deny_commands; allow_commands re-enables it"
	case vCheck:
		return s.auth.user.checkArgs(ci, args, &s.auth.keys, &s.auth.flags)
	}
	return ""
}

// authenticated reports whether the session has a user (Redis's
// c->authenticated).
func (s *Session) authenticated() bool { return s.auth.user != s.p.access.noauth }

// appendAuth answers AUTH [user] pass as Redis 7.0's authCommand.
func (s *Session) appendAuth(dst []byte, args [][]byte) []byte {
	if len(args) > 3 {
		return resp.AppendError(dst, "ERR syntax error")
	}
	a := s.p.access
	name, pass := []byte("default"), args[1]
	if len(args) == 2 {
		if a.def.nopass {
			return resp.AppendError(dst, errNoPassDefault)
		}
	} else {
		name, pass = args[1], args[2]
	}
	u := a.authenticate(name, pass)
	if u == nil {
		return resp.AppendError(dst, errWrongPass)
	}
	s.setUser(u)
	return resp.AppendSimple(dst, "OK")
}

// helloAuth runs the AUTH option of HELLO (name and pass nil when absent)
// and the check that follows it in Redis: the error reply, or "".
func (s *Session) helloAuth(name, pass []byte) string {
	if name != nil {
		u := s.p.access.authenticate(name, pass)
		if u == nil {
			return errWrongPass
		}
		s.setUser(u)
	}
	if !s.authenticated() {
		return errHelloNoAuth
	}
	return ""
}

// appendACL answers ACL WHOAMI, CAT, LIST and USERS.
func (s *Session) appendACL(dst []byte, ci *command.Info, args [][]byte) []byte {
	a := s.p.access
	switch ci.Name() {
	case "acl|whoami":
		return resp.AppendBulkString(dst, s.auth.user.name)
	case "acl|users":
		dst = resp.AppendArrayHeader(dst, len(a.names))
		for _, n := range a.names {
			dst = resp.AppendBulkString(dst, n)
		}
		return dst
	case "acl|list":
		dst = resp.AppendArrayHeader(dst, len(a.names))
		for _, n := range a.names {
			dst = resp.AppendBulkString(dst, "user "+a.users[n].describe())
		}
		return dst
	}
	// ACL CAT [category]
	switch len(args) {
	case 2:
		names := command.ACLCategoryNames()
		dst = resp.AppendArrayHeader(dst, len(names))
		for _, n := range names {
			dst = resp.AppendBulkString(dst, n)
		}
		return dst
	case 3:
		cat, ok := command.ACLCategoryByName(string(args[2]))
		if !ok {
			return resp.AppendError(dst, "ERR Unknown category '"+oneLine(string(args[2]))+"'")
		}
		var names []string
		for i := 0; i < command.Count; i++ {
			if c := command.ByIndex(i); c.Redis() && c.ACL()&cat != 0 {
				names = append(names, c.Name())
			}
		}
		dst = resp.AppendArrayHeader(dst, len(names))
		for _, n := range names {
			dst = resp.AppendBulkString(dst, n)
		}
		return dst
	}
	return resp.AppendError(dst, "ERR unknown subcommand or wrong number of arguments for '"+
		oneLine(string(args[1]))+"'. Try ACL HELP.")
}

// helloOptions parses HELLO's options after the version as Redis does:
// the AUTH credentials, the SETNAME name (nil when absent), or an error.
func helloOptions(args [][]byte) (name, pass, setname []byte, errText string) {
	for i := 2; i < len(args); i++ {
		more := len(args) - 1 - i
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "auth" && more >= 2:
			name, pass = args[i+1], args[i+2]
			i += 2
		case opt == "setname" && more >= 1:
			setname = args[i+1]
			if !validClientName(setname) {
				return nil, nil, nil, "ERR Client names cannot contain spaces, newlines or special characters."
			}
			i++
		default:
			return nil, nil, nil, "ERR Syntax error in HELLO option '" + oneLine(string(args[i])) + "'"
		}
	}
	return name, pass, setname, ""
}

// validClientName is Redis's validateClientName.
func validClientName(name []byte) bool {
	for _, c := range name {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// oneLine replaces CR and LF, as Redis does in error replies built from
// client input.
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
