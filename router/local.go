package router

import (
	"strconv"
	"strings"
	"time"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// redisVersion is the Redis release whose command table and reply shapes
// the proxy presents.
const redisVersion = "7.0.15"

// addLocal answers a command the proxy handles itself.
// Its error replies imitate Redis's (SELECT 1, HELLO 3, ...) and count as
// Redis errors, except the refusal of a command it does not answer.
func (s *Session) addLocal(ci *command.Info, args [][]byte, start int64) {
	lo := len(s.out)
	switch ci.Name() {
	case "ping":
		if len(args) > 1 {
			s.out = resp.AppendBulk(s.out, args[1])
		} else {
			s.out = resp.AppendSimple(s.out, "PONG")
		}
	case "echo":
		s.out = resp.AppendBulk(s.out, args[1])
	case "quit":
		s.out = resp.AppendSimple(s.out, "OK")
		s.quit = true
	case "select":
		s.out = s.appendSelect(s.out, args[1])
	case "auth":
		s.out = s.appendAuth(s.out, args)
	case "acl|whoami", "acl|cat", "acl|list", "acl|users":
		s.out = s.appendACL(s.out, ci, args)
	case "hello":
		s.out = s.appendHello(s.out, args)
	case "time":
		now := time.Now()
		s.out = resp.AppendArrayHeader(s.out, 2)
		s.out = resp.AppendBulkString(s.out, strconv.FormatInt(now.Unix(), 10))
		s.out = resp.AppendBulkString(s.out, strconv.Itoa(now.Nanosecond()/1000))
	case "client|setname":
		s.out = s.appendSetName(s.out, args[2])
	case "client|getname":
		if s.name == "" {
			s.out = resp.AppendNull(s.out)
		} else {
			s.out = resp.AppendBulkString(s.out, s.name)
		}
	case "client|tracking":
		s.out = s.clientTracking(s.out, args)
	case "client|trackinginfo":
		s.out = s.clientTrackingInfo(s.out)
	case "client|getredir":
		s.out = s.clientGetRedir(s.out)
	case "client|caching":
		s.out = s.clientCaching(s.out, args)
	case "client|id":
		s.out = resp.AppendInt(s.out, s.id)
	case "client|setinfo":
		s.out = appendClientSetInfo(s.out, args)
	case "client|list":
		s.out = append(s.out, s.clientList(args)...)
	case "client|kill":
		s.out = append(s.out, s.clientKill(args)...)
	case "client|unblock":
		s.out = append(s.out, s.clientUnblock(args)...)
	case "client|info":
		s.out = s.appendText(s.out, s.clientLine(s, args))
	case "info":
		s.addInfo(ci, args, start)
		return
	default:
		switch {
		case ci.Name() == "command" || strings.HasPrefix(ci.Name(), "command|"):
			s.out = command.AppendReplyProto(s.out, args, s.proto)
		case strings.HasSuffix(ci.Name(), "|help"):
			s.out = append(s.out, ci.HelpReply()...)
		default:
			s.proxyErrorItem(ci, start, "ERR command '"+ci.Name()+"' is not supported by the proxy")
			return
		}
	}
	s.localItem(ci, start, lo, replyResult(s.out[lo:]))
}

func (s *Session) appendSelect(dst []byte, db []byte) []byte {
	n, ok := resp.ParseInt(db)
	switch {
	case !ok:
		return resp.AppendError(dst, "ERR value is not an integer or out of range")
	case n != 0:
		// Each pool maps to one database per shard (redis_db); clients
		// see it as database 0.
		return resp.AppendError(dst, "ERR DB index is out of range")
	}
	return resp.AppendSimple(dst, "OK")
}

func (s *Session) appendSetName(dst []byte, name []byte) []byte {
	for _, c := range name {
		if c < '!' || c > '~' {
			return resp.AppendError(dst, "ERR Client names cannot contain spaces, newlines or special characters.")
		}
	}
	s.setName(string(name))
	return resp.AppendSimple(dst, "OK")
}

func appendClientSetInfo(dst []byte, args [][]byte) []byte {
	attr := strings.ToLower(string(args[2]))
	if attr != "lib-name" && attr != "lib-ver" {
		return resp.AppendError(dst, "ERR Unrecognized option '"+string(args[2])+"'")
	}
	for _, c := range args[3] {
		if c < '!' || c > '~' {
			return resp.AppendError(dst, "ERR "+attr+" cannot contain spaces, newlines or special characters.")
		}
	}
	return resp.AppendSimple(dst, "OK")
}

// appendHello answers HELLO [2|3 [AUTH u p] [SETNAME n]]: the protocol
// switch (resp3.go) and Redis's hello map.
func (s *Session) appendHello(dst []byte, args [][]byte) []byte {
	proto := s.protocol()
	if len(args) > 1 {
		v, ok := resp.ParseInt(args[1])
		if !ok {
			return resp.AppendError(dst, "ERR Protocol version is not an integer or out of range")
		}
		if v != 2 && v != 3 {
			return resp.AppendError(dst, "NOPROTO unsupported protocol version")
		}
		proto = int(v)
	}
	user, pass, setname, errText := helloOptions(args)
	if errText == "" {
		errText = s.helloAuth(user, pass)
	}
	if errText != "" {
		return resp.AppendError(dst, errText)
	}
	if setname != nil {
		s.setName(string(setname))
	}
	s.setProto(proto)
	return s.appendHelloMap(dst)
}
