package router

import (
	"bytes"

	"github.com/shardproxy/shardproxy/resp"
)

// RESP3. A client that sent HELLO 3 gets RESP3 from every path the proxy
// produces itself: the HELLO map, (un)subscribe replies and messages as
// pushes ('>'), so that it may subscribe and run commands on one
// connection, nulls as '_' where the proxy makes them, NUMSUB as a map.
//
// Replies forwarded from backends stay as the servers encode them on the
// proxy's RESP2 connections: a RESP2 reply is valid RESP3 (every RESP3
// client library reads arrays, bulk strings and RESP2 nulls), and the
// alternative, a second set of RESP3 backend connections per server or a
// per-command conversion, doubles the backend connections or needs each
// command's reply schema. What a RESP3 client can tell: HGETALL, CONFIG
// GET and friends come as flat arrays rather than maps, ZSCORE as a bulk
// string rather than a double. go-redis v9 and redis-py accept both.

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

// appendRESP3 appends reply, a raw RESP2 reply from a backend, for a RESP3
// client: its null bulk strings and null arrays become RESP3's null '_',
// everything else is copied as is (see the file comment for why).
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
