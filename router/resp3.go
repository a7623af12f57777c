package router

import (
	"bytes"

	"github.com/shardproxy/shardproxy/resp"
)

// RESP3. A client that sent HELLO 3 gets RESP3 from every path: the
// HELLO map, (un)subscribe replies and messages as pushes ('>'), so that it
// may subscribe and run commands on one connection, nulls as '_', NUMSUB
// and CONFIG GET as maps, INFO and CLIENT INFO/LIST as verbatim strings.
//
// Replies from backends come from backend connections that said HELLO 3
// (backend.Server.PickProto, DedicateProto): each server keeps a second set
// of shared connections, opened when the first RESP3 client needs one, and
// RESP3 sessions' requests go there, pinned ones to RESP3 dedicated
// connections. The replies are then byte for byte what Redis sends a RESP3
// client (maps, sets, doubles, big numbers, verbatim strings, booleans),
// and the merges read them as they are: MGET's elements may be '_', INFO
// bodies verbatim strings (resp.TextValue); integers, arrays and errors
// are the same in both protocols.
//
// Why not convert RESP2 replies instead: which array is a map, which bulk
// string a double, is not in the reply but in each command's reply schema
// (and EVAL's, module commands' and CONFIG's are not known ahead at all),
// so a converter would be a second implementation of Redis's reply code,
// wrong wherever it is incomplete. The price of a second set of
// connections is one more connection per server and connection slot (only
// once a RESP3 client has come), and nothing per request: the session
// copies backend replies as they are, which for RESP3 clients is cheaper
// than the former null rewrite (appendRESP3 now runs on replies the proxy
// makes itself only).
// protocol returns the session's RESP version, 2 or 3.
func (s *Session) protocol() int {
	if s.proto == 3 {
		return 3
	}
	return 2
}

// appendHelloMap appends HELLO's reply in the session's protocol: Redis's
// seven fields (a map in RESP3, a flat array in RESP2) and the proxy's own.
func (s *Session) appendHelloMap(dst []byte) []byte {
	if s.proto == 3 {
		dst = resp.AppendMapHeader(dst, 8)
	} else {
		dst = resp.AppendArrayHeader(dst, 16)
	}
	dst = resp.AppendBulkString(dst, "server")
	dst = resp.AppendBulkString(dst, "redis")
	dst = resp.AppendBulkString(dst, "version")
	dst = resp.AppendBulkString(dst, redisVersion)
	dst = resp.AppendBulkString(dst, "proto")
	dst = resp.AppendInt(dst, int64(s.protocol()))
	dst = resp.AppendBulkString(dst, "id")
	dst = resp.AppendInt(dst, s.id)
	dst = resp.AppendBulkString(dst, "mode")
	dst = resp.AppendBulkString(dst, "standalone")
	dst = resp.AppendBulkString(dst, "role")
	dst = resp.AppendBulkString(dst, "master")
	dst = resp.AppendBulkString(dst, "modules")
	dst = resp.AppendArrayHeader(dst, 0)
	dst = resp.AppendBulkString(dst, "proxy")
	dst = resp.AppendBulkString(dst, "shardproxy "+s.p.version)
	return dst
}

// appendRESP3 appends reply, a RESP2 reply the proxy made (or merged from
// backend replies), for a RESP3 client: its null bulk strings and null
// arrays become RESP3's null '_', everything else is copied as is.
func appendRESP3(dst, reply []byte) []byte {
	if !bytes.Contains(reply, minusOne) {
		return append(dst, reply...)
	}
	for pos := 0; pos < len(reply); {
		end := bytes.Index(reply[pos:], crlf)
		if end < 0 {
			return append(dst, reply[pos:]...)
		}
		end += pos
		line := reply[pos:end]
		switch line[0] {
		case '$', '*':
			if len(line) == 3 && line[1] == '-' && line[2] == '1' {
				dst = append(dst, '_', '\r', '\n')
				pos = end + 2
				continue
			}
			if line[0] == '$' {
				n, _ := resp.ParseInt(line[1:])
				next := min(end+2+int(n)+2, len(reply))
				dst = append(dst, reply[pos:next]...)
				pos = next
				continue
			}
		case '=', '!':
			n, _ := resp.ParseInt(line[1:])
			next := min(end+2+int(n)+2, len(reply))
			dst = append(dst, reply[pos:next]...)
			pos = next
			continue
		}
		dst = append(dst, reply[pos:end+2]...)
		pos = end + 2
	}
	return dst
}

var (
	minusOne = []byte("-1\r\n")
	crlf     = []byte("\r\n")
)

// appendText appends a text reply as Redis does (addReplyVerbatim): a bulk
// string in RESP2, a verbatim string of format txt in RESP3.
func (s *Session) appendText(dst []byte, text string) []byte {
	if s.proto == 3 {
		return resp.AppendVerbatim(dst, "txt", text)
	}
	return resp.AppendBulkString(dst, text)
}
