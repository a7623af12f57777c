package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Go identifiers of package command for the names Redis uses. The order is
// irrelevant here; an unknown name fails generation so that a new Redis flag
// gets a deliberate constant in table.go.
var (
	commandFlagIdents = map[string]string{
		"write": "FlagWrite", "readonly": "FlagReadonly", "denyoom": "FlagDenyOOM",
		"module": "FlagModule", "admin": "FlagAdmin", "pubsub": "FlagPubSub",
		"noscript": "FlagNoScript", "blocking": "FlagBlocking", "loading": "FlagLoading",
		"stale": "FlagStale", "skip_monitor": "FlagSkipMonitor", "skip_slowlog": "FlagSkipSlowlog",
		"asking": "FlagAsking", "fast": "FlagFast", "no_auth": "FlagNoAuth",
		"may_replicate": "FlagMayReplicate", "sentinel": "FlagSentinel",
		"only_sentinel": "FlagOnlySentinel", "no_mandatory_keys": "FlagNoMandatoryKeys",
		"protected": "FlagProtected", "module_no_cluster": "FlagModuleNoCluster",
		"no_multi": "FlagNoMulti", "no_async_loading": "FlagNoAsyncLoading", "movablekeys": "FlagMovableKeys", "allow_busy": "FlagAllowBusy",
	}
	aclIdents = map[string]string{
		"@keyspace": "ACLKeyspace", "@read": "ACLRead", "@write": "ACLWrite", "@set": "ACLSet",
		"@sortedset": "ACLSortedSet", "@list": "ACLList", "@hash": "ACLHash", "@string": "ACLString",
		"@bitmap": "ACLBitmap", "@hyperloglog": "ACLHyperLogLog", "@geo": "ACLGeo",
		"@stream": "ACLStream", "@pubsub": "ACLPubSub", "@admin": "ACLAdmin", "@fast": "ACLFast",
		"@slow": "ACLSlow", "@blocking": "ACLBlocking", "@dangerous": "ACLDangerous",
		"@connection": "ACLConnection", "@transaction": "ACLTransaction", "@scripting": "ACLScripting",
	}
	keyFlagIdents = map[string]string{
		"RO": "KeyRO", "RW": "KeyRW", "OW": "KeyOW", "RM": "KeyRM", "access": "KeyAccess",
		"update": "KeyUpdate", "insert": "KeyInsert", "delete": "KeyDelete", "not_key": "KeyNotKey",
		"incomplete": "KeyIncomplete", "variable_flags": "KeyVariableFlags",
	}
)

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// classify gives every entry its class from proxyRules, or from its key specs.
func (t *table) Classify() error {
	rules := proxyRules()
	procs := nativeKeyProcs()
	used := map[string]bool{}
	var errs []string
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	for _, e := range t.entries {
		if p, ok := procs[e.name]; ok {
			e.keysProc = p
			used["proc:"+e.name] = true
		}
		var keySpecs []spec
		for _, s := range e.specs {
			if !has(s.flags, "not_key") {
				keySpecs = append(keySpecs, s)
			}
		}
		e.hasKeys = e.keysProc != "" || len(keySpecs) > 0
		if e.keysProc == "keysSortRO" {
			// Its second spec ("unknown": BY/GET patterns) names no argument;
			// Redis always resolves SORT_RO to the one key at 1.
			e.simpleKey = 1
		} else if len(keySpecs) == 1 {
			s := keySpecs[0]
			simpleProc := e.keysProc == "" || (s.begin == 1 && (e.keysProc == "keysSet" || e.keysProc == "keysBitfield" || e.keysProc == "keysSortRO"))
			if !s.unknown && s.keyword == "" && !s.keynum && s.lastKey == 0 && !has(s.flags, "incomplete") && simpleProc {
				e.simpleKey = s.begin
			}
		}

		r, ok := rules[e.name]
		key := e.name
		if !ok && e.parent != nil && e.name == e.parent.name+"|help" {
			r, ok, key = local(), true, ""
		}
		if !ok && e.parent != nil {
			key = e.parent.name + "|*"
			r, ok = rules[key]
		}
		if ok {
			used[key] = true
		}
		switch {
		case len(e.subs) > 0 && e.arity <= -2:
			// Looked up alone, such a container always fails its arity check
			// (COMMAND, arity -1, is the exception and has a rule).
			if ok && key == e.name {
				fail("%s: container needing a subcommand takes no rule; give its subcommands rules", e.name)
			}
			e.rule = refused("a subcommand is required")
			continue
		case ok:
			e.rule = r
		case e.hasKeys && e.simpleKey > 0:
			e.rule = rule{class: "ClassSingle"}
		case e.hasKeys:
			e.rule = rule{class: "ClassSameShard"}
		default:
			fail("%s: keyless command without a rule in proxyRules", e.name)
			continue
		}
		switch e.rule.class {
		case "ClassSingle", "ClassSameShard", "ClassSplit":
			if !e.hasKeys {
				fail("%s: keyless command cannot be %s", e.name, e.rule.class)
			}
		case "ClassLocal", "ClassFanout":
			if e.hasKeys {
				fail("%s: command with keys cannot be %s", e.name, e.rule.class)
			}
		}
		if e.rule.class == "ClassSplit" {
			if len(e.specs) != 1 || e.specs[0].keyStep != e.rule.step || e.specs[0].lastKey != -1 || e.rule.merge == "" {
				fail("%s: split rule (step %d) does not match its key spec %+v", e.name, e.rule.step, e.specs)
			}
		}
		if e.rule.class == "ClassLocal" && e.parent != nil && e.name == e.parent.name+"|help" && e.helpEnd == 0 {
			fail("%s: local help without help text from the server", e.name)
		}
		if e.rule.class == "ClassFanout" && e.rule.merge == "" {
			fail("%s: fan-out without merge kind", e.name)
		}
		if has(e.flags, "blocking") && e.rule.class != "ClassPinned" && !e.rule.blockOption {
			fail("%s: blocking command must be ClassPinned", e.name)
		}
		if (e.rule.class == "ClassPinned" || e.rule.class == "ClassRefused" || e.rule.blockOption) && e.rule.reason == "" {
			fail("%s: %s needs a reason", e.name, e.rule.class)
		}
	}
	for k := range rules {
		if !used[k] {
			fail("rule %q matches no command", k)
		}
	}
	for k := range procs {
		if !used["proc:"+k] {
			fail("native key procedure for unknown command %q", k)
		}
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("command rules:\n\t%s", strings.Join(errs, "\n\t"))
	}
	return nil
}

func bitmask(names []string, idents map[string]string, what string) (string, error) {
	if len(names) == 0 {
		return "0", nil
	}
	var parts []string
	for _, n := range names {
		id, ok := idents[n]
		if !ok {
			return "", fmt.Errorf("unknown %s %q: add a constant to table.go and the generator", what, n)
		}
		parts = append(parts, id)
	}
	return strings.Join(parts, " | "), nil
}

// errorText is the error reply (without '-' and CRLF) for an unsupported class.
func errorText(name string, r rule, blocking bool) string {
	switch {
	case blocking:
		return fmt.Sprintf("ERR command '%s' with BLOCK is not supported by the proxy yet: %s", name, r.reason)
	case r.class == "ClassPinned":
		return fmt.Sprintf("ERR command '%s' is not supported by the proxy yet: %s", name, r.reason)
	case r.class == "ClassRefused":
		return fmt.Sprintf("ERR command '%s' is not supported by the proxy: %s", name, r.reason)
	}
	return ""
}

func (t *table) emit() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by command/internal/cmdgen from the dumps of redis-server %s (COMMAND, COMMAND DOCS, HELP). DO NOT EDIT.\n\n", t.version)
	b.WriteString("package command\n\nimport _ \"embed\"\n\n")
	fmt.Fprintf(&b, "// RedisVersion is the version of the redis-server the table was generated from.\nconst RedisVersion = %q\n\n", t.version)
	fmt.Fprintf(&b, "// Count is the number of entries of table: Redis's commands, their\n// subcommands and the proxy-only commands. Every Info.Index is below it.\nconst Count = %d\n\n", len(t.entries))
	fmt.Fprintf(&b, "// redisCount is Redis's COMMAND COUNT: its top-level commands.\nconst redisCount = %d\n\n", t.top)
	longest := 0
	for _, e := range t.entries {
		longest = max(longest, len(e.name))
	}
	fmt.Fprintf(&b, "// maxCommandName is the length of the longest name (\"parent|sub\" for a\n// subcommand): a longer argument cannot name a command.\nconst maxCommandName = %d\n\n", longest)
	fmt.Fprintf(&b, "// infoData holds every top-level COMMAND INFO entry (RESP2), sorted by name.\n//\n//go:embed %s\nvar infoData string\n\n", infoFile)
	fmt.Fprintf(&b, "// docsData holds every top-level COMMAND DOCS name and value (RESP2), sorted by name.\n//\n//go:embed %s\nvar docsData string\n\n", docsFile)
	fmt.Fprintf(&b, "// helpData holds, per container, its name and the reply of its HELP subcommand.\n//\n//go:embed %s\nvar helpData string\n\n", helpFile)
	b.WriteString("// table is the command table, in index order: top-level commands sorted by\n// name, each followed by its subcommands, then proxy-only commands. Read-only.\n")
	fmt.Fprintf(&b, "var table = [Count]Info{\n")
	for _, e := range t.entries {
		flags, err := bitmask(e.flags, commandFlagIdents, "command flag")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		acl, err := bitmask(e.acl, aclIdents, "ACL category")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		parent := -1
		if e.parent != nil {
			parent = e.parent.index
		}
		fmt.Fprintf(&b, "\t{name: %q, index: %d, arity: %d, parent: %d,", e.name, e.index, e.arity, parent)
		if flags != "0" {
			fmt.Fprintf(&b, " flags: %s,", flags)
		}
		if acl != "0" {
			fmt.Fprintf(&b, " acl: %s,", acl)
		}
		b.WriteString("\n")
		if e.first != 0 || e.last != 0 || e.stp != 0 {
			fmt.Fprintf(&b, "\t\tfirstKey: %d, lastKey: %d, keyStep: %d,\n", e.first, e.last, e.stp)
		}
		if len(e.subs) > 0 {
			b.WriteString("\t\tcontainer: true,\n")
		}
		if len(e.specs) > 0 {
			b.WriteString("\t\tspecs: []keySpec{\n")
			for _, s := range e.specs {
				kf, err := bitmask(s.flags, keyFlagIdents, "key spec flag")
				if err != nil {
					return nil, fmt.Errorf("%s: %w", e.name, err)
				}
				fields := []string{"flags: " + kf}
				add := func(cond bool, format string, v any) {
					if cond {
						fields = append(fields, fmt.Sprintf(format, v))
					}
				}
				add(s.unknown, "unknown: %v", true)
				add(s.keyword != "", "keyword: %q", s.keyword)
				add(s.begin != 0, "begin: %d", s.begin)
				add(s.keynum, "keynum: %v", true)
				add(s.lastKey != 0, "lastKey: %d", s.lastKey)
				add(s.limit != 0, "limit: %d", s.limit)
				add(s.keynumIdx != 0, "keynumIdx: %d", s.keynumIdx)
				add(s.firstKey != 0, "firstKey: %d", s.firstKey)
				add(s.keyStep != 0, "keyStep: %d", s.keyStep)
				fmt.Fprintf(&b, "\t\t\t{%s},\n", strings.Join(fields, ", "))
			}
			b.WriteString("\t\t},\n")
		}
		if e.keysProc != "" {
			fmt.Fprintf(&b, "\t\tkeysProc: %s,\n", e.keysProc)
		}
		if e.hasKeys {
			fmt.Fprintf(&b, "\t\thasKeys: true, simpleKey: %d,\n", e.simpleKey)
		}
		fmt.Fprintf(&b, "\t\tclass: %s,", e.rule.class)
		if e.rule.merge != "" {
			fmt.Fprintf(&b, " merge: %s,", e.rule.merge)
		}
		if e.rule.step != 0 {
			fmt.Fprintf(&b, " step: %d,", e.rule.step)
		}
		b.WriteString("\n")
		if e.rule.reason != "" {
			fmt.Fprintf(&b, "\t\treason: %q,\n", e.rule.reason)
		}
		if txt := errorText(e.name, e.rule, false); txt != "" {
			fmt.Fprintf(&b, "\t\treply: %q,\n", txt)
		}
		if e.rule.blockOption {
			fmt.Fprintf(&b, "\t\tblockOption: true, blockReply: %q,\n", errorText(e.name, e.rule, true))
		}
		if e.redis {
			fmt.Fprintf(&b, "\t\tredis: true, info: span{%d, %d}, docs: span{%d, %d},", e.infoOff, e.infoEnd, e.docsOff, e.docsEnd)
		}
		if e.helpEnd > 0 {
			fmt.Fprintf(&b, " help: span{%d, %d},", e.helpOff, e.helpEnd)
		}
		b.WriteString("\n\t},\n")
	}
	b.WriteString("}\n\n")
	b.WriteString("// byName maps the lowercase full name of every entry (\"get\",\n// \"script|load\") to it. Read-only.\n")
	b.WriteString("var byName = map[string]*Info{\n")
	for _, e := range t.entries {
		fmt.Fprintf(&b, "\t%q: &table[%d],\n", e.name, e.index)
	}
	b.WriteString("}\n")
	return gofmt(&b)
}
