package router

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// infoMap parses an INFO reply into field -> value.
func infoMap(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

func TestInfoShardSections(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, nil)
	c := client(t, p)
	for i := 0; i < 50; i++ {
		c.Set(ctx(), "info:"+strconv.Itoa(i), strings.Repeat("v", 100), 0)
	}
	c.Set(ctx(), "str", "x", 0)
	c.Incr(ctx(), "str")                      // ERR from a shard
	c.Do(ctx(), "NOSUCHCOMMAND")              // ERR from the proxy
	c.Do(ctx(), "MSETNX", "a", "1", "b", "2") // CROSSSLOT from the proxy, if a and b are apart
	c.Do(ctx(), "AUTH", "nobody", "x")        // WRONGPASS from the proxy
	crossslot := p.pick([]byte("a")) != p.pick([]byte("b"))

	var usedSum, changesSum int64
	for _, r := range rs {
		f := infoMap(r.Client(t).Info(ctx(), "memory", "persistence").Val())
		n, _ := strconv.ParseInt(f["used_memory"], 10, 64)
		usedSum += n
		n, _ = strconv.ParseInt(f["rdb_changes_since_last_save"], 10, 64)
		changesSum += n
	}
	info, err := c.Info(ctx()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{"# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU", "# Errorstats", "# Keyspace"} {
		if !strings.Contains(info, sec+"\r\n") {
			t.Errorf("INFO has no %s section", sec)
		}
	}
	f := infoMap(info)
	used, _ := strconv.ParseInt(f["used_memory"], 10, 64)
	if used < usedSum*9/10 || used > usedSum*11/10 {
		t.Errorf("used_memory %d; the shards' sum is about %d", used, usedSum)
	}
	if f["used_memory_human"] != bytesToHuman(float64(used)) {
		t.Errorf("used_memory_human %q for %d", f["used_memory_human"], used)
	}
	if f["rdb_changes_since_last_save"] != strconv.FormatInt(changesSum, 10) {
		t.Errorf("rdb_changes_since_last_save %q, shards' sum %d", f["rdb_changes_since_last_save"], changesSum)
	}
	if f["rdb_last_bgsave_status"] != "ok" || f["role"] != "master" || f["maxmemory_policy"] != "noeviction" {
		t.Errorf("rdb_last_bgsave_status %q, role %q, maxmemory_policy %q", f["rdb_last_bgsave_status"], f["role"], f["maxmemory_policy"])
	}
	if cpu, err := strconv.ParseFloat(f["used_cpu_user"], 64); err != nil || cpu <= 0 {
		t.Errorf("used_cpu_user %q", f["used_cpu_user"])
	}
	if n, _ := strconv.Atoi(strings.TrimPrefix(f["errorstat_ERR"], "count=")); n < 2 {
		t.Errorf("errorstat_ERR %q, want the shard's and the proxy's errors", f["errorstat_ERR"])
	}
	if f["errorstat_WRONGPASS"] != "count=1" {
		t.Errorf("errorstat_WRONGPASS %q", f["errorstat_WRONGPASS"])
	}
	if crossslot && f["errorstat_CROSSSLOT"] != "count=1" {
		t.Errorf("errorstat_CROSSSLOT %q", f["errorstat_CROSSSLOT"])
	}
	// commandstats and latencystats: the proxy's view of the commands.
	// (A command's metrics are recorded just after its reply is sent.)
	var stats string
	testenv.WaitFor(t, 2*time.Second, func() bool {
		stats = c.Info(ctx(), "commandstats", "latencystats").Val()
		return strings.Contains(stats, "cmdstat_incr:")
	}, "INFO commandstats without INCR")
	cs := infoMap(stats)
	if !strings.HasPrefix(cs["cmdstat_set"], "calls=51,") || !strings.HasSuffix(cs["cmdstat_set"], ",rejected_calls=0,failed_calls=0") {
		t.Errorf("cmdstat_set %q", cs["cmdstat_set"])
	}
	if !strings.HasSuffix(cs["cmdstat_incr"], ",rejected_calls=0,failed_calls=1") {
		t.Errorf("cmdstat_incr %q", cs["cmdstat_incr"])
	}
	if crossslot && !strings.HasSuffix(cs["cmdstat_msetnx"], ",rejected_calls=1,failed_calls=0") {
		t.Errorf("cmdstat_msetnx %q", cs["cmdstat_msetnx"])
	}
	if l := cs["latency_percentiles_usec_set"]; !strings.HasPrefix(l, "p50=") || !strings.Contains(l, ",p99=") || !strings.Contains(l, ",p99.9=") {
		t.Errorf("latency_percentiles_usec_set %q", l)
	}
	// One section alone still works, and the keyspace still sums.
	mem := infoMap(c.Info(ctx(), "memory").Val())
	if mem["used_memory"] == "" || mem["db0"] != "" {
		t.Errorf("INFO memory: %v", mem)
	}
	if ks := c.Info(ctx(), "keyspace").Val(); !strings.Contains(ks, "db0:keys=51,") {
		t.Errorf("INFO keyspace: %q", ks)
	}
}

func TestMergeValues(t *testing.T) {
	tests := []struct {
		vals []string
		rule mergeRule
		want string
	}{
		{[]string{"100", "200"}, ruleSum, "300"},
		{[]string{"1.50", "1.20"}, ruleMax, "1.50"},
		{[]string{"12.5%", "80.0%"}, ruleMax, "80.00%"},
		{[]string{"1700000000", "1600000000"}, ruleMin, "1600000000"},
		{[]string{"ok", "err"}, ruleOK, "err"},
		{[]string{"ok", "ok"}, ruleOK, "ok"},
		{[]string{"noeviction", "allkeys-lru"}, ruleSum, "mixed"},
		{[]string{"jemalloc-5.3.0", "jemalloc-5.3.0"}, ruleSum, "jemalloc-5.3.0"},
	}
	for _, tc := range tests {
		if got, _, _ := mergeValues(tc.vals, tc.rule); got != tc.want {
			t.Errorf("mergeValues(%q, %d) = %q, want %q", tc.vals, tc.rule, got, tc.want)
		}
	}
	for n, want := range map[float64]string{0: "0B", 1023: "1023B", 1024: "1.00K", 1536 * 1024: "1.50M", 3 << 30: "3.00G"} {
		if got := bytesToHuman(n); got != want {
			t.Errorf("bytesToHuman(%v) = %q, want %q", n, got, want)
		}
	}
}

// TestErrorStatsCap: a client inventing error codes cannot grow the table
// beyond Redis's 128 codes; known codes keep counting.
func TestErrorStatsCap(t *testing.T) {
	var e errorStats
	for i := 0; i < 1000; i++ {
		e.add([]byte("CODE" + strconv.Itoa(i) + " text\r\n"))
	}
	e.add([]byte("CODE0 again\r\n"))
	if len(e.n) != maxErrorCodes || e.n["CODE0"] != 2 {
		t.Fatalf("%d codes, CODE0 = %d", len(e.n), e.n["CODE0"])
	}
	var b strings.Builder
	e.render(&b, &shardSection{values: map[string][]string{"errorstat_CODE0": {"count=3", "count=4"}}})
	if !strings.HasPrefix(b.String(), "errorstat_CODE0:count=9\r\n") {
		t.Fatalf("render: %q", b.String()[:40])
	}
}
