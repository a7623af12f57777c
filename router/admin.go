package router

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"github.com/shardproxy/shardproxy/resp"
)

// Admin commands fanned out to every shard: CONFIG SET and RESETSTAT,
// SLOWLOG GET/LEN/RESET, SCRIPT KILL and FUNCTION KILL, LATENCY and MEMORY
// diagnostics. The pool denies them by default (config.DefaultDenyCommands);
// allow_commands enables them and the ACL users say who may run them.
// CONFIG GET is fanned out too (admin_config.go) but allowed by default:
// redis-benchmark and monitoring tools ask it.

// fanoutExtra is the merge-specific value of a fan-out item: SLOWLOG GET's
// count (Redis's default 10; -1 for every entry).
func fanoutExtra(op mergeOp, args [][]byte) int {
	if op != opSlow {
		return 0
	}
	if len(args) > 2 {
		if n, ok := resp.ParseInt(args[2]); ok && n >= -1 && n <= 1<<31 {
			return int(n)
		}
	}
	return 10
}

// mergeAdmin merges the replies of an admin fan-out (no request failed).
func (s *Session) mergeAdmin(it *item, reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	var errs []int // requests that got an error reply
	for j, r := range reqs {
		if len(r.Reply) > 0 && r.Reply[0] == '-' {
			errs = append(errs, j)
		}
	}
	switch it.op {
	case opAny:
		// One shard ran the script: it is killed. Else every shard's
		// NOTBUSY is Redis's answer; another error (UNKILLABLE) wins.
		if len(errs) < len(reqs) {
			s.out = resp.AppendSimple(s.out, "OK")
			return s.out[lo:], resultOK
		}
		for _, j := range errs {
			if !strings.HasPrefix(string(reqs[j].Reply), "-NOTBUSY") {
				return s.shardError(it, reqs, j, len(errs))
			}
		}
		s.out = append(s.out, reqs[0].Reply...)
		return s.out[lo:], resultError
	case opEach:
		if len(errs) > 0 {
			return s.shardError(it, reqs, errs[0], len(errs))
		}
		s.out = resp.AppendSimple(s.out, "OK")
		return s.out[lo:], resultOK
	}
	if len(errs) > 0 {
		return s.shardError(it, reqs, errs[0], len(errs))
	}
	switch it.op {
	case opConfig:
		return s.mergeConfig(it, reqs)
	case opLatest:
		return s.mergeLatest(it, reqs)
	case opHistory:
		return s.mergeHistory(it, reqs)
	case opShards:
		return s.mergeShards(it, reqs)
	}
	return s.mergeSlow(it, reqs)
}

// shardError is the error reply of backend j, naming it and how many of
// the backends refused: the others applied the command.
func (s *Session) shardError(it *item, reqs []*backendRequest, j, refused int) ([]byte, result) {
	lo := len(s.out)
	msg := strings.TrimSuffix(string(reqs[j].Reply[1:]), "\r\n")
	s.out = resp.AppendError(s.out, msg+" (backend "+s.shardName(it, j)+"; "+strconv.Itoa(refused)+" of "+
		strconv.Itoa(len(reqs))+" backends refused)")
	return s.out[lo:], resultError
}

// slowlogEntry is one SLOWLOG GET entry of one shard.
type slowlogEntry struct {
	fields [][]byte // id, time, duration, arguments, client address, client name
	shard  int
}

// mergeSlow merges SLOWLOG GET replies: newest first (by time, then by
// id), at most the requested count, each entry's client name replaced by
// its shard's name (the client at the shard is always the proxy).
func (s *Session) mergeSlow(it *item, reqs []*backendRequest) ([]byte, result) {
	lo := len(s.out)
	var entries []slowlogEntry
	for j, r := range reqs {
		list, ok := resp.ArrayElems(nil, r.Reply)
		if !ok {
			s.out = resp.AppendError(s.out, "ERR unexpected reply from a backend to '"+it.ci.Name()+"'")
			return s.out[lo:], resultProxyError
		}
		for _, e := range list {
			fields, ok := resp.ArrayElems(nil, e)
			if !ok || len(fields) < 6 {
				s.out = resp.AppendError(s.out, "ERR unexpected reply from a backend to '"+it.ci.Name()+"'")
				return s.out[lo:], resultProxyError
			}
			entries = append(entries, slowlogEntry{fields: fields, shard: j})
		}
	}
	slices.SortStableFunc(entries, func(a, b slowlogEntry) int {
		ta, _ := resp.IntValue(a.fields[1])
		tb, _ := resp.IntValue(b.fields[1])
		if c := cmp.Compare(tb, ta); c != 0 {
			return c
		}
		ia, _ := resp.IntValue(a.fields[0])
		ib, _ := resp.IntValue(b.fields[0])
		return cmp.Compare(ib, ia)
	})
	if n := it.extra; n >= 0 && n < len(entries) {
		entries = entries[:n]
	}
	s.out = resp.AppendArrayHeader(s.out, len(entries))
	for _, e := range entries {
		s.out = resp.AppendArrayHeader(s.out, len(e.fields))
		for _, f := range e.fields[:5] {
			s.out = append(s.out, f...)
		}
		s.out = resp.AppendBulkString(s.out, s.shardName(it, e.shard))
		for _, f := range e.fields[6:] {
			s.out = append(s.out, f...)
		}
	}
	return s.out[lo:], resultOK
}
