package command

import (
	"math"

	"github.com/shardproxy/shardproxy/resp"
)

// Key extraction: where the keys of a call are, found as Redis 7.0 finds
// them (db.c), through the key specs of the table or the command's own
// getkeys function.

// AppendKeyIndexes appends to dst the position in args of every key of the
// call, as Redis 7.0 finds them for routing (db.c getKeysFromCommandWithSpecs):
// through the key specs, or through the command's own getkeys function when
// the specs fail for these arguments or are incomplete. args must have passed
// Lookup. It does not allocate when dst has room.
//
// The returned error text is set only when the proxy answers for Redis: EVAL
// and EVAL_RO with an invalid numkeys get Redis's own reply. Otherwise a call
// in which Redis would find no key (EVAL with numkeys 0, or malformed key
// arguments) yields no positions and ""; sent to any one backend, it gets
// Redis's own reply, result or error.
func (ci *Info) AppendKeyIndexes(dst []int, args [][]byte) ([]int, string) {
	if ci.simpleKey > 0 {
		// Fast path: one key at a fixed position (GET, SET, HSET, ...).
		if ci.simpleKey < len(args) {
			dst = append(dst, ci.simpleKey)
		}
		return dst, ""
	}
	if ci.keysProc == keysNumkeysAt2 && (ci.name == "eval" || ci.name == "eval_ro") {
		if msg := evalNumkeysError(args); msg != "" {
			return dst, msg
		}
	}
	return ci.appendKeys(dst, nil, args), ""
}

// evalNumkeysError is EVAL's reply to an invalid numkeys, or "".
func evalNumkeysError(args [][]byte) string {
	if len(args) < 3 {
		return ""
	}
	n, ok := resp.ParseInt(args[2])
	switch {
	case !ok:
		return "ERR value is not an integer or out of range"
	case n < 0:
		return "ERR Number of keys can't be negative"
	case n > int64(len(args)-3):
		return "ERR Number of keys can't be greater than number of args"
	}
	return ""
}

// appendKeys is AppendKeyIndexes without the fast path; if fl is not nil it
// also receives each key's flags (COMMAND GETKEYSANDFLAGS).
func (ci *Info) appendKeys(dst []int, fl *[]KeyFlags, args [][]byte) []int {
	var all, missing KeyFlags
	for i := range ci.specs {
		all |= ci.specs[i].flags
		missing |= ^ci.specs[i].flags
	}
	hasSpec := missing&KeyNotKey != 0 // a spec that is not marked not_key
	if hasSpec && all&KeyVariableFlags == 0 {
		n := len(dst)
		var nf int
		if fl != nil {
			nf = len(*fl)
		}
		if out, ok := ci.appendKeysFromSpecs(dst, fl, args); ok {
			return out
		}
		dst = dst[:n]
		if fl != nil {
			*fl = (*fl)[:nf]
		}
	}
	return ci.keysProc.appendKeys(dst, fl, args)
}

// appendKeysFromSpecs is db.c getKeysUsingKeySpecs: false when a spec is
// invalid for these arguments or incomplete.
func (ci *Info) appendKeysFromSpecs(dst []int, fl *[]KeyFlags, args [][]byte) ([]int, bool) {
	argc := len(args)
	for si := range ci.specs {
		sp := &ci.specs[si]
		if sp.flags&KeyNotKey != 0 {
			continue
		}
		if sp.unknown {
			return dst, false
		}
		first := 0
		if sp.keyword == "" {
			first = sp.begin
		} else {
			// The keyword is searched forwards from startfrom up to the last
			// argument but one, or backwards from argc+startfrom (negative
			// startfrom) down to argument 2; startfrom 0 searches nothing
			// (db.c). The keys start after it.
			if sp.begin > 0 {
				for i := sp.begin; i < argc-1; i++ {
					if equalFoldString(args[i], sp.keyword) {
						first = i + 1
						break
					}
				}
			} else if sp.begin < 0 {
				for i := argc + sp.begin; i > 1; i-- {
					if equalFoldString(args[i], sp.keyword) {
						first = i + 1
						break
					}
				}
			}
			if first == 0 {
				continue // keyword absent: this spec has no keys
			}
		}
		var last, step int
		if !sp.keynum {
			step = sp.keyStep
			switch {
			case sp.lastKey >= 0:
				last = first + sp.lastKey
			case sp.limit == 0:
				last = argc + sp.lastKey
			default:
				last = first + ((argc-first)/sp.limit + sp.lastKey)
			}
		} else {
			step = sp.keyStep
			if first+sp.keynumIdx >= argc {
				return dst, false
			}
			n, ok := resp.ParseInt(args[first+sp.keynumIdx])
			if !ok || n < 1 {
				// Redis refuses a negative numkeys here, and numkeys 0
				// fails the range check below (last < first).
				return dst, false
			}
			first += sp.firstKey
			// Redis converts numkeys to a C int; mirror the truncation.
			last = first + int(int32(n)) - 1
		}
		// Redis also refuses first >= argc, which these two imply.
		if last >= argc || last < first {
			return dst, false
		}
		for i := first; i <= last; i += step {
			dst = append(dst, i)
			if fl != nil {
				*fl = append(*fl, sp.flags)
			}
		}
		if sp.flags&KeyIncomplete != 0 {
			return dst, false
		}
	}
	return dst, true
}

// appendKeys runs Redis's getkeys function p (db.c).
func (p keysProc) appendKeys(dst []int, fl *[]KeyFlags, args [][]byte) []int {
	add := func(pos int, f KeyFlags) {
		if pos >= len(args) {
			return // only without the arity check Lookup makes
		}
		dst = append(dst, pos)
		if fl != nil {
			*fl = append(*fl, f)
		}
	}
	argc := len(args)
	switch p {
	case keysNumkeysAt1:
		return genericKeys(dst, fl, args, 0, 1, 2)
	case keysNumkeysAt2:
		return genericKeys(dst, fl, args, 0, 2, 3)
	case keysStoreNumkeys:
		return genericKeys(dst, fl, args, 1, 2, 3)
	case keysSortRO:
		add(1, KeyRO|KeyAccess)
	case keysSort:
		add(1, KeyRO|KeyAccess)
		store := 0
		for i := 2; i < argc; i++ {
			switch {
			case equalFold(args[i], "limit"):
				i += 2
			case equalFold(args[i], "store") && i+1 < argc:
				store = i + 1 // the last STORE wins, as in SORT itself
			case equalFold(args[i], "get"), equalFold(args[i], "by"):
				i++
			}
		}
		if store > 0 {
			add(store, KeyOW|KeyUpdate)
		}
	case keysMigrate:
		// The key at 3, or with KEYS the arguments after it.
		first, end := 3, 4
	scan:
		for i := 6; i < argc; i++ {
			switch {
			case equalFold(args[i], "keys"):
				if len(args[3]) > 0 {
					end = first // a key and KEYS: MIGRATE replies a syntax error
				} else {
					first, end = i+1, argc
				}
				break scan
			case equalFold(args[i], "auth"):
				i++
			case equalFold(args[i], "auth2"):
				i += 2
			}
		}
		for i := first; i < end; i++ {
			add(i, KeyRW|KeyAccess|KeyDelete)
		}
	case keysXread:
		streams := 0 // the position of STREAMS; 0: none
	opts:
		for i := 1; i < argc; i++ {
			switch {
			case equalFold(args[i], "block"), equalFold(args[i], "count"):
				i++
			case equalFold(args[i], "group"):
				i += 2
			case equalFold(args[i], "noack"):
			case equalFold(args[i], "streams"):
				streams = i
				break opts
			default:
				break opts
			}
		}
		num := argc - streams - 1
		if streams == 0 || num == 0 || num%2 != 0 {
			return dst
		}
		for i := streams + 1; i < argc-num/2; i++ {
			add(i, 0)
		}
	case keysSet:
		f := KeyOW | KeyUpdate
		for _, a := range args[min(3, argc):] {
			if equalFold(cString(a, len(a)), "get") {
				f = KeyRW | KeyAccess | KeyUpdate
				break
			}
		}
		add(1, f)
	case keysBitfield:
		readonly := true
	ops:
		for i := 2; i < argc; i++ {
			rem := argc - i - 1
			switch {
			case equalFold(args[i], "get") && rem >= 2:
				i += 2
			case (equalFold(args[i], "set") || equalFold(args[i], "incrby")) && rem >= 3:
				readonly = false
				break ops
			case equalFold(args[i], "overflow") && rem >= 1:
				i++
			default:
				readonly = false // a syntax error: assume a write
				break ops
			}
		}
		if readonly {
			add(1, KeyRO|KeyAccess)
		} else {
			add(1, KeyRW|KeyAccess|KeyUpdate)
		}
	}
	return dst
}

// genericKeys is db.c genericGetKeys: numkeys (parsed with C's atoi) at
// countAt, keys from firstAt, then the destination storeAt if not 0.
func genericKeys(dst []int, fl *[]KeyFlags, args [][]byte, storeAt, countAt, firstAt int) []int {
	if countAt >= len(args) {
		return dst
	}
	num := atoi(args[countAt])
	if num < 1 || num > len(args)-firstAt {
		return dst
	}
	for i := 0; i < num; i++ {
		dst = append(dst, firstAt+i)
	}
	if storeAt > 0 {
		dst = append(dst, storeAt)
		num++
	}
	if fl != nil {
		for i := 0; i < num; i++ {
			*fl = append(*fl, 0)
		}
	}
	return dst
}

// equalFoldString is strcasecmp(b, s) == 0 for a keyword of any case.
func equalFoldString(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// atoi is C's atoi on a NUL-terminated copy of b: leading white space, an
// optional sign, then digits up to the first other byte; 0 if none. Values
// beyond the int32 range are clamped to -2^31 and 2^31 (C leaves them
// undefined).
func atoi(b []byte) int {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] >= '\t' && b[i] <= '\r') {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	var n int64
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		n = min(n*10+int64(b[i]-'0'), 1<<31)
	}
	if neg {
		n = -n
	}
	return int(min(n, math.MaxInt)) // 2^31 is MaxInt32 where an int is 32 bits
}
