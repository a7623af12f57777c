package router

import (
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// CLIENT LIST, CLIENT KILL and CLIENT UNBLOCK of the proxy's own clients.
// The clients of a backend are the proxy's connections; what an operator or
// a client library means by these commands is the proxy's clients, so the
// proxy answers them with its own sessions (Pool.sessions) and ids. The
// lines of CLIENT LIST and CLIENT INFO are made in clientlist.go.

// sessionPub is what other sessions may read of a session: atomics, set by
// the session's goroutine, read by CLIENT LIST and CLIENT UNBLOCK.
type sessionPub struct {
	created  atomic.Int64                 // unix nanoseconds
	active   atomic.Int64                 // unix nanoseconds of the last batch or push (idle)
	cmd      atomic.Pointer[command.Info] // the last command; nil: none yet, or unknown
	name     atomic.Pointer[string]
	user     atomic.Pointer[aclUser] // the authenticated user (or the initial one)
	multi    atomic.Int32            // commands queued in MULTI, -1 outside
	multiMem atomic.Int64            // Redis's multi-mem of the queued commands
	subs     [3]atomic.Int32         // names held, by subKind
	proto    atomic.Int32            // 2 or 3
	tracking atomic.Bool             // CLIENT TRACKING on
	blocked  atomic.Pointer[blockState]
	rbs, rbp atomic.Int64 // Session.rbCap and rbPeak
	in       *guardConn   // the client's input, for its qbuf; nil when unguarded
	fd       int          // the client socket's descriptor, -1 if unknown; set before register
	laddr    string       // the local address of the client's connection; set before register
	unix     bool         // connected through a unix socket (flag U); set before register
}

// lastCmd records the last command of a batch, read at nanotime now, for
// CLIENT LIST. A nil ci (a command that failed its lookup) leaves what
// lookupFailed recorded.
func (s *Session) lastCmd(ci *command.Info, now int64) {
	if ci != nil {
		s.pub.cmd.Store(ci)
	}
	s.pub.active.Store(now)
}

// lookupFailed records, for CLIENT LIST, a command that command.Lookup
// refused: as Redis, the command when only its arity is wrong, and none
// (cmd=NULL) for an unknown command or subcommand.
func (s *Session) lookupFailed(args [][]byte) {
	s.pub.cmd.Store(command.Find(args))
}

// pinnedCmd records a command of the pinned path for CLIENT LIST.
func (s *Session) pinnedCmd(ci *command.Info) {
	s.lastCmd(ci, nanotime())
	m, mem := int32(-1), int64(0)
	if s.tx != nil && s.tx.multi {
		m, mem = int32(s.tx.queued), s.tx.mem
	}
	s.pub.multi.Store(m)
	s.pub.multiMem.Store(mem)
}

// argvMem is what Redis counts of a command's arguments in argv-mem:
// their bytes.
func argvMem(args [][]byte) int64 {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	return int64(n)
}

// setUser makes u the session's user.
func (s *Session) setUser(u *aclUser) {
	s.auth.user = u
	s.pub.user.Store(u)
}

// setProto records the RESP version HELLO chose.
func (s *Session) setProto(proto int) {
	s.proto = proto
	s.pub.proto.Store(int32(max(proto, 2)))
}

// setName records CLIENT SETNAME's (or HELLO SETNAME's) name; "" for none.
func (s *Session) setName(name string) {
	s.name = name
	if name == "" {
		s.pub.name.Store(nil)
		return
	}
	s.pub.name.Store(&name)
}

// setTracking records CLIENT TRACKING on or off.
func (s *Session) setTracking(on bool) {
	s.trk.on = on
	s.pub.tracking.Store(on)
}

// pubSubs records how many names of kind the session holds.
func (s *Session) pubSubs(kind subKind) {
	n := 0
	if s.sub != nil {
		n = len(s.sub.names[kind])
	}
	s.pub.subs[kind].Store(int32(n))
}

// register makes the session visible to CLIENT LIST/KILL/UNBLOCK.
func (p *Pool) register(s *Session) {
	now := nanotime()
	s.pub.created.Store(now)
	s.pub.active.Store(now)
	s.pub.multi.Store(-1)
	s.pub.user.Store(s.auth.user)
	s.pub.proto.Store(2)
	p.sessions.Store(s.id, s)
}

// clientKill answers CLIENT KILL addr, and CLIENT KILL with Redis 7.0's
// filters: ID, ADDR, LADDR, TYPE, USER, SKIPME.
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
	addr, laddr, user, skipme := "", "", "", true
	typ := -1 // outClass to match; -1: any
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
		case "laddr":
			laddr = string(v)
		case "type":
			switch strings.ToLower(string(v)) {
			case "normal":
				typ = int(outNormal)
			case "pubsub":
				typ = int(outPubsub)
			case "master", "replica", "slave":
				typ = 99 // the proxy has none
			default:
				return resp.AppendError(nil, "ERR Unknown client type '"+string(v)+"'")
			}
		case "user":
			if s.p.access.users[string(v)] == nil {
				return resp.AppendError(nil, "ERR No such user '"+string(v)+"'")
			}
			user = string(v)
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
		if typ >= 0 {
			t := int(outNormal)
			if o.pubsub() {
				t = int(outPubsub)
			}
			if t != typ {
				return false
			}
		}
		if user != "" {
			if u := o.pub.user.Load(); u == nil || u.name != user {
				return false
			}
		}
		return (id == 0 || o.id == id) && (addr == "" || o.addr == addr) && (laddr == "" || o.pub.laddr == laddr)
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
// connection is shut (through its writer's socket: a pool client is only
// closed by its own goroutine) and its dedicated connections close, so a
// blocked command or an open transaction ends at once.
func (s *Session) kick() {
	if s.w != nil {
		s.w.sock.Close()
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
	// Each shard the command blocks on (WAIT: several) unblocks its part
	// and answers for it as Redis would; the client is unblocked if any
	// part was.
	unblocked := int64(0)
	for _, on := range b.on {
		r := backend.NewRequest()
		r.Wire = resp.AppendCommand(nil, "CLIENT", "UNBLOCK", strconv.FormatInt(on.id, 10), mode)
		c, err := on.srv.Pick(s.hint)
		if err != nil {
			return resp.AppendError(nil, "ERR "+err.Error())
		}
		c.Enqueue(r)
		r.Wait()
		if r.Err != nil {
			return resp.AppendError(nil, "ERR "+r.Err.Error())
		}
		n, ok := resp.IntValue(r.Reply)
		if !ok {
			return append([]byte(nil), r.Reply...)
		}
		unblocked = max(unblocked, n)
	}
	return resp.AppendInt(nil, unblocked)
}
