package router

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/config"
)

// redisVersion is the Redis release whose command table and reply shapes
// the proxy presents.
const redisVersion = "7.0.15"

// addLocal answers a command the proxy handles itself.
func (s *Session) addLocal(ci *commandInfo, args [][]byte, start int64) {
	lo := len(s.out)
	switch ci.name {
	case "ping":
		if len(args) > 1 {
			s.out = backend.AppendBulk(s.out, args[1])
		} else {
			s.out = appendSimple(s.out, "PONG")
		}
	case "echo":
		s.out = backend.AppendBulk(s.out, args[1])
	case "quit":
		s.out = appendSimple(s.out, "OK")
		s.quit = true
	case "select":
		s.out = s.appendSelect(s.out, args[1])
	case "auth":
		s.out = appendError(s.out, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	case "hello":
		s.out = s.appendHello(s.out, args)
	case "time":
		now := time.Now()
		s.out = appendArrayHeader(s.out, 2)
		s.out = appendBulkString(s.out, strconv.FormatInt(now.Unix(), 10))
		s.out = appendBulkString(s.out, strconv.Itoa(now.Nanosecond()/1000))
	case "config|get":
		s.out = appendConfigGet(s.out, s.p.cfg, args[2:])
	case "client|setname":
		s.out = s.appendSetName(s.out, args[2])
	case "client|getname":
		if s.name == "" {
			s.out = appendNull(s.out)
		} else {
			s.out = appendBulkString(s.out, s.name)
		}
	case "client|id":
		s.out = appendInt(s.out, s.id)
	case "client|setinfo":
		s.out = appendClientSetInfo(s.out, args)
	case "client|info":
		s.out = appendBulkString(s.out, s.clientInfo())
	case "info":
		s.addInfo(ci, args, start)
		return
	default:
		switch {
		case ci.name == "command" || strings.HasPrefix(ci.name, "command|"):
			s.out = appendCommandReply(s.out, args)
		case strings.HasSuffix(ci.name, "|help"):
			s.out = append(s.out, ci.helpRESP()...)
		default:
			s.out = appendError(s.out, "ERR command '"+ci.name+"' is not supported by the proxy")
		}
	}
	s.localItem(ci, start, lo)
}

func (s *Session) appendSelect(dst []byte, db []byte) []byte {
	n, ok := backend.ParseInt(db)
	switch {
	case !ok:
		return appendError(dst, "ERR value is not an integer or out of range")
	case n != 0:
		// Each pool maps to one database per shard (redis_db); clients
		// see it as database 0.
		return appendError(dst, "ERR DB index is out of range")
	}
	return appendSimple(dst, "OK")
}

func (s *Session) appendSetName(dst []byte, name []byte) []byte {
	for _, c := range name {
		if c < '!' || c > '~' {
			return appendError(dst, "ERR Client names cannot contain spaces, newlines or special characters.")
		}
	}
	s.name = string(name)
	return appendSimple(dst, "OK")
}

func appendClientSetInfo(dst []byte, args [][]byte) []byte {
	attr := strings.ToLower(string(args[2]))
	if attr != "lib-name" && attr != "lib-ver" {
		return appendError(dst, "ERR Unrecognized option '"+string(args[2])+"'")
	}
	for _, c := range args[3] {
		if c < '!' || c > '~' {
			return appendError(dst, "ERR "+attr+" cannot contain spaces, newlines or special characters.")
		}
	}
	return appendSimple(dst, "OK")
}

func (s *Session) clientInfo() string {
	return "id=" + strconv.FormatInt(s.id, 10) + " addr=" + s.addr + " laddr=" + s.p.Addr() +
		" name=" + s.name + " db=0 cmd=client|info\n"
}

// appendHello answers HELLO [2 [AUTH u p] [SETNAME n]]. Only RESP2 is
// spoken; HELLO 3 gets NOPROTO so that clients fall back to RESP2.
func (s *Session) appendHello(dst []byte, args [][]byte) []byte {
	if len(args) > 1 {
		v, ok := backend.ParseInt(args[1])
		if !ok {
			return appendError(dst, "ERR Protocol version is not an integer or out of range")
		}
		if v != 2 {
			return appendError(dst, "NOPROTO unsupported protocol version")
		}
		for i := 2; i < len(args); i++ {
			switch opt := strings.ToLower(string(args[i])); {
			case opt == "auth" && i+2 < len(args):
				return appendError(dst, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			case opt == "setname" && i+1 < len(args):
				lo := len(dst)
				dst = s.appendSetName(dst, args[i+1])
				if dst[lo] == '-' {
					return dst
				}
				dst = dst[:lo]
				i++
			default:
				return appendError(dst, "ERR Syntax error in HELLO option '"+string(args[i])+"'")
			}
		}
	}
	dst = appendArrayHeader(dst, 16)
	dst = appendBulkString(dst, "server")
	dst = appendBulkString(dst, "redis")
	dst = appendBulkString(dst, "version")
	dst = appendBulkString(dst, redisVersion)
	dst = appendBulkString(dst, "proto")
	dst = appendInt(dst, 2)
	dst = appendBulkString(dst, "id")
	dst = appendInt(dst, s.id)
	dst = appendBulkString(dst, "mode")
	dst = appendBulkString(dst, "standalone")
	dst = appendBulkString(dst, "role")
	dst = appendBulkString(dst, "master")
	dst = appendBulkString(dst, "modules")
	dst = appendArrayHeader(dst, 0)
	dst = appendBulkString(dst, "proxy")
	dst = appendBulkString(dst, "shardproxy "+s.p.version)
	return dst
}

// configParams are the parameters CONFIG GET reports: what tools such as
// redis-benchmark ask, with values true of the proxy as a whole, and the
// client limits of the pool.
func configParams(pc *config.Pool) [][2]string {
	return [][2]string{
		{"save", ""},
		{"appendonly", "no"},
		{"databases", "1"},
		{"cluster-enabled", "no"},
		{"proto-max-bulk-len", strconv.FormatInt(pc.ProtoMaxBulkLen, 10)},
		{"client-query-buffer-limit", strconv.FormatInt(pc.ClientQueryBufferLimit, 10)},
		{"timeout", strconv.FormatInt(int64(pc.ClientIdleTimeout/time.Second), 10)},
	}
}

func appendConfigGet(dst []byte, pc *config.Pool, patterns [][]byte) []byte {
	n := 0
	var body []byte
	for _, p := range configParams(pc) {
		for _, pat := range patterns {
			if globMatch(bytes.ToLower(pat), []byte(p[0])) {
				body = appendBulkString(body, p[0])
				body = appendBulkString(body, p[1])
				n += 2
				break
			}
		}
	}
	dst = appendArrayHeader(dst, n)
	return append(dst, body...)
}

// globMatch reports whether s matches the glob pattern (*, ?, [...], \x),
// as Redis's stringmatchlen does for CONFIG GET and KEYS.
func globMatch(pat, s []byte) bool {
	for len(pat) > 0 {
		switch pat[0] {
		case '*':
			for len(pat) > 1 && pat[1] == '*' {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(pat[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
			s = s[1:]
			pat = pat[1:]
		case '[':
			if len(s) == 0 {
				return false
			}
			end := bytes.IndexByte(pat[1:], ']')
			if end < 0 {
				return false
			}
			class := pat[1 : 1+end]
			neg := len(class) > 0 && class[0] == '^'
			if neg {
				class = class[1:]
			}
			match := false
			for i := 0; i < len(class); i++ {
				if i+2 < len(class) && class[i+1] == '-' {
					if s[0] >= class[i] && s[0] <= class[i+2] {
						match = true
					}
					i += 2
				} else if class[i] == s[0] {
					match = true
				}
			}
			if match == neg {
				return false
			}
			s = s[1:]
			pat = pat[2+end:]
		case '\\':
			if len(pat) > 1 {
				pat = pat[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || s[0] != pat[0] {
				return false
			}
			s = s[1:]
			pat = pat[1:]
		}
	}
	return len(s) == 0
}
