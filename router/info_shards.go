package router

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// INFO sections built from the shards' own (memory, persistence,
// errorstats) or from the proxy process (replication, cpu), merged field by
// field as the field's meaning requires, so that tools reading INFO
// (used_memory, rdb_changes_since_last_save, used_cpu_user, errorstat_*)
// get sensible numbers for the pool as a whole:
//
//   - sizes and counters are summed over the shards (used_memory,
//     rdb_changes_since_last_save, evicted ...), their *_human forms
//     recomputed from the sums;
//   - flags, "in progress" states, ratios and percentages take the worst
//     shard (max), mem_fragmentation_ratio is recomputed from the sums;
//   - rdb_last_save_time takes the oldest shard (min), *_status fields are
//     "ok" only when every shard says ok;
//   - machine-wide or per-shard-identical values (total_system_memory,
//     number_of_cached_scripts, number_of_functions) take the max;
//   - text fields shared by every shard keep their value, else "mixed".
//
// errorstats adds the proxy's own error replies (NOAUTH, NOPERM,
// CROSSSLOT, refused commands, ...) to the shards'. cpu is the proxy
// process's own; commandstats and latencystats are in info_commands.go.

// infoShardsWire asks a shard for every section the proxy merges.
var infoShardsWire = []byte("*5\r\n$4\r\nINFO\r\n$8\r\nkeyspace\r\n$6\r\nmemory\r\n$11\r\npersistence\r\n$10\r\nerrorstats\r\n")

// shardSection is one INFO section of every shard: its fields in the order
// the first shard listed them, and each field's values.
type shardSection struct {
	names  []string
	values map[string][]string
}

// shardSections collects the sections the proxy merges.
type shardSections struct {
	memory, persistence, errorstats shardSection
}

// add records the sections of one shard's INFO reply.
func (ss *shardSections) add(body string) {
	var cur *shardSection
	for _, line := range strings.Split(body, "\r\n") {
		if name, ok := strings.CutPrefix(line, "# "); ok {
			switch name {
			case "Memory":
				cur = &ss.memory
			case "Persistence":
				cur = &ss.persistence
			case "Errorstats":
				cur = &ss.errorstats
			default:
				cur = nil
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || cur == nil {
			continue
		}
		if cur.values == nil {
			cur.values = map[string][]string{}
		}
		if _, seen := cur.values[k]; !seen {
			cur.names = append(cur.names, k)
		}
		cur.values[k] = append(cur.values[k], v)
	}
}

// mergeRule is how one field's values become the pool's.
type mergeRule uint8

const (
	ruleSum mergeRule = iota
	ruleMax
	ruleMin
	ruleOK    // "ok" unless a shard says otherwise
	ruleHuman // the *_human form of the summed field
	ruleSkip
)

// fieldRule returns the rule of a memory or persistence field.
func fieldRule(name string) mergeRule {
	switch {
	case strings.HasSuffix(name, "_human"):
		return ruleHuman
	case name == "mem_fragmentation_ratio":
		return ruleSkip // recomputed
	case strings.HasSuffix(name, "_status"):
		return ruleOK
	case name == "rdb_last_save_time":
		return ruleMin
	case strings.HasSuffix(name, "_ratio"), strings.HasSuffix(name, "_perc"),
		strings.HasSuffix(name, "in_progress"), strings.HasSuffix(name, "_scheduled"),
		strings.HasPrefix(name, "loading"), strings.HasPrefix(name, "async_loading"),
		strings.HasPrefix(name, "current_"), strings.HasSuffix(name, "_time_sec"),
		strings.HasSuffix(name, "_enabled"), strings.HasSuffix(name, "_running"),
		name == "total_system_memory", name == "number_of_cached_scripts",
		name == "number_of_functions", name == "number_of_libraries",
		name == "rdb_last_cow_size", name == "aof_last_cow_size", name == "module_fork_last_cow_size":
		return ruleMax
	}
	return ruleSum
}

// render writes the merged fields of sec.
func (sec *shardSection) render(b *strings.Builder) {
	sums := map[string]float64{}
	for _, name := range sec.names {
		vals := sec.values[name]
		rule := fieldRule(name)
		if rule == ruleHuman || rule == ruleSkip {
			continue
		}
		v, sum, ok := mergeValues(vals, rule)
		if ok {
			sums[name] = sum
		}
		fmt.Fprintf(b, "%s:%s\r\n", name, v)
		if h := name + "_human"; sec.values[h] != nil && ok {
			fmt.Fprintf(b, "%s:%s\r\n", h, bytesToHuman(sum))
		}
		if name == "used_memory_rss" && sums["used_memory"] > 0 {
			fmt.Fprintf(b, "mem_fragmentation_ratio:%.2f\r\n", sum/sums["used_memory"])
		}
	}
}

// mergeValues applies rule to the shards' values of a field: the text to
// show, and its number when the values are numeric.
func mergeValues(vals []string, rule mergeRule) (string, float64, bool) {
	if rule == ruleOK {
		for _, v := range vals {
			if v != "ok" {
				return v, 0, false
			}
		}
		return "ok", 0, false
	}
	nums := make([]float64, len(vals))
	isInt := true
	for i, v := range vals {
		n, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
		if err != nil {
			for _, w := range vals[1:] {
				if w != vals[0] {
					return "mixed", 0, false
				}
			}
			return vals[0], 0, false
		}
		nums[i] = n
		isInt = isInt && !strings.ContainsAny(v, ".%eE")
	}
	r := nums[0]
	for _, n := range nums[1:] {
		switch rule {
		case ruleSum:
			r += n
		case ruleMax:
			r = max(r, n)
		case ruleMin:
			r = min(r, n)
		}
	}
	suffix := ""
	if strings.HasSuffix(vals[0], "%") {
		suffix = "%"
	}
	if isInt {
		return strconv.FormatInt(int64(r), 10), r, true
	}
	return strconv.FormatFloat(r, 'f', 2, 64) + suffix, r, true
}

// bytesToHuman formats n as Redis's bytesToHuman does.
func bytesToHuman(n float64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(int64(n), 10) + "B"
	case n < 1024*1024:
		return fmt.Sprintf("%.2fK", n/1024)
	case n < 1024*1024*1024:
		return fmt.Sprintf("%.2fM", n/(1024*1024))
	case n < 1024*1024*1024*1024:
		return fmt.Sprintf("%.2fG", n/(1024*1024*1024))
	case n < 1024*1024*1024*1024*1024:
		return fmt.Sprintf("%.2fT", n/(1024*1024*1024*1024))
	}
	return fmt.Sprintf("%.2fP", n/(1024*1024*1024*1024*1024))
}

// maxErrorCodes bounds the error codes errorstats tracks, as Redis does
// (ERROR_STATS_NUMBER): a client cannot grow the table without limit.
const maxErrorCodes = 128

// errorStats counts the error replies the proxy produced itself, by code
// (the first word: ERR, NOAUTH, NOPERM, CROSSSLOT, ...). Safe for
// concurrent use; touched only when a reply is an error.
type errorStats struct {
	mu sync.Mutex
	n  map[string]int64
}

// add counts the error reply msg (without its '-'); it allocates only for
// a code it has not seen.
func (e *errorStats) add(msg []byte) {
	end := 0
	for end < len(msg) && msg[end] != ' ' && msg[end] != '\r' {
		end++
	}
	code := msg[:end]
	e.mu.Lock()
	if e.n == nil {
		e.n = map[string]int64{}
	}
	if _, ok := e.n[string(code)]; ok {
		e.n[string(code)]++
	} else if len(e.n) < maxErrorCodes {
		e.n[string(code)] = 1
	}
	e.mu.Unlock()
}

// renderErrorstats writes errorstat_<CODE>:count=N, the shards' counts plus
// the proxy's own, sorted by code.
func (e *errorStats) render(b *strings.Builder, shards *shardSection) {
	counts := map[string]int64{}
	for name, vals := range shards.values {
		code, ok := strings.CutPrefix(name, "errorstat_")
		if !ok {
			continue
		}
		for _, v := range vals {
			n, _ := strconv.ParseInt(strings.TrimPrefix(v, "count="), 10, 64)
			counts[code] += n
		}
	}
	e.mu.Lock()
	for code, n := range e.n {
		counts[code] += n
	}
	e.mu.Unlock()
	codes := make([]string, 0, len(counts))
	for c := range counts {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(b, "errorstat_%s:count=%d\r\n", c, counts[c])
	}
}
