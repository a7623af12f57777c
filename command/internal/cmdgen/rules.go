package main

// This file is the proxy's policy for every Redis command, in one readable table.
// Commands with keys need no entry: a command whose key specs can only name one
// key is ClassSingle, any other keyed command is ClassSameShard. Every keyless
// command must be listed (the generator fails otherwise), so that a new Redis
// release cannot slip a command through without a decision.

// rule is the proxy's decision for one command.
type rule struct {
	class  string // a Class identifier of package router
	merge  string // a Merge identifier, for ClassSplit and ClassFanout
	step   int    // ClassSplit: arguments per key (MSET: 2)
	reason string // ClassPinned, ClassRefused: why, shown to the client
	// blockOption marks XREAD/XREADGROUP: ClassSameShard unless the call has a
	// BLOCK option, which makes it ClassPinned.
	blockOption bool
}

func local() rule                { return rule{class: "ClassLocal"} }
func fanout(merge string) rule   { return rule{class: "ClassFanout", merge: merge} }
func pinned(reason string) rule  { return rule{class: "ClassPinned", reason: reason} }
func refused(reason string) rule { return rule{class: "ClassRefused", reason: reason} }
func split(merge string, step int) rule {
	return rule{class: "ClassSplit", merge: merge, step: step}
}

// Reasons shared by several commands.
const (
	whyTx        = "transactions need a pinned backend connection"
	whyBlocking  = "blocking commands need a pinned backend connection"
	whyPubSub    = "pub/sub needs a pinned backend connection"
	whyConnState = "it changes per-connection state of one backend connection"
	whyAdmin     = "it administers one backend server; connect to that server directly"
	whyRepl      = "replication is managed per backend server, not through the proxy"
	whyCluster   = "cluster commands are answered by the backends, not the proxy"
	whyDB        = "the proxy serves database 0 only"
	whyACL       = "ACLs are configured per backend server"
	whyClients   = "the clients of a backend are the proxy's pooled connections"
	whyScriptRun = "a running script or function belongs to one backend server"
)

// proxyRules returns the rule for every command that needs one. A key "x|*"
// covers every subcommand of container x without its own entry; every "x|help"
// without its own entry is ClassLocal (answered with Redis's help text).
func proxyRules() map[string]rule {
	return map[string]rule{
		// Answered by the proxy itself.
		"ping":           local(),
		"echo":           local(),
		"quit":           local(),
		"select":         local(),
		"hello":          local(),
		"auth":           local(), // the pool's users (requirepass, users)
		"acl|whoami":     local(),
		"acl|cat":        local(),
		"acl|list":       local(),
		"acl|users":      local(),
		"time":           local(),
		"info":           local(),
		"command":        local(),
		"command|*":      local(),
		"client|setname": local(),
		"client|getname": local(),
		"client|id":      local(),
		"client|info":    local(),
		"client|list":    local(), // the proxy's own clients
		"client|kill":    local(),
		"client|unblock": local(),
		"client|setinfo": local(), // proxy-only entry, see extraCommands

		// Every shard, replies merged.
		"flushall":         fanout("MergeOK"),
		"flushdb":          fanout("MergeOK"),
		"dbsize":           fanout("MergeSum"),
		"keys":             fanout("MergeConcat"),
		"scan":             fanout("MergeScan"),
		"randomkey":        fanout("MergeRandom"),
		"script|load":      fanout("MergeSame"),
		"script|exists":    fanout("MergeAnd"),
		"script|flush":     fanout("MergeOK"),
		"function|load":    fanout("MergeSame"),
		"function|delete":  fanout("MergeOK"),
		"function|flush":   fanout("MergeOK"),
		"function|restore": fanout("MergeOK"),
		"function|list":    fanout("MergeSame"),
		"function|dump":    fanout("MergeSame"),
		"function|stats":   fanout("MergeSame"),

		// Admin commands, every shard; denied by default (deny_commands).
		"config|get":          fanout("MergeConfig"),
		"config|set":          fanout("MergeEach"),
		"config|resetstat":    fanout("MergeEach"),
		"slowlog|get":         fanout("MergeSlow"),
		"slowlog|len":         fanout("MergeSum"),
		"slowlog|reset":       fanout("MergeEach"),
		"script|kill":         fanout("MergeAny"),
		"function|kill":       fanout("MergeAny"),
		"latency|latest":      fanout("MergeLatest"),
		"latency|history":     fanout("MergeHistory"),
		"latency|reset":       fanout("MergeSum"),
		"latency|doctor":      fanout("MergeShards"),
		"latency|graph":       fanout("MergeShards"),
		"latency|histogram":   fanout("MergeShards"),
		"memory|doctor":       fanout("MergeShards"),
		"memory|stats":        fanout("MergeShards"),
		"memory|malloc-stats": fanout("MergeShards"),
		"memory|purge":        fanout("MergeEach"),

		// Split by shard and merged.
		"mget":   split("MergeArray", 1),
		"mset":   split("MergeOK", 2),
		"del":    split("MergeSum", 1),
		"unlink": split("MergeSum", 1),
		"exists": split("MergeSum", 1),
		"touch":  split("MergeSum", 1),

		// Same shard, but blocking when called with BLOCK.
		"xread":      {class: "ClassSameShard", blockOption: true, reason: whyBlocking},
		"xreadgroup": {class: "ClassSameShard", blockOption: true, reason: whyBlocking},

		// Need per-client state on one backend connection.
		"multi":               pinned(whyTx),
		"exec":                pinned(whyTx),
		"discard":             pinned(whyTx),
		"watch":               pinned(whyTx),
		"unwatch":             pinned(whyTx),
		"blpop":               pinned(whyBlocking),
		"brpop":               pinned(whyBlocking),
		"brpoplpush":          pinned(whyBlocking),
		"blmove":              pinned(whyBlocking),
		"blmpop":              pinned(whyBlocking),
		"bzpopmin":            pinned(whyBlocking),
		"bzpopmax":            pinned(whyBlocking),
		"bzmpop":              pinned(whyBlocking),
		"wait":                pinned(whyBlocking),
		"subscribe":           pinned(whyPubSub),
		"psubscribe":          pinned(whyPubSub),
		"ssubscribe":          pinned(whyPubSub),
		"unsubscribe":         pinned(whyPubSub),
		"punsubscribe":        pinned(whyPubSub),
		"sunsubscribe":        pinned(whyPubSub),
		"publish":             pinned(whyPubSub),
		"spublish":            pinned(whyPubSub),
		"pubsub|*":            pinned(whyPubSub),
		"reset":               pinned(whyConnState),
		"client|reply":        pinned(whyConnState),
		"client|no-evict":     pinned(whyConnState),
		"client|tracking":     local(), // router/tracking.go
		"client|trackinginfo": local(),
		"client|caching":      local(),
		"client|getredir":     local(),

		// Refused: meaningless or dangerous through a sharding proxy.
		"shutdown":       refused(whyAdmin),
		"debug":          refused(whyAdmin),
		"monitor":        refused("MONITOR would watch one backend, not the proxy"),
		"config|rewrite": refused(whyAdmin),
		"save":           refused(whyAdmin),
		"bgsave":         refused(whyAdmin),
		"bgrewriteaof":   refused(whyAdmin),
		"lastsave":       refused(whyAdmin),
		"module|*":       refused(whyAdmin),
		"lolwut":         refused(whyAdmin),
		"pfdebug":        refused(whyAdmin),
		"pfselftest":     refused(whyAdmin),
		"acl|*":          refused(whyACL),
		"client|pause":   refused(whyClients),
		"client|unpause": refused(whyClients),
		"script|debug":   refused(whyScriptRun),
		"replicaof":      refused(whyRepl),
		"slaveof":        refused(whyRepl),
		"sync":           refused(whyRepl),
		"psync":          refused(whyRepl),
		"replconf":       refused(whyRepl),
		"role":           refused(whyRepl),
		"failover":       refused(whyRepl),
		"migrate":        refused("keys are placed by the proxy, not moved between servers"),
		"restore-asking": refused(whyCluster),
		"move":           refused(whyDB),
		"swapdb":         refused(whyDB),
		"cluster|*":      refused(whyCluster),
		"cluster|help":   refused(whyCluster),
		"asking":         refused(whyCluster),
		"readonly":       refused(whyCluster),
		"readwrite":      refused(whyCluster),
	}
}

// extraCommand is a command the proxy accepts although Redis 7.0 does not know
// it. It is never listed by COMMAND, COMMAND INFO/DOCS/LIST/COUNT.
type extraCommand struct {
	name  string
	arity int
	flags []string
	acl   []string
}

// extraCommands returns the proxy-only commands. CLIENT SETINFO is Redis 7.2's;
// go-redis v9 and other current clients send it on every new connection.
func extraCommands() []extraCommand {
	return []extraCommand{
		{name: "client|setinfo", arity: 4, flags: []string{"noscript", "loading", "stale"}, acl: []string{"@slow", "@connection"}},
	}
}

// nativeKeyProcs names, per command, Redis's own getkeys function (db.c). Redis
// uses it when the key specs fail for a call (or carry incomplete or variable
// flags), so key extraction must know it too. GEORADIUS and GEORADIUSBYMEMBER
// have one in Redis (georadiusGetKeys) that no call reaches: their key specs
// (the key at 1, STORE and STOREDIST searched up to the last argument but one,
// the key after the keyword) never fail on a call of valid arity.
func nativeKeyProcs() map[string]string {
	return map[string]string{
		"sort":        "keysSort",
		"sort_ro":     "keysSortRO",
		"migrate":     "keysMigrate",
		"eval":        "keysNumkeysAt2",
		"evalsha":     "keysNumkeysAt2",
		"eval_ro":     "keysNumkeysAt2",
		"evalsha_ro":  "keysNumkeysAt2",
		"fcall":       "keysNumkeysAt2",
		"fcall_ro":    "keysNumkeysAt2",
		"zunionstore": "keysStoreNumkeys",
		"zinterstore": "keysStoreNumkeys",
		"zdiffstore":  "keysStoreNumkeys",
		"zunion":      "keysNumkeysAt1",
		"zinter":      "keysNumkeysAt1",
		"zdiff":       "keysNumkeysAt1",
		"zintercard":  "keysNumkeysAt1",
		"sintercard":  "keysNumkeysAt1",
		"lmpop":       "keysNumkeysAt1",
		"zmpop":       "keysNumkeysAt1",
		"blmpop":      "keysNumkeysAt2",
		"bzmpop":      "keysNumkeysAt2",
		"xread":       "keysXread",
		"xreadgroup":  "keysXread",
		"set":         "keysSet",
		"bitfield":    "keysBitfield",
	}
}
