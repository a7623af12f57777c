package command

import (
	"bytes"

	"github.com/shardproxy/shardproxy/resp"
)

// The COMMAND family, answered by the proxy from the generated table in
// Redis 7.0's RESP2 reply shapes. Commands are listed sorted by name (Redis
// lists them in hash table order, which differs from server to server).

// AppendReply appends the RESP2 reply to a COMMAND call: COMMAND,
// COMMAND COUNT, INFO, DOCS, LIST [FILTERBY MODULE|ACLCAT|PATTERN x],
// GETKEYS, GETKEYSANDFLAGS and HELP. args[0] is the command name. Proxy-only
// commands (CLIENT SETINFO) are not listed, as Redis 7.0 does not know them.
func AppendReply(dst []byte, args [][]byte) []byte {
	ci, msg := Lookup(args)
	if ci == nil {
		return resp.AppendError(dst, msg)
	}
	switch ci.name {
	case "command":
		return appendAllCommands(dst)
	case "command|count":
		return resp.AppendInt(dst, redisCount)
	case "command|info":
		if len(args) == 2 {
			return appendAllCommands(dst)
		}
		dst = resp.AppendArrayHeader(dst, len(args)-2)
		for _, name := range args[2:] {
			if c := lookupByFullName(name); c != nil {
				dst = append(dst, c.infoRESP()...)
			} else {
				dst = append(dst, "$-1\r\n"...)
			}
		}
		return dst
	case "command|docs":
		if len(args) == 2 {
			dst = resp.AppendArrayHeader(dst, 2*redisCount)
			return append(dst, docsData...)
		}
		n := 0
		for _, name := range args[2:] {
			if lookupByFullName(name) != nil {
				n++
			}
		}
		dst = resp.AppendArrayHeader(dst, 2*n)
		for _, name := range args[2:] {
			if c := lookupByFullName(name); c != nil {
				dst = append(dst, c.docsRESP()...)
			}
		}
		return dst
	case "command|list":
		return appendCommandList(dst, args[2:])
	case "command|getkeys", "command|getkeysandflags":
		return appendGetKeys(dst, args[2:], ci.name == "command|getkeysandflags")
	case "command|help":
		return append(dst, ci.HelpReply()...)
	}
	return resp.AppendError(dst, "ERR command '"+ci.name+"' is not a COMMAND subcommand")
}

func appendAllCommands(dst []byte) []byte {
	dst = resp.AppendArrayHeader(dst, redisCount)
	return append(dst, infoData...)
}

// lookupByFullName resolves "name" or "container|sub" as Redis's
// lookupCommandBySds: case-insensitively, one level of subcommands, nil for
// unknown or proxy-only names.
func lookupByFullName(name []byte) *Info {
	if len(name) == 0 {
		return nil
	}
	// A second '|' names no entry: Find finds no "a|b|c".
	base, sub, isSub := bytes.Cut(name, []byte{'|'})
	var ci *Info
	if isSub {
		parent := Find([][]byte{base})
		if parent == nil || !parent.container {
			return nil
		}
		ci = Find([][]byte{base, sub})
	} else {
		ci = Find([][]byte{base})
	}
	if ci == nil || !ci.redis {
		return nil
	}
	return ci
}

// appendCommandList is COMMAND LIST [FILTERBY MODULE|ACLCAT|PATTERN arg].
func appendCommandList(dst []byte, opts [][]byte) []byte {
	match := func(*Info) bool { return true }
	switch {
	case len(opts) == 0:
	case len(opts) == 3 && equalFold(opts[0], "filterby"):
		arg := opts[2]
		switch {
		case equalFold(opts[1], "module"):
			match = func(*Info) bool { return false } // the proxy has no modules
		case equalFold(opts[1], "aclcat"):
			var cat ACLCategories
			for i, n := range aclCategoryNames {
				if equalFoldString(arg, n) {
					cat = 1 << i
				}
			}
			match = func(ci *Info) bool { return ci.acl&cat != 0 }
		case equalFold(opts[1], "pattern"):
			match = func(ci *Info) bool { return resp.Match(arg, []byte(ci.name), true) }
		default:
			return resp.AppendError(dst, "ERR syntax error")
		}
	default:
		return resp.AppendError(dst, "ERR syntax error")
	}
	n := 0
	for i := range table {
		if ci := &table[i]; ci.redis && match(ci) {
			n++
		}
	}
	dst = resp.AppendArrayHeader(dst, n)
	for i := range table {
		if ci := &table[i]; ci.redis && match(ci) {
			dst = resp.AppendBulkString(dst, ci.name)
		}
	}
	return dst
}

// appendGetKeys is COMMAND GETKEYS and GETKEYSANDFLAGS (server.c getKeysSubcommandImpl).
func appendGetKeys(dst []byte, args [][]byte, withFlags bool) []byte {
	ci := Find(args)
	switch {
	case ci == nil || !ci.redis:
		return resp.AppendError(dst, "ERR Invalid command specified")
	case !ci.hasKeys:
		return resp.AppendError(dst, "ERR The command has no key arguments")
	case !ci.ArityOK(len(args)):
		return resp.AppendError(dst, "ERR Invalid number of arguments specified for command")
	}
	var flags []KeyFlags
	keys := ci.appendKeys(nil, &flags, args)
	if len(keys) == 0 {
		if ci.flags&FlagNoMandatoryKeys != 0 {
			return append(dst, "*0\r\n"...)
		}
		return resp.AppendError(dst, "ERR Invalid arguments specified for command")
	}
	dst = resp.AppendArrayHeader(dst, len(keys))
	for i, k := range keys {
		if withFlags {
			dst = append(dst, "*2\r\n"...)
		}
		dst = resp.AppendBulk(dst, args[k])
		if withFlags {
			dst = appendKeyFlags(dst, flags[i])
		}
	}
	return dst
}

// appendKeyFlags appends the flags of a key as an array of status replies.
func appendKeyFlags(dst []byte, f KeyFlags) []byte {
	n := 0
	for i := range keyFlagNames {
		if f&(1<<i) != 0 {
			n++
		}
	}
	dst = resp.AppendArrayHeader(dst, n)
	for i, name := range keyFlagNames {
		if f&(1<<i) != 0 {
			dst = append(dst, '+')
			dst = append(dst, name...)
			dst = append(dst, '\r', '\n')
		}
	}
	return dst
}
