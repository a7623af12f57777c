package router

import (
	"math/bits"
	"strconv"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// SCAN through the proxy walks the servers one after the other. The cursor
// the client sees packs the server index into its low bits and that server's
// own cursor above them:
//
//	cursor = serverCursor<<b | serverIndex,  b = bits needed for the indexes
//
// Cursor 0 starts at server 0; when a server's walk ends the proxy answers
// with the next server's index and cursor 0, and 0 after the last server.
// Redis cursors are reversed bucket indexes far below 2^(64-b), so nothing
// is lost; a cursor that would overflow is reported as an error. In cluster
// mode the shards are the masters sorted by address; a scan that spans a
// topology change may repeat or miss keys, as SCAN may during a rehash.

func scanBits(n int) uint { return uint(bits.Len(uint(n - 1))) }

func (s *Session) addScan(ci *command.Info, args [][]byte, start int64) {
	cur, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		s.errorItem(ci, start, "ERR invalid cursor")
		return
	}
	all := s.topo.shards()
	if len(all) == 0 {
		s.proxyErrorItem(ci, start, errSlotDown)
		return
	}
	b := scanBits(len(all))
	srv := int(cur & (1<<b - 1))
	if srv >= len(all) {
		s.errorItem(ci, start, "ERR invalid cursor")
		return
	}
	r, idx := s.request()
	w := resp.AppendArrayHeader(r.Buf[:0], len(args))
	w = resp.AppendBulk(w, args[0])
	var num [20]byte
	w = resp.AppendBulk(w, strconv.AppendUint(num[:0], cur>>b, 10))
	for _, a := range args[2:] {
		w = resp.AppendBulk(w, a)
	}
	r.Wire, r.Buf = w, w
	s.send(all[srv], r, idx)
	s.items = append(s.items, item{kind: itemMerge, ci: ci, first: idx, n: 1, op: opScan, extra: srv, extra2: len(all), start: start})
}

func (s *Session) mergeScan(it *item, r *backendRequest) ([]byte, result) {
	lo := len(s.out)
	if len(r.Reply) > 0 && r.Reply[0] == '-' {
		s.out = append(s.out, r.Reply...)
		return s.out[lo:], resultError
	}
	s.elems = s.elems[:0]
	var ok bool
	s.elems, ok = resp.ArrayElems(s.elems, r.Reply)
	var cb []byte
	if ok && len(s.elems) == 2 {
		cb, ok = resp.BulkValue(s.elems[0])
	}
	if !ok || len(s.elems) != 2 {
		s.out = resp.AppendError(s.out, "ERR unexpected reply from a backend to 'scan'")
		return s.out[lo:], resultProxyError
	}
	cur, err := strconv.ParseUint(string(cb), 10, 64)
	b := scanBits(it.extra2)
	if err != nil || (b > 0 && cur>>(64-b) != 0) {
		s.out = resp.AppendError(s.out, "ERR backend cursor out of the proxy's range")
		return s.out[lo:], resultProxyError
	}
	var next uint64
	switch {
	case cur != 0:
		next = cur<<b | uint64(it.extra)
	case it.extra+1 < it.extra2:
		next = uint64(it.extra + 1)
	}
	s.out = resp.AppendArrayHeader(s.out, 2)
	s.out = resp.AppendBulkString(s.out, strconv.FormatUint(next, 10))
	s.out = append(s.out, s.elems[1]...)
	return s.out[lo:], resultOK
}
