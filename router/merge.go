package router

import (
	"bytes"
	"slices"

	"github.com/shardproxy/shardproxy/command"
	"github.com/shardproxy/shardproxy/resp"
)

// mergeOp says how the replies of an item's requests become one reply.
type mergeOp uint8

const (
	opArray   mergeOp = iota // MGET: elements back in key order
	opOK                     // MSET, FLUSHALL, SCRIPT FLUSH: +OK when all say OK
	opSum                    // DEL, EXISTS, DBSIZE: integers added
	opConcat                 // KEYS: arrays concatenated
	opRandom                 // RANDOMKEY: the first non-nil reply
	opSame                   // SCRIPT LOAD: every shard must agree
	opAnd                    // SCRIPT EXISTS: 1 only where every shard says 1
	opScan                   // SCAN: see scan.go
	opInfo                   // INFO: local sections plus keyspace of every shard
	opEach                   // admin: +OK when every shard says OK (admin.go)
	opSlow                   // SLOWLOG GET (admin.go)
	opAny                    // SCRIPT KILL, FUNCTION KILL (admin.go)
	opConfig                 // CONFIG GET (admin.go)
	opLatest                 // LATENCY LATEST (admin.go)
	opHistory                // LATENCY HISTORY (admin.go)
	opShards                 // each shard's reply under its name (admin.go)
)

// result classifies a reply for metrics and INFO.
type result uint8

const (
	resultOK         result = iota
	resultError             // a Redis error reply
	resultProxyError        // unavailable, timeout, CROSSSLOT, refused
)

func replyResult(b []byte) result {
	if len(b) > 0 && b[0] == '-' {
		return resultError
	}
	return resultOK
}

// opOf returns the merge of a split or fan-out command.
func opOf(k command.Merge) (mergeOp, bool) {
	switch k {
	case command.MergeArray:
		return opArray, true
	case command.MergeOK:
		return opOK, true
	case command.MergeSum:
		return opSum, true
	case command.MergeConcat:
		return opConcat, true
	case command.MergeRandom:
		return opRandom, true
	case command.MergeSame:
		return opSame, true
	case command.MergeAnd:
		return opAnd, true
	case command.MergeScan:
		return opScan, true
	case command.MergeEach:
		return opEach, true
	case command.MergeSlow:
		return opSlow, true
	case command.MergeAny:
		return opAny, true
	case command.MergeConfig:
		return opConfig, true
	case command.MergeLatest:
		return opLatest, true
	case command.MergeHistory:
		return opHistory, true
	case command.MergeShards:
		return opShards, true
	}
	return 0, false
}

// merge builds the reply of an itemMerge into s.out and returns it.
func (s *Session) merge(it *item) ([]byte, result) {
	lo := len(s.out)
	reqs := s.reqs[it.first : it.first+it.n]
	// A request that got no reply fails the whole command: a partial
	// answer would be silently wrong.
	for _, r := range reqs {
		if r.Err != nil && it.op != opInfo { // INFO reports missing shards itself
			s.out = resp.AppendError(s.out, "ERR "+r.Err.Error())
			return s.out[lo:], resultProxyError
		}
	}
	if it.op >= opEach {
		return s.mergeAdmin(it, reqs)
	}
	if it.op != opRandom && it.op != opScan && it.op != opInfo {
		for _, r := range reqs {
			if len(r.Reply) > 0 && r.Reply[0] == '-' {
				s.out = append(s.out, r.Reply...)
				return s.out[lo:], resultError
			}
		}
	}
	ok := true
	switch it.op {
	case opArray:
		ok = s.mergeArray(it, reqs)
	case opOK:
		s.out = resp.AppendSimple(s.out, "OK")
	case opSum:
		var sum int64
		for _, r := range reqs {
			n, good := resp.IntValue(r.Reply)
			ok = ok && good
			sum += n
		}
		s.out = resp.AppendInt(s.out, sum)
	case opConcat:
		total := 0
		s.elems = s.elems[:0]
		for _, r := range reqs {
			var good bool
			s.elems, good = resp.ArrayElems(s.elems, r.Reply)
			ok = ok && good
		}
		total = len(s.elems)
		s.out = resp.AppendArrayHeader(s.out, total)
		for _, e := range s.elems {
			s.out = append(s.out, e...)
		}
	case opRandom:
		return s.mergeRandom(reqs)
	case opSame:
		for _, r := range reqs[1:] {
			if !bytes.Equal(r.Reply, reqs[0].Reply) {
				s.out = resp.AppendError(s.out, "ERR shards returned different replies to '"+it.ci.Name()+"'")
				return s.out[lo:], resultProxyError
			}
		}
		s.out = append(s.out, reqs[0].Reply...)
	case opAnd:
		ok = s.mergeAnd(reqs)
	case opScan:
		return s.mergeScan(it, reqs[0])
	case opInfo:
		return s.mergeInfo(it, reqs)
	}
	if !ok {
		s.out = resp.AppendError(s.out[:lo], "ERR unexpected reply from a backend to '"+it.ci.Name()+"'")
		return s.out[lo:], resultProxyError
	}
	return s.out[lo:], resultOK
}

// mergeArray puts MGET's per-server elements back in key order.
func (s *Session) mergeArray(it *item, reqs []*backendRequest) bool {
	next, ok := s.arrayElems(it, reqs)
	if !ok {
		return false
	}
	s.out = resp.AppendArrayHeader(s.out, len(it.route))
	for _, j := range it.route {
		s.out = append(s.out, s.elems[next[j]]...)
		next[j]++
	}
	return true
}

// arrayElems collects the elements of MGET's sub-replies in s.elems, one
// sub-reply after the other, and returns next: next[j] is the index in
// s.elems of sub-reply j's first element. It reports false when a
// sub-reply is not an array of as many elements as it owes.
func (s *Session) arrayElems(it *item, reqs []*backendRequest) (next []int, ok bool) {
	// want[j] is how many elements sub-reply j owes.
	s.counts = slices.Grow(s.counts[:0], len(reqs))[:len(reqs)]
	s.want = slices.Grow(s.want[:0], len(reqs))[:len(reqs)]
	next, want := s.counts, s.want
	clear(want)
	for _, j := range it.route {
		want[j]++
	}
	s.elems = s.elems[:0]
	for j, r := range reqs {
		next[j] = len(s.elems)
		var good bool
		s.elems, good = resp.ArrayElems(s.elems, r.Reply)
		if !good || len(s.elems)-next[j] != want[j] {
			return nil, false
		}
	}
	return next, true
}

func (s *Session) mergeRandom(reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	n := len(reqs)
	start := int(nanotime() % int64(n))
	var firstErr []byte
	for i := 0; i < n; i++ {
		r := reqs[(start+i)%n]
		if len(r.Reply) > 0 && r.Reply[0] == '-' {
			if firstErr == nil {
				firstErr = r.Reply
			}
			continue
		}
		if _, ok := resp.BulkValue(r.Reply); ok {
			s.out = append(s.out, r.Reply...)
			return s.out[lo:], resultOK
		}
	}
	if firstErr != nil {
		s.out = append(s.out, firstErr...)
		return s.out[lo:], resultError
	}
	s.out = resp.AppendNull(s.out)
	return s.out[lo:], resultOK
}

func (s *Session) mergeAnd(reqs []*backendRequest) bool {
	s.elems = s.elems[:0]
	var good bool
	s.elems, good = resp.ArrayElems(s.elems, reqs[0].Reply)
	if !good {
		return false
	}
	n := len(s.elems)
	and := make([]bool, n)
	for i, e := range s.elems {
		v, _ := resp.IntValue(e)
		and[i] = v == 1
	}
	for _, r := range reqs[1:] {
		s.elems = s.elems[:0]
		s.elems, good = resp.ArrayElems(s.elems, r.Reply)
		if !good || len(s.elems) != n {
			return false
		}
		for i, e := range s.elems {
			v, _ := resp.IntValue(e)
			and[i] = and[i] && v == 1
		}
	}
	s.out = resp.AppendArrayHeader(s.out, n)
	for _, v := range and {
		if v {
			s.out = resp.AppendInt(s.out, 1)
		} else {
			s.out = resp.AppendInt(s.out, 0)
		}
	}
	return true
}
