package router

import (
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// CLIENT LIST, CLIENT KILL and CLIENT UNBLOCK of the proxy's own clients.
// The clients of a backend are the proxy's connections; what an operator or
// a client library means by these commands is the proxy's clients, so the
// proxy answers them with its own sessions (Pool.sessions) and ids.

// sessionPub is what other sessions may read of a session: atomics, set by
// the session's goroutine, read by CLIENT LIST and CLIENT UNBLOCK.
type sessionPub struct {
	created atomic.Int64                 // unix nanoseconds
	active  atomic.Int64                 // unix nanoseconds of the last batch
	cmd     atomic.Pointer[command.Info] // the last command
	name    atomic.Pointer[string]
	multi   atomic.Int32 // commands queued in MULTI, -1 outside
	blocked atomic.Pointer[blockState]
	in      *guardConn // the client's input, for its qbuf; nil when unguarded
}

// lastCmd records the last command of a batch, read at nanotime now, for
// CLIENT LIST.
func (s *Session) lastCmd(ci *command.Info, now int64) {
	if ci != nil {
		s.pub.cmd.Store(ci)
	}
	s.pub.active.Store(now)
}

// pinnedCmd records a command of the pinned path for CLIENT LIST.
func (s *Session) pinnedCmd(ci *command.Info) {
	s.lastCmd(ci, time.Now().UnixNano())
	m := int32(-1)
	if s.tx != nil && s.tx.multi {
		m = int32(s.tx.queued)
	}
	s.pub.multi.Store(m)
}

// register makes the session visible to CLIENT LIST/KILL/UNBLOCK.
func (p *Pool) register(s *Session) {
	now := time.Now().UnixNano()
	s.pub.created.Store(now)
	s.pub.active.Store(now)
	s.pub.multi.Store(-1)
	p.sessions.Store(s.id, s)
}

// clientList answers CLIENT LIST [TYPE normal|...] [ID id ...].
func (s *Session) clientList(args [][]byte) []byte {
	var ids map[int64]bool
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "type" && i+1 < len(args):
			t := strings.ToLower(string(args[i+1]))
			if t != "normal" && t != "master" && t != "replica" && t != "slave" && t != "pubsub" {
				return resp.AppendError(nil, "ERR Unknown client type '"+string(args[i+1])+"'")
			}
			if t != "normal" {
				ids = map[int64]bool{}
			}
			i++
		case opt == "id" && i+1 < len(args):
			if ids == nil {
				ids = map[int64]bool{}
			}
			for i++; i < len(args); i++ {
				id, ok := resp.ParseInt(args[i])
				if !ok || id <= 0 {
					return resp.AppendError(nil, "ERR Invalid client ID")
				}
				ids[id] = true
			}
		default:
			return resp.AppendError(nil, "ERR syntax error")
		}
	}
	var b strings.Builder
	s.p.sessions.Range(func(k, v any) bool {
		o := v.(*Session)
		if ids != nil && !ids[o.id] {
			return true
		}
		b.WriteString(o.clientLine(s, "client|list"))
		return true
	})
	return s.appendText(nil, b.String())
}

// clientLine is one line of CLIENT LIST (or CLIENT INFO), in Redis's
// format. self is the session asking: its own line names selfCmd, the
// command running, as Redis's does.
//
// The buffer fields: qbuf, qbuf-free and argv-mem are the input the guard
// holds (guardConn.inputUse), counted as Redis counts them; obl is 0 (the
// proxy has no fixed reply buffer: all pending output is in blocks), oll
// and omem are the writer's pending blocks and accounted bytes
// (clientWriter.outUse), and tot-mem is their sum.
func (o *Session) clientLine(self *Session, selfCmd string) string {
	now := time.Now().UnixNano()
	name := ""
	if n := o.pub.name.Load(); n != nil {
		name = *n
	}
	cmd := "NULL"
	if o == self {
		cmd = selfCmd
	} else if ci := o.pub.cmd.Load(); ci != nil {
		cmd = ci.Name()
	}
	multi := o.pub.multi.Load()
	flags := ""
	if multi >= 0 {
		flags += "x"
	}
	if o.pub.blocked.Load() != nil {
		flags += "b"
	}
	if flags == "" {
		flags = "N"
	}
	qbuf, qfree, argv := o.pub.in.inputUse()
	oll, omem := 0, int64(0)
	if o.w != nil {
		oll, omem = o.w.outUse()
	}
	return "id=" + strconv.FormatInt(o.id, 10) +
		" addr=" + o.addr +
		" laddr=" + o.p.Addr() +
		" fd=-1 name=" + name +
		" age=" + strconv.FormatInt((now-o.pub.created.Load())/1e9, 10) +
		" idle=" + strconv.FormatInt((now-o.pub.active.Load())/1e9, 10) +
		" flags=" + flags +
		" db=0 sub=0 psub=0 ssub=0 multi=" + strconv.Itoa(int(multi)) +
		" qbuf=" + strconv.FormatInt(qbuf, 10) +
		" qbuf-free=" + strconv.FormatInt(qfree, 10) +
		" argv-mem=" + strconv.FormatInt(argv, 10) +
		" multi-mem=0 rbs=0 rbp=0 obl=0 oll=" + strconv.Itoa(oll) +
		" omem=" + strconv.FormatInt(omem, 10) +
		" tot-mem=" + strconv.FormatInt(qbuf+qfree+argv+omem, 10) +
		" events=r" +
		" cmd=" + cmd + " user=default redir=-1 resp=2\n"
}

// clientKill answers CLIENT KILL addr, and CLIENT KILL with ID, ADDR,
// SKIPME filters (others are refused).
func (s *Session) clientKill(args [][]byte) []byte {
	if len(args) == 3 {
		// Old form: CLIENT KILL addr:port.
		n := s.kill(func(o *Session) bool { return o.addr == string(args[2]) }, false)
		if n == 0 {
			return resp.AppendError(nil, "ERR No such client")
		}
		return resp.AppendSimple(nil, "OK")
	}
	var id int64
	addr, skipme := "", true
	if (len(args)-2)%2 != 0 {
		return resp.AppendError(nil, "ERR syntax error")
	}
	for i := 2; i+1 < len(args); i += 2 {
		v := args[i+1]
		switch strings.ToLower(string(args[i])) {
		case "id":
			n, ok := resp.ParseInt(v)
			if !ok || n <= 0 {
				return resp.AppendError(nil, "ERR client-id should be greater than 0")
			}
			id = n
		case "addr":
			addr = string(v)
		case "skipme":
			switch strings.ToLower(string(v)) {
			case "yes":
				skipme = true
			case "no":
				skipme = false
			default:
				return resp.AppendError(nil, "ERR syntax error")
			}
		default:
			return resp.AppendError(nil, "ERR syntax error")
		}
	}
	n := s.kill(func(o *Session) bool {
		return (id == 0 || o.id == id) && (addr == "" || o.addr == addr)
	}, skipme)
	return resp.AppendInt(nil, int64(n))
}

// kill closes the client connections of the sessions that match and
// returns how many. Its own connection closes after the reply.
func (s *Session) kill(match func(*Session) bool, skipme bool) int {
	n := 0
	s.p.sessions.Range(func(k, v any) bool {
		o := v.(*Session)
		if !match(o) || (o == s && skipme) {
			return true
		}
		n++
		if o == s {
			s.quit = true
			return true
		}
		o.kick()
		return true
	})
	return n
}

// kick disconnects the session from another goroutine: its client
// connection and its dedicated connections close, so a blocked command or
// an open transaction ends at once.
func (s *Session) kick() {
	if s.nc != nil {
		s.nc.Close()
	}
	s.pins.closeAll()
}

// clientUnblock answers CLIENT UNBLOCK id [TIMEOUT|ERROR] for a proxy
// client id: the blocked command is unblocked on its shard, which answers
// it as Redis would (a timeout, or the UNBLOCKED error).
func (s *Session) clientUnblock(args [][]byte) []byte {
	id, ok := resp.ParseInt(args[2])
	if !ok {
		return resp.AppendError(nil, "ERR value is not an integer or out of range")
	}
	mode := "TIMEOUT"
	if len(args) > 4 {
		return resp.AppendError(nil, "ERR syntax error")
	}
	if len(args) == 4 {
		switch strings.ToLower(string(args[3])) {
		case "timeout":
		case "error":
			mode = "ERROR"
		default:
			return resp.AppendError(nil, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
		}
	}
	v, ok := s.p.sessions.Load(id)
	if !ok {
		return resp.AppendInt(nil, 0)
	}
	b := v.(*Session).pub.blocked.Load()
	if b == nil {
		return resp.AppendInt(nil, 0)
	}
	r := backend.NewRequest()
	r.Wire = resp.AppendCommand(nil, "CLIENT", "UNBLOCK", strconv.FormatInt(b.id, 10), mode)
	c, err := b.srv.Pick(s.hint)
	if err != nil {
		return resp.AppendError(nil, "ERR "+err.Error())
	}
	c.Enqueue(r)
	r.Wait()
	if r.Err != nil {
		return resp.AppendError(nil, "ERR "+r.Err.Error())
	}
	return append([]byte(nil), r.Reply...)
}
