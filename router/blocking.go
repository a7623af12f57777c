package router

import (
	"strconv"
	"sync"
	"time"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// Blocking commands and WAIT.
//
// BLPOP and its kind, and XREAD/XREADGROUP with BLOCK, run on a dedicated
// connection of the session (pin.go) for as long as they block, so they
// never stall a connection other clients share. The session's goroutine
// waits for the reply, so the commands the client pipelined after it are
// served after it returns, as Redis serves them. Meanwhile a watcher
// (watch_linux.go) notices the client leaving and closes the dedicated
// connection at once: the shard unblocks that connection, and nothing is
// popped for a client that is gone. CLIENT UNBLOCK and CLIENT KILL of the
// proxy's client ids reach a blocked session through Pool.sessions.

// writeFlags mark the commands after which WAIT must wait for the shard.
const writeFlags = command.FlagWrite | command.FlagMayReplicate

// noteWrite records that the session wrote to srv since its last WAIT.
func (s *Session) noteWrite(srv *backend.Server) {
	for _, w := range s.wrote {
		if w == srv {
			return
		}
	}
	s.wrote = append(s.wrote, srv)
}

// blockState is what other sessions see of a blocked one: the dedicated
// connections it waits on (one; WAIT's, one per shard) for CLIENT UNBLOCK,
// and the command's argv-mem, which Redis keeps while it blocks.
type blockState struct {
	on   []blockConn
	one  [1]blockConn // on's array for a single connection
	argv int64
}

// blockConn is a dedicated connection a blocked session waits on.
type blockConn struct {
	srv *backend.Server
	id  int64 // the backend's client id of the connection
}

// block runs a blocking command outside MULTI.
func (s *Session) block(ci *command.Info, raw []byte, args [][]byte, start int64) {
	var errText string
	s.keys, errText = ci.AppendKeyIndexes(s.keys[:0], args)
	if errText != "" {
		s.pinnedError(ci, start, errText)
		return
	}
	part := -1
	for _, k := range s.keys {
		kp := s.topo.part(args[k])
		if part >= 0 && kp != part {
			s.pinnedProxyError(ci, start, errCrossSlot)
			return
		}
		part = kp
	}
	if part < 0 {
		s.pinnedError(ci, start, "ERR wrong number of arguments for '"+ci.Name()+"' command")
		return
	}
	if n := s.p.blocked.Add(1); s.p.cfg.MaxBlocking > 0 && n > int64(s.p.cfg.MaxBlocking) {
		s.p.blocked.Add(-1)
		s.pinnedProxyError(ci, start, "ERR max number of blocked clients reached (max_blocking "+strconv.Itoa(s.p.cfg.MaxBlocking)+")")
		return
	}
	s.p.m.BlockedClients.Inc()
	defer func() {
		s.p.blocked.Add(-1)
		s.p.m.BlockedClients.Dec()
	}()
	timeout, timed := blockTimeout(ci.Name(), args)
	// The client sees everything before this command before it blocks.
	s.pinnedFlush()
	wire, skip := raw, 0
	var askSrv *backend.Server
	for n := 0; ; n++ {
		srv := askSrv
		if srv == nil {
			srv = s.topo.server(part, multiInfo, s.hint)
		}
		if srv == nil {
			s.topo.refresh()
			s.pinnedProxyError(ci, start, errSlotDown)
			return
		}
		d, err := s.pin(srv)
		if err != nil {
			s.pinnedProxyError(ci, start, "ERR "+err.Error())
			return
		}
		reply, berr := s.blockOn(ci, d, wire, skip, timeout, timed, argvMem(args))
		if berr != nil {
			s.dropPin(d)
			s.pinnedProxyError(ci, start, "ERR "+berr.Error())
			return
		}
		kind, slot, addr := redirectNone, 0, ""
		if s.redir != nil {
			kind, slot, addr = parseRedirect(reply)
		}
		if kind == redirectNone || n >= s.p.cfg.MaxRedirects {
			if kind != redirectNone {
				reply = resp.AppendError(reply[:0], "ERR too many cluster redirections for one command")
			}
			s.noteWrite(srv)
			// reply is in the session's pinned request (blockOn): a large
			// one goes without a copy (bigreply.go).
			r := s.pinReq()
			r.Reply = reply
			s.pinnedTake(ci, start, r)
			s.pinnedFlush()
			s.donePin(d)
			return
		}
		s.donePin(d)
		s.redirected(kind, slot, addr)
		wire, skip, askSrv = raw, 0, nil
		switch kind {
		case redirectAsk:
			askSrv = s.redir.node(s.nodeAddr(addr))
			wire, skip = append(append([]byte(nil), askingWire...), raw...), 1
		case redirectTryAgain:
			time.Sleep(time.Duration(n+1) * 20 * time.Millisecond)
		}
	}
}

// blockOn sends a blocking command on d and waits for its reply, for the
// command's own timeout plus the pool's (none when the command waits
// forever), watching the client meanwhile. argv is the command's argv-mem,
// shown by CLIENT LIST while it blocks.
func (s *Session) blockOn(ci *command.Info, d *backend.Dedicated, wire []byte, skip int, timeout time.Duration, timed bool, argv int64) ([]byte, *backend.Error) {
	id, err := s.backendID(d)
	if err != nil {
		return nil, err
	}
	b := &blockState{argv: argv}
	b.one[0] = blockConn{srv: d.Server(), id: id}
	b.on = b.one[:]
	s.pub.blocked.Store(b)
	defer s.pub.blocked.Store(nil)
	stop := s.watchClient(d.Close)
	defer stop()
	r := s.pinReq()
	r.Wire, r.Skip = wire, skip
	if timed {
		err = d.DoBlocking(r, timeout)
	} else {
		err = d.Do(r) // a timeout Redis refuses: its error comes at once
	}
	r.Release()
	r.Wire = nil
	return r.Reply, err
}

// backendID returns the backend's client id of d, asking once per
// connection.
func (s *Session) backendID(d *backend.Dedicated) (int64, *backend.Error) {
	if id, ok := s.p.backendIDs.Load(d); ok {
		return id.(int64), nil
	}
	reply, err := s.doOn(d, clientIDWire, 0)
	if err != nil {
		return 0, err
	}
	id, _ := resp.IntValue(reply)
	s.p.backendIDs.Store(d, id)
	return id, nil
}

var clientIDWire = []byte("*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")

// donePin gives back a dedicated connection after a blocking command or
// WAIT, unless the session's transaction holds it (WATCH on that shard).
func (s *Session) donePin(d *backend.Dedicated) {
	if s.tx != nil && d == s.tx.conn {
		return
	}
	s.release(d)
}

// dropPin closes a dedicated connection that failed.
func (s *Session) dropPin(d *backend.Dedicated) {
	s.p.backendIDs.Delete(d)
	if t := s.tx; t != nil && d == t.conn {
		t.conn, t.begun, t.watching = nil, false, false
	}
	s.unpin(d)
}

// blockTimeout returns how long a blocking command may block, from its
// arguments: seconds for the list and sorted set commands, milliseconds
// for XREAD's BLOCK. 0 means forever. timed is false when the timeout is
// not one Redis accepts (Redis answers an error at once).
func blockTimeout(name string, args [][]byte) (d time.Duration, timed bool) {
	var arg []byte
	ms := false
	switch name {
	case "blmpop", "bzmpop":
		arg = args[1]
	case "xread", "xreadgroup":
		for i := 1; i+1 < len(args); i++ {
			if len(args[i]) == 5 && equalFoldASCII(args[i], "block") {
				arg, ms = args[i+1], true
				break
			}
		}
	default:
		arg = args[len(args)-1]
	}
	if arg == nil {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(arg), 64)
	if err != nil || f < 0 || f > float64(1<<40) {
		return 0, false
	}
	if !ms {
		f *= 1000
	}
	return time.Duration(f * float64(time.Millisecond)), true
}

func equalFoldASCII(b []byte, lower string) bool {
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// wait runs WAIT numreplicas timeout on every shard the session wrote to
// since its last WAIT, in parallel, and answers the smallest count: the
// number of replicas that have every write of the client. Each WAIT runs
// on a dedicated connection after the topology's wait mark (waitmark.go),
// which moves that connection's replication offset to the shard's current
// one, so it covers the writes the client made on the shared connections.
func (s *Session) wait(ci *command.Info, args [][]byte, start int64) {
	num, ok := resp.ParseInt(args[1])
	if !ok {
		s.pinnedError(ci, start, "ERR value is not an integer or out of range")
		return
	}
	ms, ok := resp.ParseInt(args[2])
	if !ok {
		s.pinnedError(ci, start, "ERR timeout is not an integer or out of range")
		return
	}
	if ms < 0 {
		s.pinnedError(ci, start, "ERR timeout is negative")
		return
	}
	servers := s.wrote
	mark := true
	if len(servers) == 0 {
		// No writes: WAIT answers at once how many replicas are connected.
		srv := s.anyServer()
		if srv == nil {
			s.pinnedProxyError(ci, start, errSlotDown)
			return
		}
		servers, mark = []*backend.Server{srv}, false
	}
	s.pinnedFlush()
	waitWire := resp.AppendCommandBytes(nil, args)
	skip := 0
	if mark {
		skip = 1
	}
	type result struct {
		reply []byte
		err   string
	}
	results := make([]result, len(servers))
	conns := make([]*backend.Dedicated, len(servers))
	wires := make([][]byte, len(servers))
	for i, srv := range servers {
		d, err := s.pin(srv)
		if err != nil {
			results[i].err = "ERR " + err.Error()
			continue
		}
		conns[i], wires[i] = d, waitWire
		if mark {
			wires[i] = append(s.topo.waitMark(nil, srv), waitWire...)
		}
	}
	// Blocked, as Redis shows a client in WAIT, and CLIENT UNBLOCK reaches
	// each shard's WAIT (a connection whose id cannot be had is left out:
	// its WAIT fails alike).
	bs := &blockState{argv: argvMem(args)}
	for _, d := range conns {
		if d == nil {
			continue
		}
		if id, err := s.backendID(d); err == nil {
			bs.on = append(bs.on, blockConn{srv: d.Server(), id: id})
		}
	}
	s.pub.blocked.Store(bs)
	defer s.pub.blocked.Store(nil)
	stop := s.watchClient(func() {
		for _, d := range conns {
			if d != nil {
				d.Close()
			}
		}
	})
	var wg sync.WaitGroup
	for i, d := range conns {
		if d == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := backend.NewRequest()
			r.Wire, r.Skip = wires[i], skip
			if berr := d.DoBlocking(r, time.Duration(ms)*time.Millisecond); berr != nil {
				results[i].err = "ERR " + berr.Error()
			} else {
				results[i].reply = r.Reply
			}
		}()
	}
	wg.Wait()
	stop()
	for _, d := range conns {
		if d == nil {
			continue
		}
		if d.Err() != nil {
			s.dropPin(d)
		} else {
			s.donePin(d)
		}
	}
	s.wrote = s.wrote[:0]
	min := int64(-1)
	for _, r := range results {
		if r.err != "" {
			s.pinnedProxyError(ci, start, r.err)
			return
		}
		n, ok := resp.IntValue(r.reply)
		if !ok {
			s.pinnedRaw(ci, start, r.reply)
			return
		}
		if min < 0 || n < min {
			min = n
		}
	}
	_ = num
	s.pinnedReply(ci, start, resp.AppendInt(s.wbuf, min))
}
