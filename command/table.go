package command

import "strings"

//go:generate go run ./internal/cmdgen -out commands_gen.go

// This file holds the types of the table and the lookups the session uses on
// every command; they do not allocate except to build error texts.

// Class is how the proxy handles a command (DESIGN.md, "Command semantics").
type Class uint8

const (
	ClassSingle    Class = iota // one key: route by it
	ClassSplit                  // MGET, MSET, DEL, ...: split by shard, merge (merge, step)
	ClassSameShard              // several keys: all must map to one shard
	ClassFanout                 // keyless, sent to every shard and merged (merge)
	ClassLocal                  // answered by the proxy
	ClassPinned                 // needs a pinned backend connection; not supported yet
	ClassRefused                // never forwarded (reason)
)

var classNames = [...]string{"single", "split", "same-shard", "fanout", "local", "pinned", "refused"}

// String returns the class name used in tests and logs.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "invalid"
}

// Merge says how the replies of a split or fanned-out command become one.
type Merge uint8

const (
	MergeNone    Merge = iota
	MergeArray         // MGET: the elements back in key order
	MergeOK            // MSET, FLUSHALL, SCRIPT FLUSH: +OK once every part said OK
	MergeSum           // DEL, EXISTS, DBSIZE: integers added
	MergeConcat        // KEYS: arrays concatenated
	MergeRandom        // RANDOMKEY: any non-nil reply
	MergeSame          // SCRIPT LOAD, FUNCTION LOAD/LIST/DUMP: every shard must reply the same
	MergeAnd           // SCRIPT EXISTS: element-wise logical and
	MergeScan          // SCAN: composite cursor over the shards
	MergeEach          // CONFIG SET, CONFIG RESETSTAT, SLOWLOG RESET: +OK once every shard said OK
	MergeSlow          // SLOWLOG GET: every shard's entries, newest first, tagged with the shard
	MergeAny           // SCRIPT KILL, FUNCTION KILL: +OK if any shard killed one
	MergeConfig        // CONFIG GET: the shards' parameters, the proxy's own where it has them
	MergeLatest        // LATENCY LATEST: every shard's events, each name tagged with its shard
	MergeHistory       // LATENCY HISTORY: every shard's samples, by time
	MergeShards        // LATENCY DOCTOR/GRAPH/HISTOGRAM, MEMORY STATS/DOCTOR/MALLOC-STATS: each shard's reply under its name
)

// Flags are Redis's command flags (COMMAND INFO, element 3).
type Flags uint32

const (
	FlagWrite Flags = 1 << iota
	FlagReadonly
	FlagDenyOOM
	FlagModule
	FlagAdmin
	FlagPubSub
	FlagNoScript
	FlagBlocking
	FlagLoading
	FlagStale
	FlagSkipMonitor
	FlagSkipSlowlog
	FlagAsking
	FlagFast
	FlagNoAuth
	FlagMayReplicate
	FlagSentinel
	FlagOnlySentinel
	FlagNoMandatoryKeys
	FlagProtected
	FlagModuleNoCluster
	FlagNoMulti
	FlagMovableKeys
	FlagAllowBusy
	FlagNoAsyncLoading
)

// cmdFlagNames are the Redis names of the Flags bits, in bit order.
var cmdFlagNames = [...]string{
	"write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript",
	"blocking", "loading", "stale", "skip_monitor", "skip_slowlog", "asking",
	"fast", "no_auth", "may_replicate", "sentinel", "only_sentinel",
	"no_mandatory_keys", "protected", "module_no_cluster", "no_multi",
	"movablekeys", "allow_busy", "no_async_loading",
}

// ACLCategories are Redis's ACL categories of a command.
type ACLCategories uint32

const (
	ACLKeyspace ACLCategories = 1 << iota
	ACLRead
	ACLWrite
	ACLSet
	ACLSortedSet
	ACLList
	ACLHash
	ACLString
	ACLBitmap
	ACLHyperLogLog
	ACLGeo
	ACLStream
	ACLPubSub
	ACLAdmin
	ACLFast
	ACLSlow
	ACLBlocking
	ACLDangerous
	ACLConnection
	ACLTransaction
	ACLScripting
)

// aclCategoryNames are the Redis names of the ACLCategories bits, in bit order.
var aclCategoryNames = [...]string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
	"bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
	"blocking", "dangerous", "connection", "transaction", "scripting",
}

// KeyFlags are the flags of a key spec, and of a key found through it.
type KeyFlags uint16

const (
	KeyRO KeyFlags = 1 << iota
	KeyRW
	KeyOW
	KeyRM
	KeyAccess
	KeyUpdate
	KeyInsert
	KeyDelete
	KeyNotKey
	KeyIncomplete
	KeyVariableFlags
)

// keyFlagNames are the Redis names of the KeyFlags bits, in bit order (which is
// the order COMMAND GETKEYSANDFLAGS prints them in).
var keyFlagNames = [...]string{
	"RO", "RW", "OW", "RM", "access", "update", "insert", "delete",
	"not_key", "incomplete", "variable_flags",
}

// keySpec is one Redis 7 key spec: where the keys of a command start
// (begin_search) and how many follow (find_keys).
type keySpec struct {
	flags   KeyFlags
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
	keysXread                 // XREAD[GROUP]: the first half after STREAMS
	keysSet                   // SET: the key (flags depend on GET)
	keysBitfield              // BITFIELD: the key (flags depend on the operations)
)

// span is a [lo, hi) byte range of embedded reply data.
type span struct{ lo, hi int32 }

// Info is one entry of the command table. Entries live in the
// generated table and are read-only; the session holds pointers to them.
type Info struct {
	name      string // lowercase; "parent|sub" for subcommands
	index     int    // dense 0..Count-1, for metrics
	arity     int    // Redis arity: n exactly, -n at least n (command name included)
	parent    int    // index of the container, -1 for a top-level command
	container bool   // has subcommands, resolved from args[1]
	redis     bool   // known to Redis 7.0 (false: proxy-only, hidden from COMMAND)
	flags     Flags
	acl       ACLCategories

	firstKey, lastKey, keyStep int // legacy (first, last, step) of COMMAND INFO
	specs                      []keySpec
	keysProc                   keysProc
	hasKeys                    bool // Redis's doesCommandHaveKeys
	simpleKey                  int  // > 0: the only key is always at this position

	class       Class
	merge       Merge  // ClassSplit, ClassFanout
	step        int    // ClassSplit: arguments per key (MSET 2)
	reason      string // ClassPinned, ClassRefused: why
	reply       string // ClassPinned, ClassRefused: the error reply (no '-', no CRLF)
	blockOption bool   // XREAD[GROUP]: ClassPinned when called with BLOCK
	blockReply  string // the error reply for a call with BLOCK

	info, docs, help span // raw RESP2 in infoData, docsData, helpData
}

// Name returns the lowercase name: "get", or "parent|sub" for a subcommand.
func (ci *Info) Name() string { return ci.name }

// Index returns the dense index of the entry, below Count (metrics).
func (ci *Info) Index() int { return ci.index }

// Flags returns Redis's command flags (COMMAND INFO).
func (ci *Info) Flags() Flags { return ci.flags }

// ACL returns Redis's ACL categories of the command.
func (ci *Info) ACL() ACLCategories { return ci.acl }

// Class returns the class of the command regardless of its arguments; the
// session uses Classify, which refines it per call.
func (ci *Info) Class() Class { return ci.class }

// Merge returns how the replies of a ClassSplit or ClassFanout command
// become one (MergeNone for the other classes).
func (ci *Info) Merge() Merge { return ci.merge }

// Step returns the arguments per key of a ClassSplit command (MSET: 2, DEL:
// 1), 0 for the other classes.
func (ci *Info) Step() int { return ci.step }

// Redis reports whether Redis 7.0 knows the command; false for proxy-only
// entries (CLIENT SETINFO), which COMMAND does not list.
func (ci *Info) Redis() bool { return ci.redis }

// HasKeys reports whether the command can have key arguments (Redis's
// doesCommandHaveKeys).
func (ci *Info) HasKeys() bool { return ci.hasKeys }

// Names returns the names of all entries, by index (metrics labels). It
// returns a new slice on every call.
func Names() []string {
	names := make([]string, Count)
	for i := range table {
		names[i] = table[i].name
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

// Find resolves args as Redis's lookupCommand does: the command named by
// args[0] (case-insensitively) or, for a container called with a further
// argument, its subcommand named by args[1]. It returns nil for an unknown
// name. It does not allocate.
func Find(args [][]byte) *Info {
	if len(args) == 0 {
		return nil
	}
	var arr [maxCommandName]byte // room for the longest name, lowercased
	buf, ok := lowerInto(arr[:0], args[0])
	if !ok {
		return nil
	}
	// Indexing a map with string(bytes) does not allocate.
	ci := byName[string(buf)]
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
	sub := byName[string(buf)]
	if sub == nil || sub.parent != ci.index {
		return nil
	}
	return sub
}

// ArityOK reports whether argc arguments (the name included) satisfy the arity.
func (ci *Info) ArityOK(argc int) bool {
	return !(ci.arity > 0 && ci.arity != argc || argc < -ci.arity)
}

// Lookup resolves a command for the session. On success it returns the
// entry and "". Otherwise it returns nil and the error reply Redis 7.0 gives
// (without '-' and CRLF): unknown command, unknown subcommand or wrong number
// of arguments (also for MSET with a key and no value). args must hold at
// least the command name. It does not allocate unless it fails.
func Lookup(args [][]byte) (*Info, string) {
	ci := Find(args)
	if ci == nil {
		// Find fails on a known name only for a container called with an
		// unknown subcommand (args[1]).
		if Find(args[:min(1, len(args))]) != nil {
			return nil, unknownSubcommandError(args[0], args[1])
		}
		return nil, unknownCommandError(args)
	}
	if !ci.ArityOK(len(args)) || ci.step > 0 && len(args[1:])%ci.step != 0 {
		return nil, "ERR wrong number of arguments for '" + ci.name + "' command"
	}
	return ci, ""
}

// cString returns b up to its first NUL and at most max bytes: what C's
// "%.*s" prints of an argument.
func cString(b []byte, max int) []byte {
	b = b[:min(len(b), max)]
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
	if len(args) != 0 {
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

// Classify returns the class of this call and, for ClassPinned and
// ClassRefused, the error reply (without '-' and CRLF). It differs from
// ci.class only for XREAD and XREADGROUP: pinned with BLOCK, same-shard
// otherwise.
func (ci *Info) Classify(args [][]byte) (Class, string) {
	if ci.blockOption && hasBlockOption(args) {
		return ClassPinned, ci.blockReply
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
func (ci *Info) infoRESP() string { return infoData[ci.info.lo:ci.info.hi] }

// docsRESP returns the raw RESP2 name and COMMAND DOCS map of the command.
func (ci *Info) docsRESP() string { return docsData[ci.docs.lo:ci.docs.hi] }

// HelpReply returns Redis's raw RESP2 reply to a container's HELP subcommand
// (on the "x|help" entry; "" elsewhere).
func (ci *Info) HelpReply() string { return helpData[ci.help.lo:ci.help.hi] }
