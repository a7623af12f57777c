package harness

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/bench/report"
)

func TestStale(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name  string
		files map[string]time.Time // relative path -> mtime
		bin   bool
		want  bool
	}{
		{"no binary", map[string]time.Time{"cmd/proxy/main.go": old}, false, true},
		{"up to date", map[string]time.Time{"cmd/proxy/main.go": old, "go.mod": old}, true, false},
		{"newer source", map[string]time.Time{"router/session.go": time.Now().Add(time.Hour)}, true, true},
		{"newer go.sum", map[string]time.Time{"go.sum": time.Now().Add(time.Hour)}, true, true},
		{"newer test file ignored", map[string]time.Time{"router/session_test.go": time.Now().Add(time.Hour)}, true, false},
		{"newer bench file ignored", map[string]time.Time{"bench/harness/x.go": time.Now().Add(time.Hour)}, true, false},
		{"newer testdata ignored", map[string]time.Time{"router/testdata/x.go": time.Now().Add(time.Hour)}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for rel, mt := range tc.files {
				p := filepath.Join(root, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("package x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Chtimes(p, mt, mt); err != nil {
					t.Fatal(err)
				}
			}
			bin := filepath.Join(root, "bin", "shardproxy")
			if tc.bin {
				if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(bin, nil, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Stale(root, bin)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Stale = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPoolYAML(t *testing.T) {
	got := poolYAML("127.0.0.1:1", []string{"127.0.0.1:2", "127.0.0.1:3"}, "server_connections: 1")
	want := "bench:\n  listen: 127.0.0.1:1\n  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  timeout: 2000\n" +
		"  server_connections: 1\n  servers:\n    - 127.0.0.1:2:1 shard1\n    - 127.0.0.1:3:1 shard2\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestSmoke is `make bench-smoke` as a test: it builds the proxy from the
// repository, runs the smoke plan against real servers and checks that
// every section was measured. It needs redis-server, redis-benchmark and
// nutcracker; without them it skips, except under CI=true.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke benchmark takes about 30 s; skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "shardproxy")
	build := exec.Command("go", "build", "-o", bin, "./cmd/proxy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/proxy: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, Config{ShardproxyBin: bin, WorkDir: t.TempDir(), Plan: SmokePlan(), Procs: 1})
	if errors.Is(err, errMissing) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// direct, twemproxy, twemproxy -v 4, shardproxy (default flags),
	// shardproxy --procs 1.
	if want := 5 * 2 * len(benchTests()); len(res.Samples) != want {
		t.Errorf("%d redis-benchmark samples, want %d", len(res.Samples), want)
	}
	if _, ok := report.Find(res.Bench, report.ShardproxyProcs(1), "SET", 1); !ok {
		t.Errorf("no summary for %s", report.ShardproxyProcs(1))
	}
	for _, s := range res.Bench {
		if s.RPS <= 0 || s.P99Ms <= 0 {
			t.Errorf("summary %+v has no throughput or latency", s)
		}
	}
	if len(res.Batch) != 2*len(SmokePlan().BatchSizes) || len(res.Latency) != len(SmokePlan().RTTs) {
		t.Errorf("batch points %d, latency rows %d", len(res.Batch), len(res.Latency))
	}
	for _, l := range res.Latency {
		// 1,000 sequential round trips cannot beat the emulated RTT.
		if l.Sequential < time.Duration(l.Commands)*l.RTT {
			t.Errorf("RTT %v: %d sequential commands took %v", l.RTT, l.Commands, l.Sequential)
		}
	}
	if len(res.Idle) != 2 || len(res.Stream) != 2 {
		t.Fatalf("idle rows %d, stream rows %d, want 2 each", len(res.Idle), len(res.Stream))
	}
	for _, s := range res.Stream {
		if s.Peak <= 0 || s.Samples == 0 {
			t.Errorf("stream %+v has no samples", s)
		}
	}
	// ACL: twemproxy, shardproxy and shardproxy ACL, SET and GET, -P 1 and 16.
	if len(res.ACL) != 12 {
		t.Errorf("%d ACL summaries, want 12", len(res.ACL))
	}
	for _, s := range res.ACL {
		if s.RPS <= 0 {
			t.Errorf("ACL summary %+v has no throughput", s)
		}
	}
	if len(res.Pinned) != 3 {
		t.Errorf("%d pinned rows, want 3 (direct, 1 shard, 3 shards)", len(res.Pinned))
	}
	for _, p := range res.Pinned {
		if p.TxPerSec <= 0 || p.HandoffsPerSec <= 0 {
			t.Errorf("pinned row %+v has no throughput", p)
		}
	}
	md := string(res.Markdown())
	for _, want := range []string{"## Targets", "| SET |", "## Batch size", "## Latency multiplier", "idle client connections",
		"shardproxy --procs 1 ops/s", "## shardproxy by flags", "## ACL user", "| shardproxy (3 shards) | 3 |",
		"at 10000 idle clients", "1000000-command pipeline"} {
		if !strings.Contains(md, want) {
			t.Errorf("results lack %q", want)
		}
	}
	// Six against twemproxy with default flags, four against -v 4.
	if got := len(res.Checks()); got != 10 {
		t.Errorf("%d target checks, want 10", got)
	}
}

func TestSelection(t *testing.T) {
	if got := PhaseNames(); strings.Join(got, ",") != "rb,profile,batch,latency,idle,stream,acl,pinned" {
		t.Errorf("PhaseNames = %v", got)
	}
	var names []string
	for _, bt := range selectTests([]string{"GET", "set"}) {
		names = append(names, bt.name)
	}
	if strings.Join(names, ",") != "SET,GET" {
		t.Errorf("selectTests(GET, set) = %v, want SET,GET in table order", names)
	}
	if n := len(selectTests(nil)); n != len(benchTests()) {
		t.Errorf("selectTests(nil) has %d tests, want all %d", n, len(benchTests()))
	}
	if err := CheckSelection([]string{"rb"}, []string{"set", "MSET", "lrange_100"}); err != nil {
		t.Errorf("valid selection: %v", err)
	}
	for _, bad := range []struct{ phases, tests []string }{
		{[]string{"redis-benchmark"}, nil},
		{nil, []string{"hset"}},
	} {
		if err := CheckSelection(bad.phases, bad.tests); err == nil {
			t.Errorf("CheckSelection(%v, %v) accepted an unknown name", bad.phases, bad.tests)
		}
	}
	// Run refuses before starting anything.
	_, err := Run(context.Background(), Config{ShardproxyBin: "/nonexistent", WorkDir: t.TempDir(), Plan: SmokePlan(), Phases: []string{"bogus"}})
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("Run with an unknown phase: %v", err)
	}
}
