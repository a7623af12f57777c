package router

import (
	"net"
	"strings"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// Transactions, and the pinned path of a session.
//
// The shared path (session.go) routes every command of a batch in parallel
// and merges the replies in order. A command that needs the client's own
// backend connection (MULTI, WATCH, a blocking command, WAIT) ends that: the
// commands read before it are finished first, then it and the commands after
// it run here, one after the other, in order, until the session leaves the
// pinned state (EXEC, DISCARD), when the rest of the batch goes back to the
// shared path. So the hot path pays one branch per command for all of this.
//
// A transaction is bound to one shard (ring) or one slot (cluster), as Redis
// Cluster binds it, at its first keyed command or at WATCH: the session takes
// a dedicated connection to that shard (pin.go) and the transaction runs
// there for real, so Redis itself queues the commands, checks WATCH and runs
// EXEC atomically. Before the binding, keyless commands (PING, EVAL with no
// keys) are queued by the proxy and sent after MULTI once the shard is
// known. Commands the proxy answers itself are answered +QUEUED and their
// replies spliced into EXEC's array. Whatever the proxy refuses inside MULTI
// (a key of another shard, a fan-out, an unknown command) marks the
// transaction so that EXEC answers EXECABORT, as Redis does for a command
// error while queueing.

const (
	errExecAbort    = "EXECABORT Transaction discarded because of previous errors."
	errNestedMulti  = "ERR MULTI calls can not be nested"
	errWatchInMulti = "ERR WATCH inside MULTI is not allowed"
	errExecNoMulti  = "ERR EXEC without MULTI"
	errDiscNoMulti  = "ERR DISCARD without MULTI"
)

var (
	multiWire   = []byte("*1\r\n$5\r\nMULTI\r\n")
	execWire    = []byte("*1\r\n$4\r\nEXEC\r\n")
	discardWire = []byte("*1\r\n$7\r\nDISCARD\r\n")
	unwatchWire = []byte("*1\r\n$7\r\nUNWATCH\r\n")
	// multiInfo is passed where a server is chosen for the transaction:
	// never read-only, so never a replica.
	multiInfo = command.Find([][]byte{[]byte("multi")})
)

// txState is a session's transaction: MULTI and what was queued, and the
// WATCHed shard. The zero value is "no transaction".
type txState struct {
	multi bool // between MULTI and EXEC/DISCARD
	dirty bool // something was refused while queueing: EXEC answers EXECABORT

	// The binding: srv and conn are nil until the first keyed command or
	// WATCH. part is the ring index or the cluster slot.
	part     int
	srv      *backend.Server
	conn     *backend.Dedicated
	begun    bool // MULTI was sent on conn
	watching bool // WATCH was sent on conn

	holes     []txHole           // commands sent after MULTI, replies not read yet
	rpool     []*backend.Request // requests of holes, reused
	reqs      []*backend.Request // txDrain scratch
	spliceBuf []byte             // txDrain scratch

	pending  []byte    // keyless commands queued before the binding
	npending int       // commands in pending
	queued   int       // commands queued so far (for the splice)
	mem      int64     // Redis's multi-mem of the queued commands (CLIENT LIST)
	locals   []txLocal // commands the proxy answers, spliced into EXEC's reply
	req      *backend.Request
	preReq   *backend.Request // doPair's first request
}

// txLocal is a command answered by the proxy, queued in a transaction.
type txLocal struct {
	at   int // its position among the queued commands
	ci   *command.Info
	args [][]byte // copies
}

// pinnedRun serves the batch's commands from i on (-1: first, else
// rest[i]) on the pinned path while the session needs it (see above) and
// returns the index of the first command left for the shared path.
func (s *Session) pinnedRun(first redcon.Command, rest []redcon.Command, i int, start int64) int {
	n := 0
	for ; i < len(rest) && !s.ending(); i++ {
		cmd := first
		if i >= 0 {
			cmd = rest[i]
		}
		q := s.txs().queued
		ci := s.pinnedCommand(cmd.Raw, cmd.Args, start)
		if s.txs().multi && s.txs().queued > q {
			// Queued: Redis counts its arguments and a pointer to each.
			s.txs().mem += argvMem(cmd.Args) + 8*int64(len(cmd.Args))
		}
		s.pinnedCmd(ci)
		n++
		if !s.txs().multi {
			i++
			break
		}
		if len(s.wbuf) >= flushAt {
			s.pinnedFlush()
		}
	}
	s.pinnedFlush()
	s.p.stats.batch(n)
	return i
}

// pinnedCommand runs one command on the pinned path.
func (s *Session) pinnedCommand(raw []byte, args [][]byte, start int64) *command.Info {
	ci, errText := command.Lookup(args)
	if ci == nil {
		s.lookupFailed(args)
		if isExec(args) {
			s.execReject(nil, start, strings.TrimPrefix(errText, "ERR "))
			return nil
		}
		s.txs().dirty = s.txs().dirty || s.txs().multi
		s.pinnedError(nil, start, errText)
		return nil
	}
	s.pinnedCmd(ci)
	if v := s.auth.user.verdict[ci.Index()]; v != vAllow {
		if msg := s.checkAccess(v, ci, args); msg != "" {
			if ci.Name() == "exec" {
				s.execReject(ci, start, msg)
				return ci
			}
			// Refused before queueing: Redis flags the transaction too.
			s.txs().dirty = s.txs().dirty || s.txs().multi
			s.pinnedError(ci, start, msg)
			return ci
		}
	}
	if s.txs().multi {
		s.txQueue(ci, raw, args, start)
		return ci
	}
	switch ci.Name() {
	case "multi":
		s.txs().multi, s.txs().dirty, s.txs().queued, s.txs().mem = true, false, 0, 0
		s.pinnedReply(ci, start, resp.AppendSimple(s.wbuf, "OK"))
	case "exec":
		s.pinnedError(ci, start, errExecNoMulti)
	case "discard":
		s.pinnedError(ci, start, errDiscNoMulti)
	case "watch":
		s.txWatch(ci, raw, args, start)
	case "unwatch":
		s.txUnwatch(ci, start)
	case "wait":
		s.wait(ci, args, start)
	default:
		class, reply := ci.Classify(args)
		if ci.Flags()&command.FlagBlocking != 0 && class == command.ClassPinned {
			s.block(ci, raw, args, start)
			return ci
		}
		// Another pinned command (pub/sub, RESET, ...): not supported yet.
		if class != command.ClassPinned {
			reply = "ERR command '" + ci.Name() + "' is not supported by the proxy"
		} else {
			reply = "ERR command '" + ci.Name() + "' is not supported by the proxy yet"
		}
		s.pinnedProxyError(ci, start, reply)
	}
	return ci
}

// pinnedReply records the reply the caller appended to s.wbuf (b is the
// whole of s.wbuf, as returned by resp.AppendX(s.wbuf, ...)).
func (s *Session) pinnedReply(ci *command.Info, start int64, b []byte) {
	lo := len(s.wbuf)
	s.wbuf = b
	res := resultOK
	if lo < len(b) && b[lo] == '-' {
		res = resultError
	}
	s.p.stats.command(ci, res, start, nanotime())
}

// pinnedRaw appends a reply read from a backend.
func (s *Session) pinnedRaw(ci *command.Info, start int64, reply []byte) {
	s.pinnedReply(ci, start, append(s.wbuf, reply...))
}

// pinnedError appends an error reply that Redis itself would give: a
// resultError.
func (s *Session) pinnedError(ci *command.Info, start int64, msg string) {
	s.wbuf = resp.AppendError(s.wbuf, msg)
	s.p.stats.command(ci, resultError, start, nanotime())
}

// pinnedProxyError appends the proxy's own error (CROSSSLOT, CLUSTERDOWN, a
// backend failure, a refused command): a resultProxyError.
func (s *Session) pinnedProxyError(ci *command.Info, start int64, msg string) {
	s.wbuf = resp.AppendError(s.wbuf, msg)
	s.p.stats.command(ci, resultProxyError, start, nanotime())
}

// pinnedFlush hands the replies assembled so far to the client's writer:
// before anything that may wait long, and at the end of a run.
func (s *Session) pinnedFlush() {
	if len(s.txs().holes) > 0 {
		s.txDrain(nil)
	}
	if len(s.wbuf) > 0 {
		s.handOut()
	}
}

// txQueue handles a command inside MULTI.
func (s *Session) txQueue(ci *command.Info, raw []byte, args [][]byte, start int64) {
	t := s.txs()
	switch ci.Name() {
	case "multi":
		s.pinnedError(ci, start, errNestedMulti) // not a queueing error in Redis
		return
	case "watch":
		s.pinnedError(ci, start, errWatchInMulti)
		return
	case "exec":
		s.txExec(ci, start)
		return
	case "discard":
		s.txDiscard(ci, start)
		return
	case "reset":
		// Not queued, as in Redis: the transaction is discarded.
		s.resetState()
		s.pinnedReply(ci, start, resp.AppendSimple(s.wbuf, "RESET"))
		return
	case "quit":
		// Not queued, as in Redis: the connection closes, and with it the
		// dedicated one, so the shard drops the transaction.
		s.pinnedReply(ci, start, resp.AppendSimple(s.wbuf, "OK"))
		s.quit = true
		return
	}
	class, reply := ci.Classify(args)
	switch class {
	case command.ClassRefused:
		s.txRefuse(ci, start, reply, resultProxyError)
		return
	case command.ClassFanout:
		s.txRefuse(ci, start, "ERR command '"+ci.Name()+"' runs on every shard and cannot be part of a transaction, which runs on one", resultProxyError)
		return
	case command.ClassLocal:
		if ci.Name() == "info" {
			s.txRefuse(ci, start, "ERR command 'info' runs on every shard and cannot be part of a transaction, which runs on one", resultProxyError)
			return
		}
		cp := make([][]byte, len(args))
		for i, a := range args {
			cp[i] = append([]byte(nil), a...)
		}
		t.locals = append(t.locals, txLocal{at: t.queued, ci: ci, args: cp})
		t.queued++
		s.pinnedReply(ci, start, resp.AppendSimple(s.wbuf, "QUEUED"))
		return
	case command.ClassPinned:
		// Blocking commands and WAIT are queued and do not block inside
		// MULTI, as in Redis; the other pinned commands are not supported.
		if ci.Flags()&command.FlagBlocking == 0 && ci.Name() != "wait" && ci.Name() != "unwatch" {
			s.txRefuse(ci, start, "ERR command '"+ci.Name()+"' is not supported by the proxy yet", resultProxyError)
			return
		}
	}
	var errText string
	s.keys, errText = ci.AppendKeyIndexes(s.keys[:0], args)
	if errText != "" {
		s.txRefuse(ci, start, errText, resultError)
		return
	}
	part := -1
	for _, k := range s.keys {
		kp := s.topo.part(args[k])
		if part >= 0 && kp != part {
			s.txRefuse(ci, start, errCrossSlot, resultProxyError)
			return
		}
		part = kp
	}
	switch {
	case part >= 0 && t.srv == nil:
		s.txBegin(ci, raw, part, start)
	case part >= 0 && !s.samePart(part):
		s.txRefuse(ci, start, errCrossSlot, resultProxyError)
	case t.srv == nil:
		// Keyless, shard not known yet: queue it here.
		t.pending = append(t.pending, raw...)
		t.npending++
		t.queued++
		s.pinnedReply(ci, start, resp.AppendSimple(s.wbuf, "QUEUED"))
	default:
		s.txSend(ci, raw, start)
	}
}

// samePart reports whether part belongs to the transaction's binding: the
// same slot in cluster mode (Redis Cluster wants one slot per
// transaction), the same server in ring mode.
func (s *Session) samePart(part int) bool {
	if s.redir != nil {
		return part == s.txs().part
	}
	return s.topo.server(part, multiInfo, s.hint) == s.txs().srv
}

// txRefuse answers a command refused inside MULTI and marks the
// transaction so that EXEC fails, as Redis does.
// res is resultError for Redis's own errors, resultProxyError for the
// proxy's refusals.
func (s *Session) txRefuse(ci *command.Info, start int64, msg string, res result) {
	s.txs().dirty = true
	s.wbuf = resp.AppendError(s.wbuf, msg)
	s.p.stats.command(ci, res, start, nanotime())
}

// txWire returns the bytes that open the transaction on its connection
// (MULTI, then what was queued before the binding) followed by cmd, and
// how many replies precede cmd's.
func (s *Session) txWire(cmd []byte) ([]byte, int) {
	t := s.txs()
	if t.begun {
		return cmd, 0
	}
	return append(s.txPrefix(), cmd...), 1 + t.npending
}

// txBegin binds the transaction at its first keyed command and sends
// MULTI, the commands queued so far and this one. In cluster mode a
// redirect here is followed: nothing of the transaction has run yet.
func (s *Session) txBegin(ci *command.Info, raw []byte, part int, start int64) {
	if s.redir == nil {
		// A ring server never redirects: bind, and send the command with
		// the rest (txSend).
		srv := s.topo.server(part, multiInfo, s.hint)
		if srv == nil {
			s.txRefuse(ci, start, errSlotDown, resultProxyError)
			return
		}
		d, err := s.pin(srv)
		if err != nil {
			s.txRefuse(ci, start, "ERR "+err.Error(), resultProxyError)
			return
		}
		s.txs().part, s.txs().srv, s.txs().conn = part, srv, d
		s.txSend(ci, raw, start)
		return
	}
	// MULTI and what was queued go as a request of their own before raw,
	// which may be a 512 MB SET (see txSend).
	reply, errText := s.bind(part, s.txPrefix(), s.txs().npending, raw)
	if errText != "" {
		s.txRefuse(ci, start, errText, resultError)
		return
	}
	s.txs().begun, s.txs().pending, s.txs().npending = true, nil, 0
	s.txs().queued++
	if len(reply) > 0 && reply[0] == '-' {
		s.txs().dirty = true // the shard flagged it too
	}
	s.pinnedRaw(ci, start, reply)
}

// txSend sends a queued command on the bound connection.
func (s *Session) txSend(ci *command.Info, raw []byte, start int64) {
	t := s.txs()
	if t.conn == nil {
		s.txRefuse(ci, start, "ERR the backend connection of the transaction closed; the transaction is aborted", resultProxyError)
		return
	}
	// The reply (+QUEUED, or an error) is read later, with those of the
	// commands after it (txDrain): a pipelined MULTI ... EXEC costs one
	// round trip to the shard, not one per command.
	if !t.begun {
		// MULTI and what was queued before the binding go first, as a
		// request of their own rather than joined to raw: raw may be a
		// 512 MB SET, sent as the client's buffer holds it (bigcmd.go).
		pre := s.txDeferReq()
		pre.Wire, pre.Skip = s.txPrefix(), t.npending
		t.holes = append(t.holes, txHole{r: pre, at: len(s.wbuf), prefix: true})
	}
	r := s.txDeferReq()
	r.Wire = raw
	t.holes = append(t.holes, txHole{r: r, at: len(s.wbuf), ci: ci, start: start})
	t.begun, t.pending, t.npending = true, nil, 0
	t.queued++
}

// txPrefix returns MULTI followed by the commands queued before the
// binding.
func (s *Session) txPrefix() []byte {
	return append(append(s.txs().pending[:0:0], multiWire...), s.txs().pending...)
}

// txHole is a queued command sent on the transaction's connection whose
// reply is not read yet: it goes at s.wbuf[at], before what follows.
// A prefix hole is MULTI and the commands queued before the binding
// (txPrefix): it has no reply of its own for the client, but an error
// among its replies becomes the reply of the command after it, as if the
// two had been sent as one request with Skip.
type txHole struct {
	r      *backend.Request
	at     int
	ci     *command.Info
	start  int64
	prefix bool
}

// txDeferReq returns a request for txSend, reused across transactions.
func (s *Session) txDeferReq() *backend.Request {
	t := s.txs()
	n := len(t.holes)
	for len(t.rpool) <= n {
		t.rpool = append(t.rpool, backend.NewRequest())
	}
	r := t.rpool[n]
	r.Reset()
	return r
}

// txDrain sends the queued commands not sent yet, and extra after them
// (EXEC) when not nil, in one write, reads their replies and puts each in
// its place among the replies assembled for the client. It returns the
// error that broke the connection, if one did (then every hole says so).
func (s *Session) txDrain(extra *backend.Request) *backend.Error {
	t := s.txs()
	if len(t.holes) == 0 && extra == nil {
		return nil
	}
	reqs := t.reqs[:0]
	for _, h := range t.holes {
		reqs = append(reqs, h.r)
	}
	if extra != nil {
		reqs = append(reqs, extra)
	}
	t.reqs = reqs[:0]
	var err *backend.Error
	if t.conn == nil {
		err = &backend.Error{Kind: backend.KindClosed, Cause: errSessionClosed}
		for _, r := range reqs {
			r.Err = err
		}
	} else {
		err = t.conn.DoAll(reqs)
	}
	if len(t.holes) > 0 {
		old := s.wbuf
		out := t.spliceBuf[:0]
		prev := 0
		now := nanotime()
		var carried []byte // a prefix hole's error, for the next hole
		for _, h := range t.holes {
			out = append(out, old[prev:h.at]...)
			prev = h.at
			if h.prefix {
				if h.r.Err == nil && len(h.r.Reply) > 0 && h.r.Reply[0] == '-' {
					carried = h.r.Reply
				}
				h.r.Wire = nil
				continue
			}
			reply := h.r.Reply
			if carried != nil && h.r.Err == nil {
				reply, carried = carried, nil
			}
			lo := len(out)
			res := resultOK
			if kind, slot, addr := parseRedirect(reply); h.r.Err == nil && kind != redirectNone {
				// The slot moved while the transaction was open: Redis
				// flagged it, and retrying elsewhere would split it.
				s.redirected(kind, slot, addr)
				out = resp.AppendError(out, "ERR the slot of the transaction moved to another node; the transaction is aborted")
				res = resultProxyError
			} else if h.r.Err != nil {
				out = resp.AppendError(out, "ERR "+h.r.Err.Error())
				res = resultProxyError
			} else {
				out = append(out, reply...)
				res = replyResult(reply)
			}
			if out[lo] == '-' {
				t.dirty = true
			}
			s.p.stats.command(h.ci, res, h.start, now)
			h.r.Release()
			h.r.Wire = nil
		}
		out = append(out, old[prev:]...)
		s.wbuf, t.spliceBuf = out, old[:0]
		clear(t.holes)
		t.holes = t.holes[:0]
	}
	if err != nil && t.conn != nil {
		s.unpin(t.conn)
		t.conn, t.begun, t.watching = nil, false, false
		t.dirty = t.dirty || t.multi
	}
	return err
}

// txBroken answers a command whose dedicated connection failed: the shard
// dropped the transaction with it, so EXEC must fail.
func (s *Session) txBroken(ci *command.Info, start int64, err *backend.Error) {
	s.unpin(s.txs().conn)
	s.txs().conn, s.txs().begun, s.txs().watching = nil, false, false
	// Keep srv and part: later keys are still checked against them.
	s.txs().dirty = s.txs().multi
	s.pinnedProxyError(ci, start, "ERR "+err.Error())
}

// txExec runs EXEC.
func (s *Session) txExec(ci *command.Info, start int64) {
	t := s.txs()
	defer s.txEnd()
	if t.dirty {
		s.txAbandon()
		s.pinnedError(ci, start, errExecAbort)
		return
	}
	if t.srv == nil && t.npending > 0 {
		// Only keyless commands: any shard runs them.
		srv := s.anyServer()
		if srv == nil {
			s.pinnedProxyError(ci, start, errSlotDown)
			return
		}
		d, err := s.pin(srv)
		if err != nil {
			s.pinnedProxyError(ci, start, "ERR "+err.Error())
			return
		}
		t.srv, t.conn = srv, d
	}
	if t.conn == nil {
		if t.srv != nil {
			// The connection broke after WATCH: the watch is lost.
			s.pinnedError(ci, start, errExecAbort)
			return
		}
		// Nothing for a shard: only proxy-answered commands, or none.
		s.wbuf = resp.AppendArrayHeader(s.wbuf, len(t.locals))
		for _, l := range t.locals {
			s.wbuf = append(s.wbuf, s.localReply(l.ci, l.args)...)
		}
		s.pinnedReply(ci, start, s.wbuf)
		return
	}
	wire, skip := s.txWire(execWire)
	ex := s.pinReq()
	ex.Wire, ex.Skip = wire, skip
	if err := s.txDrain(ex); err != nil {
		s.pinnedProxyError(ci, start, "ERR "+err.Error())
		return
	}
	reply := ex.Reply
	ex.Release()
	if kind, slot, addr := parseRedirect(reply); kind != redirectNone {
		s.redirected(kind, slot, addr)
		s.pinnedProxyError(ci, start, "EXECABORT Transaction discarded because its slot moved to another node.")
		return
	}
	// A large value in the reply goes without a copy (bigreply.go).
	if len(t.locals) > 0 && len(reply) > 0 && reply[0] == '*' && reply[1] != '-' {
		own := len(reply) >= bigValue
		if s.splice(reply, own) {
			if own {
				ex.Reply = nil
			}
			s.p.stats.command(ci, resultOK, start, nanotime())
		} else {
			s.pinnedRaw(ci, start, reply)
		}
	} else {
		s.pinnedTake(ci, start, ex)
	}
	s.release(t.conn) // EXEC leaves it clean: no MULTI, no WATCH
	t.conn = nil
}

// splice appends EXEC's reply to s.wbuf with the replies of the
// proxy-answered commands put into its array, and reports whether reply
// was an array. When own, the caller gives reply's buffer up, and its
// large elements go to the writer on their own, without a copy
// (bigreply.go).
func (s *Session) splice(reply []byte, own bool) bool {
	t := s.txs()
	elems, ok := resp.ArrayElems(s.elems[:0], reply)
	defer func() {
		clear(elems) // no view of reply may stay behind
		s.elems = elems[:0]
	}()
	if !ok {
		return false
	}
	s.wbuf = resp.AppendArrayHeader(s.wbuf, len(elems)+len(t.locals))
	e, l := 0, 0
	for pos := 0; e < len(elems) || l < len(t.locals); pos++ {
		switch {
		case l < len(t.locals) && t.locals[l].at == pos:
			s.wbuf = append(s.wbuf, s.localReply(t.locals[l].ci, t.locals[l].args)...)
			l++
		case e < len(elems) && own && len(elems[e]) >= bigValue:
			s.pinnedFlush()
			s.w.writeOwned(elems[e][:len(elems[e]):len(elems[e])])
			e++
		case e < len(elems):
			s.wbuf = append(s.wbuf, elems[e]...)
			e++
		default:
			return true
		}
	}
	return true
}

// localReply returns the reply the proxy gives to a local command.
func (s *Session) localReply(ci *command.Info, args [][]byte) []byte {
	lo, n := len(s.out), len(s.items)
	s.inExec = true
	s.addLocal(ci, args, nanotime())
	s.inExec = false
	b := append([]byte(nil), s.out[lo:]...)
	s.out, s.items = s.out[:lo], s.items[:n]
	return b
}

// txDiscard runs DISCARD.
func (s *Session) txDiscard(ci *command.Info, start int64) {
	s.txAbandon()
	s.txEnd()
	s.pinnedReply(ci, start, resp.AppendSimple(s.wbuf, "OK"))
}

// execReject answers an EXEC refused before it runs (wrong arity, NOAUTH,
// NOPERM) as Redis 7.0's rejectCommand does: like DISCARD it ends the
// transaction and forgets the WATCHed keys, and the reply is EXECABORT
// with the reason (the arity error without its "ERR ").
func (s *Session) execReject(ci *command.Info, start int64, why string) {
	s.txAbandon()
	s.txEnd()
	s.pinnedError(ci, start, "EXECABORT Transaction discarded because of: "+why)
}

// isExec reports whether args name EXEC, whatever their number.
func isExec(args [][]byte) bool {
	return len(args) > 0 && len(args[0]) == 4 && equalFoldASCII(args[0], "exec")
}

// txAbandon ends what the transaction started on its connection (MULTI,
// WATCH) and releases it. A connection in doubt is closed instead: the
// shard drops the transaction with it.
func (s *Session) txAbandon() {
	t := s.txs()
	s.txDrain(nil)
	if t.conn == nil {
		return
	}
	var wire []byte
	switch {
	case t.begun:
		wire = discardWire // also forgets the WATCHed keys
	case t.watching:
		wire = unwatchWire
	default:
		s.release(t.conn)
		t.conn = nil
		return
	}
	if reply, err := s.doOn(t.conn, wire, 0); err != nil || len(reply) == 0 || reply[0] != '+' {
		s.unpin(t.conn)
	} else {
		s.release(t.conn)
	}
	t.conn = nil
}

// txEnd forgets the transaction and its binding; the connection must be
// released already.
func (s *Session) txEnd() {
	t := s.txs()
	if t.conn != nil {
		s.unpin(t.conn)
	}
	*t = txState{req: t.req, preReq: t.preReq, rpool: t.rpool, reqs: t.reqs, spliceBuf: t.spliceBuf, holes: t.holes[:0]}
}

// txWatch runs WATCH outside MULTI: it binds the session to the keys'
// shard (or checks them against it) and sends WATCH there.
func (s *Session) txWatch(ci *command.Info, raw []byte, args [][]byte, start int64) {
	t := s.txs()
	part := -1
	for _, k := range args[1:] {
		kp := s.topo.part(k)
		if part >= 0 && kp != part {
			s.pinnedProxyError(ci, start, errCrossSlot)
			return
		}
		part = kp
	}
	if t.srv != nil && !s.samePart(part) {
		s.pinnedProxyError(ci, start, errCrossSlot)
		return
	}
	if t.conn == nil {
		if t.srv != nil {
			// The connection broke since the last WATCH: those keys are
			// no longer watched, so start over.
			t.srv = nil
		}
		reply, errText := s.bind(part, nil, 0, raw)
		if errText != "" {
			s.pinnedError(ci, start, errText)
			return
		}
		t.watching = reply[0] == '+'
		if !t.watching {
			s.release(t.conn)
			t.conn, t.srv = nil, nil
		}
		s.pinnedRaw(ci, start, reply)
		return
	}
	reply, err := s.doOn(t.conn, raw, 0)
	if err != nil {
		s.txBroken(ci, start, err)
		return
	}
	s.pinnedRaw(ci, start, reply)
}

// txUnwatch runs UNWATCH outside MULTI.
func (s *Session) txUnwatch(ci *command.Info, start int64) {
	s.txAbandon()
	s.txEnd()
	s.pinnedReply(ci, start, resp.AppendSimple(s.wbuf, "OK"))
}

// bind pins a dedicated connection to the server of part and sends pre
// (when not nil: MULTI and the commands queued before the binding, whose
// last reply comes after preSkip others) and wire, following MOVED and
// waiting out ASK and TRYAGAIN in cluster mode: nothing has run on the
// shard yet, so the binding may still move. A pre opens a transaction,
// which a redirect leaves flagged on the shard (it is discarded before
// moving on). On success the transaction is bound and the reply to wire
// returned, or the first error among pre's replies.
func (s *Session) bind(part int, pre []byte, preSkip int, wire []byte) ([]byte, string) {
	opened := pre != nil
	for n := 0; ; n++ {
		srv := s.topo.server(part, multiInfo, s.hint)
		if srv == nil {
			s.topo.refresh()
			return nil, errSlotDown
		}
		d, err := s.pin(srv)
		if err != nil {
			return nil, "ERR " + err.Error()
		}
		var reply []byte
		var berr *backend.Error
		if opened {
			reply, berr = s.doPair(d, pre, preSkip, wire)
		} else {
			reply, berr = s.doOn(d, wire, 0)
		}
		if berr != nil {
			s.unpin(d)
			return nil, "ERR " + berr.Error()
		}
		kind, slot, addr := redirectNone, 0, ""
		if s.redir != nil {
			kind, slot, addr = parseRedirect(reply)
		}
		if kind == redirectNone {
			s.txs().part, s.txs().srv, s.txs().conn = part, srv, d
			return reply, ""
		}
		if opened {
			if r, err := s.doOn(d, discardWire, 0); err != nil || len(r) == 0 || r[0] != '+' {
				s.unpin(d)
			} else {
				s.release(d)
			}
		} else {
			s.release(d)
		}
		if n >= s.p.cfg.MaxRedirects {
			return nil, "ERR too many cluster redirections for one command"
		}
		if kind != redirectMoved {
			// ASK: the slot is migrating, and a transaction cannot follow
			// its keys to two nodes; wait for the move to finish.
			time.Sleep(time.Duration(n+1) * 20 * time.Millisecond)
		}
		s.redirected(kind, slot, addr)
	}
}

// redirected updates the slot map after a MOVED (counting the redirect).
func (s *Session) redirected(kind redirect, slot int, addr string) {
	if s.redir == nil {
		return
	}
	switch kind {
	case redirectMoved:
		s.p.m.RedirectMoved.Inc()
		s.redir.moved(slot, s.nodeAddr(addr))
	case redirectAsk:
		s.p.m.RedirectAsk.Inc()
	}
}

// nodeAddr completes the ":port" address a node that does not know its
// own IP sends with the host of the seeds.
func (s *Session) nodeAddr(addr string) string {
	if addr == "" || addr[0] != ':' {
		return addr
	}
	for _, srv := range s.topo.shards() {
		if host, _, err := net.SplitHostPort(srv.Addr()); err == nil {
			return net.JoinHostPort(host, addr[1:])
		}
	}
	return addr
}

// doOn sends wire on d and returns the reply of its last command (after
// skip others; an error among them is returned instead).
func (s *Session) doOn(d *backend.Dedicated, wire []byte, skip int) ([]byte, *backend.Error) {
	r := s.pinReq()
	r.Wire, r.Skip = wire, skip
	err := d.Do(r)
	r.Release() // the reply is copied out before the next use
	r.Wire = nil
	return r.Reply, err
}

// doPair sends pre and wire on d in one write, each as a request of its
// own (wire is not copied), and returns the first error among pre's
// replies (after preSkip others), else wire's reply: what doOn of the two
// joined, with Skip preSkip+1, would return.
func (s *Session) doPair(d *backend.Dedicated, pre []byte, preSkip int, wire []byte) ([]byte, *backend.Error) {
	if s.txs().preReq == nil {
		s.txs().preReq = backend.NewRequest()
	}
	p, r := s.txs().preReq, s.pinReq()
	p.Reset()
	p.Wire, p.Skip = pre, preSkip
	r.Wire = wire
	err := d.DoAll([]*backend.Request{p, r})
	p.Wire, r.Wire = nil, nil
	if err != nil {
		return nil, err
	}
	if len(p.Reply) > 0 && p.Reply[0] == '-' {
		return p.Reply, nil
	}
	return r.Reply, nil
}

// pinReq returns the session's request for dedicated connections.
func (s *Session) pinReq() *backend.Request {
	if s.txs().req == nil {
		s.txs().req = backend.NewRequest()
	}
	r := s.txs().req
	r.Reset()
	return r
}

// txs returns the session's transaction state, made on first use: most
// clients never take the pinned path, and an idle client should not carry
// it.
func (s *Session) txs() *txState {
	if s.tx == nil {
		s.tx = &txState{}
	}
	return s.tx
}
