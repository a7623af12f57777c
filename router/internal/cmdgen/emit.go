package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Go identifiers of package router for the names Redis uses. The order is
// irrelevant here; an unknown name fails generation so that a new Redis flag
// gets a deliberate constant in cmdtable.go.
var (
	commandFlagIdents = map[string]string{
		"write": "flagWrite", "readonly": "flagReadonly", "denyoom": "flagDenyOOM",
		"module": "flagModule", "admin": "flagAdmin", "pubsub": "flagPubSub",
		"noscript": "flagNoScript", "blocking": "flagBlocking", "loading": "flagLoading",
		"stale": "flagStale", "skip_monitor": "flagSkipMonitor", "skip_slowlog": "flagSkipSlowlog",
		"asking": "flagAsking", "fast": "flagFast", "no_auth": "flagNoAuth",
		"may_replicate": "flagMayReplicate", "sentinel": "flagSentinel",
		"only_sentinel": "flagOnlySentinel", "no_mandatory_keys": "flagNoMandatoryKeys",
		"protected": "flagProtected", "module_no_cluster": "flagModuleNoCluster",
		"no_multi": "flagNoMulti", "no_async_loading": "flagNoAsyncLoading", "movablekeys": "flagMovableKeys", "allow_busy": "flagAllowBusy",
	}
	aclIdents = map[string]string{
		"@keyspace": "aclKeyspace", "@read": "aclRead", "@write": "aclWrite", "@set": "aclSet",
		"@sortedset": "aclSortedSet", "@list": "aclList", "@hash": "aclHash", "@string": "aclString",
		"@bitmap": "aclBitmap", "@hyperloglog": "aclHyperLogLog", "@geo": "aclGeo",
		"@stream": "aclStream", "@pubsub": "aclPubSub", "@admin": "aclAdmin", "@fast": "aclFast",
		"@slow": "aclSlow", "@blocking": "aclBlocking", "@dangerous": "aclDangerous",
		"@connection": "aclConnection", "@transaction": "aclTransaction", "@scripting": "aclScripting",
	}
	keyFlagIdents = map[string]string{
		"RO": "keyRO", "RW": "keyRW", "OW": "keyOW", "RM": "keyRM", "access": "keyAccess",
		"update": "keyUpdate", "insert": "keyInsert", "delete": "keyDelete", "not_key": "keyNotKey",
		"incomplete": "keyIncomplete", "variable_flags": "keyVariableFlags",
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
func (t *table) classify() error {
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
			e.rule = rule{class: "classSingle"}
		case e.hasKeys:
			e.rule = rule{class: "classSameShard"}
		default:
			fail("%s: keyless command without a rule in proxyRules", e.name)
			continue
		}
		switch e.rule.class {
		case "classSingle", "classSameShard", "classSplit":
			if !e.hasKeys {
				fail("%s: keyless command cannot be %s", e.name, e.rule.class)
			}
		case "classLocal", "classFanout":
			if e.hasKeys {
				fail("%s: command with keys cannot be %s", e.name, e.rule.class)
			}
		}
		if e.rule.class == "classSplit" {
			if len(e.specs) != 1 || e.specs[0].keyStep != e.rule.step || e.specs[0].lastKey != -1 || e.rule.merge == "" {
				fail("%s: split rule (step %d) does not match its key spec %+v", e.name, e.rule.step, e.specs)
			}
		}
		if e.rule.class == "classLocal" && e.parent != nil && e.name == e.parent.name+"|help" && e.helpEnd == 0 {
			fail("%s: local help without help text from the server", e.name)
		}
		if e.rule.class == "classFanout" && e.rule.merge == "" {
			fail("%s: fan-out without merge kind", e.name)
		}
		if has(e.flags, "blocking") && e.rule.class != "classPinned" && !e.rule.blockOption {
			fail("%s: blocking command must be classPinned", e.name)
		}
		if (e.rule.class == "classPinned" || e.rule.class == "classRefused" || e.rule.blockOption) && e.rule.reason == "" {
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
			return "", fmt.Errorf("unknown %s %q: add a constant to cmdtable.go and the generator", what, n)
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
	case r.class == "classPinned":
		return fmt.Sprintf("ERR command '%s' is not supported by the proxy yet: %s", name, r.reason)
	case r.class == "classRefused":
		return fmt.Sprintf("ERR command '%s' is not supported by the proxy: %s", name, r.reason)
	}
	return ""
}

func (t *table) emit() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by router/internal/cmdgen from redis-server %s (COMMAND, COMMAND DOCS, HELP). DO NOT EDIT.\n\n", t.version)
	b.WriteString("package router\n\nimport _ \"embed\"\n\n")
	fmt.Fprintf(&b, "// commandTableVersion is the version of the redis-server the table was generated from.\nconst commandTableVersion = %q\n\n", t.version)
	fmt.Fprintf(&b, "// commandCount is the number of entries of commandTable: Redis's commands, their\n// subcommands and the proxy-only commands. commandInfo.index is below it.\nconst commandCount = %d\n\n", len(t.entries))
	fmt.Fprintf(&b, "// redisCommandCount is Redis's COMMAND COUNT: its top-level commands.\nconst redisCommandCount = %d\n\n", t.top)
	fmt.Fprintf(&b, "// commandInfoData holds every top-level COMMAND INFO entry (RESP2), sorted by name.\n//\n//go:embed %s\nvar commandInfoData string\n\n", infoFile)
	fmt.Fprintf(&b, "// commandDocsData holds every top-level COMMAND DOCS name and value (RESP2), sorted by name.\n//\n//go:embed %s\nvar commandDocsData string\n\n", docsFile)
	fmt.Fprintf(&b, "// commandHelpData holds the reply of every container's HELP subcommand.\n//\n//go:embed %s\nvar commandHelpData string\n\n", helpFile)
	b.WriteString("// commandTable is the command table, in index order: top-level commands sorted by\n// name, each followed by its subcommands, then proxy-only commands. Read-only.\n")
	fmt.Fprintf(&b, "var commandTable = [commandCount]commandInfo{\n")
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
	b.WriteString("// commandsByName maps the lowercase full name of every entry (\"get\",\n// \"script|load\") to it. Read-only.\n")
	b.WriteString("var commandsByName = map[string]*commandInfo{\n")
	for _, e := range t.entries {
		fmt.Fprintf(&b, "\t%q: &commandTable[%d],\n", e.name, e.index)
	}
	b.WriteString("}\n")
	return gofmt(&b)
}
