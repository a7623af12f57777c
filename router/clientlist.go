package router

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// CLIENT LIST and CLIENT INFO: one line per session in Redis 7.0's format,
// from what the sessions publish (sessionPub, clients.go).

// connFD returns the descriptor of a client connection (of the connection
// under a TLS one), for CLIENT LIST's fd; -1 when it has none.
func connFD(nc net.Conn) int {
	for {
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	if rc.Control(func(d uintptr) { fd = int(d) }) != nil {
		return -1
	}
	return fd
}

// clientList answers CLIENT LIST [TYPE normal|master|replica|slave|pubsub]
// and CLIENT LIST ID id [id ...] with Redis 7.0's syntax: TYPE only alone,
// IDs in the order given (an unknown one skipped), every client in order
// of connection otherwise.
func (s *Session) clientList(args [][]byte) []byte {
	var b strings.Builder
	switch {
	case len(args) == 4 && strings.EqualFold(string(args[2]), "type"):
		var want outClass
		switch strings.ToLower(string(args[3])) {
		case "normal":
			want = outNormal
		case "pubsub":
			want = outPubsub
		case "master", "replica", "slave":
			// The proxy has neither.
			return s.appendText(nil, "")
		default:
			return resp.AppendError(nil, "ERR Unknown client type '"+string(args[3])+"'")
		}
		for _, o := range s.p.sessionsByID() {
			if o.pubsub() == (want == outPubsub) {
				b.WriteString(o.clientLine(s, args))
			}
		}
	case len(args) > 3 && strings.EqualFold(string(args[2]), "id"):
		for _, a := range args[3:] {
			if _, ok := resp.ParseInt(a); !ok {
				return resp.AppendError(nil, "ERR Invalid client ID")
			}
		}
		for _, a := range args[3:] {
			id, _ := resp.ParseInt(a)
			if v, ok := s.p.sessions.Load(id); ok {
				b.WriteString(v.(*Session).clientLine(s, args))
			}
		}
	case len(args) != 2:
		return resp.AppendError(nil, "ERR syntax error")
	default:
		for _, o := range s.p.sessionsByID() {
			b.WriteString(o.clientLine(s, args))
		}
	}
	return s.appendText(nil, b.String())
}

// sessionsByID returns the pool's sessions in order of connection, as
// Redis lists its clients.
func (p *Pool) sessionsByID() []*Session {
	var all []*Session
	p.sessions.Range(func(_, v any) bool {
		all = append(all, v.(*Session))
		return true
	})
	slices.SortFunc(all, func(a, b *Session) int { return cmp.Compare(a.id, b.id) })
	return all
}

// pubsub reports whether the session holds a subscription: Redis's P flag
// and client type pubsub.
func (o *Session) pubsub() bool {
	return o.pub.subs[subChannel].Load()+o.pub.subs[subPattern].Load()+o.pub.subs[subSharded].Load() > 0
}

// clientLine is one line of CLIENT LIST (or CLIENT INFO), in Redis 7.0's
// format and field order. self is the session asking and selfArgs the
// command it runs: its own line names that command and counts it in qbuf
// and argv-mem, as Redis's does (EXEC instead when EXEC runs it).
//
// The fields the proxy cannot take from Redis's own structures: fd is the
// client socket's descriptor in the proxy; qbuf, qbuf-free and argv-mem
// are the input the guard holds (guardConn.inputUse), counted as Redis
// counts them, plus, on the asker's own line, the batch being served, and
// on a blocked client's line, the arguments of its blocking command (Redis
// keeps them while it blocks); multi-mem counts the queued commands as
// Redis does (arguments plus a pointer each). rbs is the capacity of the
// buffer the session assembles its replies in and rbp its peak use; obl is
// always 0, because those replies are handed to the writer before the
// session reads again, and what the client has not taken yet is in the
// writer's blocks: oll and omem (clientWriter.outUse), with events=rw while
// the writer waits for the client (a Redis client that stops reading
// fills its 16 KB buffer, obl, before its list; here all of it shows in
// oll and omem). tot-mem is the sum of the buffers. redir is 0 for a
// tracking client (the proxy has no REDIRECT) and -1 otherwise; db is
// always 0 (SELECT allows no other). Not shown: flag d (a WATCHed key was
// touched), which only the shard holding the transaction knows.
func (o *Session) clientLine(self *Session, selfArgs [][]byte) string {
	now := nanotime()
	name := ""
	if n := o.pub.name.Load(); n != nil {
		name = *n
	}
	cmd := "NULL"
	if ci := o.pub.cmd.Load(); ci != nil {
		cmd = ci.Name()
	}
	qbuf, qfree, argv := o.pub.in.inputUse()
	switch {
	case o == self && self.inExec:
		// Run by EXEC: Redis shows EXEC, and counts its argv-mem.
		qbuf += self.batchInput()
		argv += int64(len("exec"))
	case o == self:
		if ci := command.Find(selfArgs); ci != nil {
			cmd = ci.Name()
		}
		qbuf += self.batchInput()
		argv += argvMem(selfArgs)
	}
	multi := o.pub.multi.Load()
	subs := [3]int32{o.pub.subs[0].Load(), o.pub.subs[1].Load(), o.pub.subs[2].Load()}
	tracking := o.pub.tracking.Load()
	var flags []byte
	if subs[0]+subs[1]+subs[2] > 0 {
		flags = append(flags, 'P')
	}
	if multi >= 0 {
		flags = append(flags, 'x')
	}
	if b := o.pub.blocked.Load(); b != nil {
		flags = append(flags, 'b')
		argv += b.argv
	}
	if tracking {
		flags = append(flags, 't')
	}
	if o.pub.unix {
		flags = append(flags, 'U')
	}
	if len(flags) == 0 {
		flags = append(flags, 'N')
	}
	oll, omem, writing := 0, int64(0), false
	if o.w != nil {
		oll, omem, writing = o.w.outUse()
	}
	events := "r"
	if writing {
		events = "rw"
	}
	redir := "-1"
	if tracking {
		redir = "0"
	}
	user := "default"
	if u := o.pub.user.Load(); u != nil {
		user = u.name
	}
	mmem := o.pub.multiMem.Load()
	rbs, rbp := o.pub.rbs.Load(), o.pub.rbp.Load()
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	i32 := func(n int32) string { return strconv.FormatInt(int64(n), 10) }
	return "id=" + i64(o.id) +
		" addr=" + o.addr +
		" laddr=" + o.pub.laddr +
		" fd=" + strconv.Itoa(o.pub.fd) +
		" name=" + name +
		" age=" + i64((now-o.pub.created.Load())/1e9) +
		" idle=" + i64((now-o.pub.active.Load())/1e9) +
		" flags=" + string(flags) +
		" db=0 sub=" + i32(subs[subChannel]) +
		" psub=" + i32(subs[subPattern]) +
		" ssub=" + i32(subs[subSharded]) +
		" multi=" + i32(multi) +
		" qbuf=" + i64(qbuf) +
		" qbuf-free=" + i64(qfree) +
		" argv-mem=" + i64(argv) +
		" multi-mem=" + i64(mmem) +
		" rbs=" + i64(rbs) +
		" rbp=" + i64(rbp) +
		" obl=0 oll=" + strconv.Itoa(oll) +
		" omem=" + i64(omem) +
		" tot-mem=" + i64(qbuf+qfree+argv+mmem+rbs+omem) +
		" events=" + events +
		" cmd=" + cmd +
		" user=" + user +
		" redir=" + redir +
		" resp=" + i32(o.pub.proto.Load()) + "\n"
}
