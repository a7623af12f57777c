package router

import (
	"bytes"
	"strconv"
)

// The COMMAND family, answered by the proxy from the generated table in
// Redis 7.0's RESP2 reply shapes. Commands are listed sorted by name (Redis
// lists them in hash table order, which differs from server to server).

// appendCommandReply appends the RESP2 reply to a COMMAND call: COMMAND,
// COMMAND COUNT, INFO, DOCS, LIST [FILTERBY MODULE|ACLCAT|PATTERN x],
// GETKEYS, GETKEYSANDFLAGS and HELP. args[0] is the command name. Proxy-only
// commands (CLIENT SETINFO) are not listed, as Redis 7.0 does not know them.
func appendCommandReply(dst []byte, args [][]byte) []byte {
	ci, msg := lookupCommand(args)
	if ci == nil {
		return appendErrorReply(dst, msg)
	}
	switch ci.name {
	case "command":
		return appendAllCommands(dst)
	case "command|count":
		return appendRESPNumber(dst, ':', redisCommandCount)
	case "command|info":
		if len(args) == 2 {
			return appendAllCommands(dst)
		}
		dst = appendRESPNumber(dst, '*', len(args)-2)
		for _, name := range args[2:] {
			if c := lookupCommandByFullName(name); c != nil {
				dst = append(dst, c.infoRESP()...)
			} else {
				dst = append(dst, "$-1\r\n"...)
			}
		}
		return dst
	case "command|docs":
		if len(args) == 2 {
			dst = appendRESPNumber(dst, '*', 2*redisCommandCount)
			return append(dst, commandDocsData...)
		}
		n := 0
		for _, name := range args[2:] {
			if lookupCommandByFullName(name) != nil {
				n++
			}
		}
		dst = appendRESPNumber(dst, '*', 2*n)
		for _, name := range args[2:] {
			if c := lookupCommandByFullName(name); c != nil {
				dst = append(dst, c.docsRESP()...)
			}
		}
		return dst
	case "command|list":
		return appendCommandList(dst, args[2:])
	case "command|getkeys", "command|getkeysandflags":
		return appendGetKeys(dst, args[2:], ci.name == "command|getkeysandflags")
	case "command|help":
		return append(dst, ci.helpRESP()...)
	}
	return appendErrorReply(dst, "ERR command '"+ci.name+"' is not a COMMAND subcommand")
}

func appendAllCommands(dst []byte) []byte {
	dst = appendRESPNumber(dst, '*', redisCommandCount)
	return append(dst, commandInfoData...)
}

// lookupCommandByFullName resolves "name" or "container|sub" as Redis's
// lookupCommandBySds: case-insensitively, one level of subcommands, nil for
// unknown or proxy-only names.
func lookupCommandByFullName(name []byte) *commandInfo {
	if len(name) == 0 {
		return nil
	}
	base, sub, isSub := bytes.Cut(name, []byte{'|'})
	if bytes.IndexByte(sub, '|') >= 0 {
		return nil
	}
	var ci *commandInfo
	if isSub {
		parent := findCommand([][]byte{base})
		if parent == nil || !parent.container {
			return nil
		}
		ci = findCommand([][]byte{base, sub})
	} else {
		ci = findCommand([][]byte{base})
	}
	if ci == nil || !ci.redis {
		return nil
	}
	return ci
}

// appendCommandList is COMMAND LIST [FILTERBY MODULE|ACLCAT|PATTERN arg].
func appendCommandList(dst []byte, opts [][]byte) []byte {
	match := func(*commandInfo) bool { return true }
	switch {
	case len(opts) == 0:
	case len(opts) == 3 && equalFold(opts[0], "filterby"):
		arg := opts[2]
		switch {
		case equalFold(opts[1], "module"):
			match = func(*commandInfo) bool { return false } // the proxy has no modules
		case equalFold(opts[1], "aclcat"):
			var cat aclCategories
			for i, n := range aclCategoryNames {
				if equalFoldString(arg, n) {
					cat = 1 << i
				}
			}
			match = func(ci *commandInfo) bool { return ci.acl&cat != 0 }
		case equalFold(opts[1], "pattern"):
			match = func(ci *commandInfo) bool { return stringMatch(arg, []byte(ci.name), true) }
		default:
			return appendErrorReply(dst, "ERR syntax error")
		}
	default:
		return appendErrorReply(dst, "ERR syntax error")
	}
	n := 0
	for i := range commandTable {
		if ci := &commandTable[i]; ci.redis && match(ci) {
			n++
		}
	}
	dst = appendRESPNumber(dst, '*', n)
	for i := range commandTable {
		if ci := &commandTable[i]; ci.redis && match(ci) {
			dst = appendRESPBulk(dst, ci.name)
		}
	}
	return dst
}

// appendGetKeys is COMMAND GETKEYS and GETKEYSANDFLAGS (server.c getKeysSubcommandImpl).
func appendGetKeys(dst []byte, args [][]byte, withFlags bool) []byte {
	ci := findCommand(args)
	switch {
	case ci == nil || !ci.redis:
		return appendErrorReply(dst, "ERR Invalid command specified")
	case !ci.hasKeys:
		return appendErrorReply(dst, "ERR The command has no key arguments")
	case !ci.arityOK(len(args)):
		return appendErrorReply(dst, "ERR Invalid number of arguments specified for command")
	}
	var flags []keyFlags
	keys := ci.appendKeys(nil, &flags, args)
	if len(keys) == 0 {
		if ci.flags&flagNoMandatoryKeys != 0 {
			return append(dst, "*0\r\n"...)
		}
		return appendErrorReply(dst, "ERR Invalid arguments specified for command")
	}
	dst = appendRESPNumber(dst, '*', len(keys))
	for i, k := range keys {
		if withFlags {
			dst = append(dst, "*2\r\n"...)
		}
		dst = appendRESPNumber(dst, '$', len(args[k]))
		dst = append(dst, args[k]...)
		dst = append(dst, '\r', '\n')
		if withFlags {
			dst = appendKeyFlags(dst, flags[i])
		}
	}
	return dst
}

// appendKeyFlags appends the flags of a key as an array of status replies.
func appendKeyFlags(dst []byte, f keyFlags) []byte {
	n := 0
	for i := range keyFlagNames {
		if f&(1<<i) != 0 {
			n++
		}
	}
	dst = appendRESPNumber(dst, '*', n)
	for i, name := range keyFlagNames {
		if f&(1<<i) != 0 {
			dst = append(dst, '+')
			dst = append(dst, name...)
			dst = append(dst, '\r', '\n')
		}
	}
	return dst
}

func appendRESPNumber(dst []byte, kind byte, n int) []byte {
	dst = append(dst, kind)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '\r', '\n')
}

func appendRESPBulk(dst []byte, s string) []byte {
	dst = appendRESPNumber(dst, '$', len(s))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

func appendErrorReply(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}

// stringMatch is Redis's glob matcher (util.c stringmatchlen): *, ?, [...]
// with ranges and ^, and \ escapes; nocase folds ASCII letters.
func stringMatch(pattern, s []byte, nocase bool) bool {
	skipLonger := false
	return stringMatchImpl(pattern, s, nocase, &skipLonger, 0)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func stringMatchImpl(pat, s []byte, nocase bool, skipLonger *bool, depth int) bool {
	// at mimics reading a NUL-terminated C string past its end.
	at := func(b []byte, i int) byte {
		if i < len(b) {
			return b[i]
		}
		return 0
	}
	eq := func(a, b byte) bool {
		if nocase {
			return lowerASCII(a) == lowerASCII(b)
		}
		return a == b
	}
	if depth > 1000 {
		return false // guards the stack against hostile patterns (over 1000 wildcards)
	}
	for len(pat) > 0 && len(s) > 0 {
		switch pat[0] {
		case '*':
			for len(pat) > 1 && pat[1] == '*' {
				pat = pat[1:]
			}
			if len(pat) == 1 {
				return true
			}
			for len(s) > 0 {
				if stringMatchImpl(pat[1:], s, nocase, skipLonger, depth+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			pat = pat[1:]
			not := at(pat, 0) == '^'
			if not {
				pat = pat[1:]
			}
			match := false
			for {
				if at(pat, 0) == '\\' && len(pat) >= 2 {
					pat = pat[1:]
					if pat[0] == s[0] {
						match = true
					}
				} else if at(pat, 0) == ']' {
					break
				} else if len(pat) == 0 {
					// Unterminated class: Redis steps back so that the final
					// advance below consumes nothing.
					pat = nil
					break
				} else if len(pat) >= 3 && pat[1] == '-' {
					lo, hi, c := pat[0], pat[2], s[0]
					if lo > hi {
						lo, hi = hi, lo
					}
					if nocase {
						lo, hi, c = lowerASCII(lo), lowerASCII(hi), lowerASCII(c)
					}
					pat = pat[2:]
					if c >= lo && c <= hi {
						match = true
					}
				} else if eq(pat[0], s[0]) {
					match = true
				}
				pat = pat[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
			if pat == nil {
				// The class ran off the end of the pattern.
				if len(s) == 0 {
					return true
				}
				return false
			}
		case '\\':
			if len(pat) >= 2 {
				pat = pat[1:]
			}
			if !eq(pat[0], s[0]) {
				return false
			}
			s = s[1:]
		default:
			if !eq(pat[0], s[0]) {
				return false
			}
			s = s[1:]
		}
		pat = pat[1:]
		if len(s) == 0 {
			for len(pat) > 0 && pat[0] == '*' {
				pat = pat[1:]
			}
			break
		}
	}
	return len(pat) == 0 && len(s) == 0
}
