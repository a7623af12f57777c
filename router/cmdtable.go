package router

import "strings"

//go:generate go run ./internal/cmdgen -out commands_gen.go

// The command table: every command and subcommand of Redis 7.0, generated from
// a real redis-server by internal/cmdgen into commands_gen.go, each with the
// proxy's class. This file holds the types and the lookups the session uses
// on every command; they do not allocate except to build error texts.

// cmdClass is how the proxy handles a command (DESIGN.md, "Command semantics").
type cmdClass uint8

const (
	classSingle    cmdClass = iota // one key: route by it
	classSplit                     // MGET, MSET, DEL, ...: split by shard, merge (merge, step)
	classSameShard                 // several keys: all must map to one shard
	classFanout                    // keyless, sent to every shard and merged (merge)
	classLocal                     // answered by the proxy
	classPinned                    // needs a pinned backend connection; not supported yet
	classRefused                   // never forwarded (reason)
)

var classNames = [...]string{"single", "split", "same-shard", "fanout", "local", "pinned", "refused"}

// String returns the class name used in tests and logs.
func (c cmdClass) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "invalid"
}

// mergeKind says how the replies of a split or fanned-out command become one.
type mergeKind uint8

const (
	mergeNone   mergeKind = iota
	mergeArray            // MGET: the elements back in key order
	mergeOK               // MSET, FLUSHALL, SCRIPT FLUSH: +OK once every part said OK
	mergeSum              // DEL, EXISTS, DBSIZE: integers added
	mergeConcat           // KEYS: arrays concatenated
	mergeRandom           // RANDOMKEY: any non-nil reply
	mergeSame             // SCRIPT LOAD, FUNCTION LOAD/LIST/DUMP: every shard must reply the same
	mergeAnd              // SCRIPT EXISTS: element-wise logical and
	mergeScan             // SCAN: composite cursor over the shards
	mergeEach             // CONFIG SET, CONFIG RESETSTAT, SLOWLOG RESET: +OK once every shard said OK (admin.go)
	mergeSlow             // SLOWLOG GET: entries of every shard, newest first, tagged with the shard (admin.go)
	mergeAny              // SCRIPT KILL, FUNCTION KILL: +OK if any shard killed one (admin.go)
)

// cmdFlags are Redis's command flags (COMMAND INFO, element 3).
type cmdFlags uint32

const (
	flagWrite cmdFlags = 1 << iota
	flagReadonly
	flagDenyOOM
	flagModule
	flagAdmin
	flagPubSub
	flagNoScript
	flagBlocking
	flagLoading
	flagStale
	flagSkipMonitor
	flagSkipSlowlog
	flagAsking
	flagFast
	flagNoAuth
	flagMayReplicate
	flagSentinel
	flagOnlySentinel
	flagNoMandatoryKeys
	flagProtected
	flagModuleNoCluster
	flagNoMulti
	flagMovableKeys
	flagAllowBusy
	flagNoAsyncLoading
)

// cmdFlagNames are the Redis names of the cmdFlags bits, in bit order.
var cmdFlagNames = [...]string{
	"write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
	"blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
	"fast", "no_auth", "may_replicate", "sentinel", "only_sentinel",
	"no_mandatory_keys", "protected", "module_no_cluster", "no_multi",
	"movablekeys", "allow_busy", "no_async_loading",
}

// aclCategories are Redis's ACL categories of a command.
type aclCategories uint32

const (
	aclKeyspace aclCategories = 1 << iota
	aclRead
	aclWrite
	aclSet
	aclSortedSet
	aclList
	aclHash
	aclString
	aclBitmap
	aclHyperLogLog
	aclGeo
	aclStream
	aclPubSub
	aclAdmin
	aclFast
	aclSlow
	aclBlocking
	aclDangerous
	aclConnection
	aclTransaction
	aclScripting
)

// aclCategoryNames are the Redis names of the aclCategories bits, in bit order.
var aclCategoryNames = [...]string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
	"bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
	"blocking", "dangerous", "connection", "transaction", "scripting",
}

// keyFlags are the flags of a key spec, and of a key found through it.
type keyFlags uint16

const (
	keyRO keyFlags = 1 << iota
	keyRW
	keyOW
	keyRM
	keyAccess
	keyUpdate
	keyInsert
	keyDelete
	keyNotKey
	keyIncomplete
	keyVariableFlags
)

// keyFlagNames are the Redis names of the keyFlags bits, in bit order (which is
// the order COMMAND GETKEYSANDFLAGS prints them in).
var keyFlagNames = [...]string{
	"RO", "RW", "OW", "RM", "access", "update", "insert", "delete",
	"not_key", "incomplete", "variable_flags",
}

// keySpec is one Redis 7 key spec: where the keys of a command start
// (begin_search) and how many follow (find_keys).
type keySpec struct {
	flags   keyFlags
	unknown bool // begin_search or find_keys of type "unknown": the spec never finds keys
	// begin_search: index begin, or the keyword searched from startfrom begin
	// (negative: from the end, backwards).
	keyword string
	begin   int
	// find_keys: range (lastKey relative to the first key, negative: from the
	// end; limit divides what remains) or keynum (keynumIdx relative to the
	// begin position, keys from firstKey after it).
	keynum    bool
	lastKey   int
	limit     int
	keynumIdx int
	firstKey  int
	keyStep   int
}

// keysProc names Redis's own getkeys function of a command (db.c), used when
// its key specs fail or are incomplete.
type keysProc uint8

const (
	keysNone         keysProc = iota
	keysSort                  // SORT: key, plus the last STORE destination
	keysSortRO                // SORT_RO: the key
	keysMigrate               // MIGRATE: the key, or the KEYS list
	keysNumkeysAt1            // ZUNION, SINTERCARD, LMPOP, ...: numkeys at 1, keys from 2
	keysNumkeysAt2            // EVAL, FCALL, BLMPOP, BZMPOP: numkeys at 2, keys from 3
	keysStoreNumkeys          // ZUNIONSTORE, ...: keys from 3, then the destination at 1
	keysGeoradius             // GEORADIUS[BYMEMBER]: key, plus the last STORE/STOREDIST key
	keysXread                 // XREAD[GROUP]: the first half after STREAMS
	keysSet                   // SET: the key (flags depend on GET)
	keysBitfield              // BITFIELD: the key (flags depend on the operations)
)

// span is a [lo, hi) byte range of embedded reply data.
type span struct{ lo, hi int32 }

// commandInfo is one entry of the command table. Entries live in the
// generated commandTable and are read-only; the session holds pointers to them.
type commandInfo struct {
	name      string // lowercase; "parent|sub" for subcommands
	index     int    // dense 0..commandCount-1, for metrics
	arity     int    // Redis arity: n exactly, -n at least n (command name included)
	parent    int    // index of the container, -1 for a top-level command
	container bool   // has subcommands, resolved from args[1]
	redis     bool   // known to Redis 7.0 (false: proxy-only, hidden from COMMAND)
	flags     cmdFlags
	acl       aclCategories

	firstKey, lastKey, keyStep int // legacy (first, last, step) of COMMAND INFO
	specs                      []keySpec
	keysProc                   keysProc
	hasKeys                    bool // Redis's doesCommandHaveKeys
	simpleKey                  int  // > 0: the only key is always at this position

	class       cmdClass
	merge       mergeKind // classSplit, classFanout
	step        int       // classSplit: arguments per key (MSET 2)
	reason      string    // classPinned, classRefused: why
	reply       string    // classPinned, classRefused: the error reply (no '-', no CRLF)
	blockOption bool      // XREAD[GROUP]: classPinned when called with BLOCK
	blockReply  string    // the error reply for a call with BLOCK

	info, docs, help span // raw RESP2 in commandInfoData, commandDocsData, commandHelpData
}

// maxCommandName bounds the lowercase copy of a name; it is longer than every
// "parent|sub" name, so a longer argument cannot name a command.
const maxCommandName = 64

// commandNames returns the names of all entries, by index (metrics labels).
func commandNames() []string {
	names := make([]string, commandCount)
	for i := range commandTable {
		names[i] = commandTable[i].name
	}
	return names
}

// lowerInto writes the ASCII lowercase of b to buf and reports whether it fit.
func lowerInto(buf []byte, b []byte) ([]byte, bool) {
	if len(b) > cap(buf)-len(buf) {
		return buf, false
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	return buf, true
}

// findCommand resolves args as Redis's lookupCommand does: the command named by
// args[0] (case-insensitively) or, for a container called with a further
// argument, its subcommand named by args[1]. It returns nil for an unknown
// name. It does not allocate.
func findCommand(args [][]byte) *commandInfo {
	if len(args) == 0 {
		return nil
	}
	var arr [maxCommandName]byte
	buf, ok := lowerInto(arr[:0], args[0])
	if !ok {
		return nil
	}
	// Indexing a map with string(bytes) does not allocate.
	ci := commandsByName[string(buf)]
	if ci == nil || ci.parent >= 0 {
		return nil
	}
	if !ci.container || len(args) == 1 {
		return ci
	}
	buf = append(buf, '|')
	if buf, ok = lowerInto(buf, args[1]); !ok {
		return nil
	}
	sub := commandsByName[string(buf)]
	if sub == nil || sub.parent != ci.index {
		return nil
	}
	return sub
}

// arityOK reports whether argc arguments (the name included) satisfy the arity.
func (ci *commandInfo) arityOK(argc int) bool {
	return !(ci.arity > 0 && ci.arity != argc || argc < -ci.arity)
}

// lookupCommand resolves a command for the session. On success it returns the
// entry and "". Otherwise it returns nil and the error reply Redis 7.0 gives
// (without '-' and CRLF): unknown command, unknown subcommand or wrong number
// of arguments (also for MSET with a key and no value). args must hold at
// least the command name. It does not allocate unless it fails.
func lookupCommand(args [][]byte) (*commandInfo, string) {
	ci := findCommand(args)
	if ci == nil {
		if len(args) > 1 {
			if parent := findCommand(args[:1]); parent != nil && parent.container {
				return nil, unknownSubcommandError(args[0], args[1])
			}
		}
		return nil, unknownCommandError(args)
	}
	if !ci.arityOK(len(args)) || ci.step > 1 && (len(args)-1)%ci.step != 0 {
		return nil, "ERR wrong number of arguments for '" + ci.name + "' command"
	}
	return ci, ""
}

// cString returns b up to its first NUL and at most max bytes: what C's
// "%.*s" prints of an argument.
func cString(b []byte, max int) []byte {
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// noNewlines replaces CR and LF as Redis does in error replies built from user input.
func noNewlines(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// unknownCommandError is Redis 7.0's reply to an unknown command name.
func unknownCommandError(args [][]byte) string {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	if len(args) > 0 {
		b.Write(cString(args[0], 128))
	}
	b.WriteString("', with args beginning with: ")
	n := 0 // Redis stops once the list of arguments reaches 128 bytes.
	for _, a := range args[min(1, len(args)):] {
		if n >= 128 {
			break
		}
		s := cString(a, 128-n)
		b.WriteByte('\'')
		b.Write(s)
		b.WriteString("' ")
		n += len(s) + 3
	}
	return noNewlines(b.String())
}

// unknownSubcommandError is Redis 7.0's reply to an unknown subcommand.
func unknownSubcommandError(container, sub []byte) string {
	return noNewlines("ERR unknown subcommand '" + string(cString(sub, 128)) +
		"'. Try " + strings.ToUpper(string(cString(container, 128))) + " HELP.")
}

// classify returns the class of this call and, for classPinned and
// classRefused, the error reply (without '-' and CRLF). It differs from
// ci.class only for XREAD and XREADGROUP: pinned with BLOCK, same-shard
// otherwise.
func (ci *commandInfo) classify(args [][]byte) (cmdClass, string) {
	if ci.blockOption && hasBlockOption(args) {
		return classPinned, ci.blockReply
	}
	return ci.class, ci.reply
}

// hasBlockOption reports whether an XREAD/XREADGROUP call has a BLOCK option
// before STREAMS, parsing the options as Redis does.
func hasBlockOption(args [][]byte) bool {
	for i := 1; i < len(args); i++ {
		switch {
		case equalFold(args[i], "block"):
			return true
		case equalFold(args[i], "count"):
			i++
		case equalFold(args[i], "group"):
			i += 2
		case equalFold(args[i], "noack"):
		default: // STREAMS or a syntax error
			return false
		}
	}
	return false
}

// equalFold reports whether b equals the lowercase ASCII word s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// infoRESP returns the raw RESP2 COMMAND INFO entry ("" for proxy-only commands).
func (ci *commandInfo) infoRESP() string { return commandInfoData[ci.info.lo:ci.info.hi] }

// docsRESP returns the raw RESP2 name and COMMAND DOCS map of the command.
func (ci *commandInfo) docsRESP() string { return commandDocsData[ci.docs.lo:ci.docs.hi] }

// helpRESP returns Redis's raw RESP2 reply to a container's HELP subcommand
// (on the "x|help" entry; "" elsewhere).
func (ci *commandInfo) helpRESP() string { return commandHelpData[ci.help.lo:ci.help.hi] }

// appendKeyIndexes appends to dst the position in args of every key of the
// call, as Redis 7.0 finds them for routing (db.c getKeysFromCommandWithSpecs):
// through the key specs, or through the command's own getkeys function when
// the specs fail for these arguments or are incomplete. args must have passed
// lookupCommand. It does not allocate when dst has room.
//
// The returned error text is set only when the proxy answers for Redis: EVAL
// and EVAL_RO with an invalid numkeys get Redis's own reply. Otherwise a call
// in which Redis would find no key (EVAL with numkeys 0, or malformed key
// arguments) yields no positions and ""; sent to any one backend, it gets
// Redis's own reply, result or error.
func (ci *commandInfo) appendKeyIndexes(dst []int, args [][]byte) ([]int, string) {
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
	n, ok := string2ll(args[2])
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

// appendKeys is appendKeyIndexes without the fast path; if fl is not nil it
// also receives each key's flags (COMMAND GETKEYSANDFLAGS).
func (ci *commandInfo) appendKeys(dst []int, fl *[]keyFlags, args [][]byte) []int {
	var all, missing keyFlags
	for i := range ci.specs {
		all |= ci.specs[i].flags
		missing |= ^ci.specs[i].flags
	}
	hasSpec := missing&keyNotKey != 0 // a spec that is not marked not_key
	if hasSpec && all&keyVariableFlags == 0 {
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
func (ci *commandInfo) appendKeysFromSpecs(dst []int, fl *[]keyFlags, args [][]byte) ([]int, bool) {
	argc := len(args)
	for si := range ci.specs {
		sp := &ci.specs[si]
		if sp.flags&keyNotKey != 0 {
			continue
		}
		if sp.unknown {
			return dst, false
		}
		first := 0
		if sp.keyword == "" {
			first = sp.begin
		} else {
			// Search forwards from startfrom, or backwards from the end when
			// it is negative; the keyword found, the keys start after it.
			start, end := sp.begin, argc-1
			if sp.begin <= 0 {
				start, end = argc+sp.begin, 1
			}
			for i := start; i != end; {
				if i >= argc || i < 1 {
					break
				}
				if equalFoldString(args[i], sp.keyword) {
					first = i + 1
					break
				}
				if start <= end {
					i++
				} else {
					i--
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
			n, ok := string2ll(args[first+sp.keynumIdx])
			if !ok || n < 0 {
				return dst, false
			}
			first += sp.firstKey
			// Redis converts numkeys to a C int; mirror the truncation.
			last = first + int(int32(n)) - 1
		}
		if last >= argc || last < first || first >= argc {
			return dst, false
		}
		for i := first; i <= last; i += step {
			dst = append(dst, i)
			if fl != nil {
				*fl = append(*fl, sp.flags)
			}
		}
		if sp.flags&keyIncomplete != 0 {
			return dst, false
		}
	}
	return dst, true
}

// appendKeys runs Redis's getkeys function p (db.c).
func (p keysProc) appendKeys(dst []int, fl *[]keyFlags, args [][]byte) []int {
	add := func(pos int, f keyFlags) {
		if pos >= len(args) {
			return // only without the arity check lookupCommand makes
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
		add(1, keyRO|keyAccess)
	case keysSort:
		add(1, keyRO|keyAccess)
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
			add(store, keyOW|keyUpdate)
		}
	case keysMigrate:
		first, num := 3, 1
		if argc > 6 {
		scan:
			for i := 6; i < argc; i++ {
				switch {
				case equalFold(args[i], "keys"):
					if len(args[3]) > 0 {
						num = 0 // a key and KEYS: MIGRATE replies a syntax error
					} else {
						first, num = i+1, argc-i-1
					}
					break scan
				case equalFold(args[i], "auth"):
					i++
				case equalFold(args[i], "auth2"):
					i += 2
				}
			}
		}
		for i := 0; i < num; i++ {
			add(first+i, keyRW|keyAccess|keyDelete)
		}
	case keysGeoradius:
		stored := -1
		for i := 5; i < argc; i++ {
			if (equalFold(args[i], "store") || equalFold(args[i], "storedist")) && i+1 < argc {
				stored = i + 1
				i++
			}
		}
		add(1, 0)
		if stored > 0 {
			add(stored, 0)
		}
	case keysXread:
		streams := -1
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
		if streams < 0 || num == 0 || num%2 != 0 {
			return dst
		}
		for i := streams + 1; i < argc-num/2; i++ {
			add(i, 0)
		}
	case keysSet:
		f := keyOW | keyUpdate
		for _, a := range args[min(3, argc):] {
			if equalFold(cString(a, len(a)), "get") {
				f = keyRW | keyAccess | keyUpdate
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
			add(1, keyRO|keyAccess)
		} else {
			add(1, keyRW|keyAccess|keyUpdate)
		}
	}
	return dst
}

// genericKeys is db.c genericGetKeys: numkeys (parsed with C's atoi) at
// countAt, keys from firstAt, then the destination storeAt if not 0.
func genericKeys(dst []int, fl *[]keyFlags, args [][]byte, storeAt, countAt, firstAt int) []int {
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

// string2ll parses a decimal integer as Redis's util.c string2ll: no spaces,
// no '+', no leading zeros, at most 20 bytes, within int64.
func string2ll(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) >= 21 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v *= 10
		if v > 1<<64-1-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// atoi is C's atoi on a NUL-terminated copy of b: leading white space, an
// optional sign, then digits up to the first other byte; 0 if none. Values
// beyond the int32 range are clamped (C leaves them undefined).
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
	n := 0
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		if n < 1<<31 {
			n = n*10 + int(b[i]-'0')
		}
	}
	if neg {
		n = -n
	}
	return n
}
