package router

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/metrics"
)

// reloadFixture is a served ring pool whose proxy can be reloaded.
type reloadFixture struct {
	px   *Proxy
	pool *Pool
	m    *metrics.Metrics
}

func startReloadable(t *testing.T, rs []*testenv.Redis) *reloadFixture {
	t.Helper()
	m := metrics.New("test", runtime.Version())
	pc := ringPool(t, rs, nil)
	px, err := New(&config.Config{Pools: []*config.Pool{pc}}, Options{Version: "test", Logger: testLogger(t), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		px.Serve()
	}()
	t.Cleanup(func() {
		px.Close()
		<-done
	})
	return &reloadFixture{px: px, pool: px.Pools()[0], m: m}
}

// reloads returns shardproxy_config_reloads_total{result}.
func (f *reloadFixture) reloads(t *testing.T, result string) float64 {
	t.Helper()
	fams, err := f.m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != "shardproxy_config_reloads_total" {
			continue
		}
		for _, m := range fam.GetMetric() {
			if label(m, "result") == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Servers added and removed by a reload take their share of the keys at the
// clients' next command; connections to the servers that stay carry on.
func TestReloadRingServers(t *testing.T) {
	rs := shards(t, 3)
	f := startReloadable(t, rs[:2])
	c := client(t, f.pool)
	for i := 0; i < 300; i++ {
		must(t, c.Set(ctx(), fmt.Sprintf("before:%d", i), i, 0).Err())
	}
	kept := f.pool.Servers()
	grown := ringPool(t, rs, nil)
	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{grown}}); err != nil {
		t.Fatalf("reload adding a server: %v", err)
	}
	if n := len(f.pool.Servers()); n != 3 {
		t.Fatalf("%d servers after the reload, want 3", n)
	}
	for i := range kept {
		if f.pool.Servers()[i] != kept[i] {
			t.Fatalf("server %d was replaced; unchanged servers must keep their connections", i)
		}
	}
	onThird := 0
	for i := 0; i < 300; i++ {
		key := fmt.Sprintf("after:%d", i)
		must(t, c.Set(ctx(), key, i, 0).Err())
		want := f.pool.pick([]byte(key))
		if got := owner(t, rs, key); got != want {
			t.Fatalf("%s written to shard %d, the new ring says %d", key, got, want)
		}
		if want == 2 {
			onThird++
		}
	}
	if onThird == 0 {
		t.Fatal("no key went to the added server")
	}
	if got := f.reloads(t, "success"); got != 1 {
		t.Fatalf("config_reloads_total{result=success} = %v", got)
	}
	// Remove the first server: it is closed once its requests had time to
	// finish; the rest serve on.
	shrunk := ringPool(t, rs[1:], nil)
	shrunk.Servers[0].Name, shrunk.Servers[1].Name = "shard2", "shard3"
	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{shrunk}}); err != nil {
		t.Fatalf("reload removing a server: %v", err)
	}
	removed := kept[0]
	testenv.WaitFor(t, 5*time.Second, func() bool {
		_, err := removed.Pick(0)
		return err != nil
	}, "the removed server was never closed")
	for i := 0; i < 100; i++ {
		must(t, c.Set(ctx(), fmt.Sprintf("later:%d", i), i, 0).Err())
	}
	if n := owner(t, rs, "later:1"); n == 0 {
		t.Fatal("a key went to the removed server")
	}
}

// A reload that would need a restart changes nothing and says why.
func TestReloadRefusesRestartChanges(t *testing.T) {
	rs := shards(t, 2)
	f := startReloadable(t, rs)
	before := f.pool.Servers()
	next := ringPool(t, rs, func(pc *config.Pool) {
		pc.Listen = "127.0.0.1:1"
		pc.Timeout = 3 * time.Second
		pc.Servers = pc.Servers[:1]
	})
	err := f.px.Reload(&config.Config{Pools: []*config.Pool{next}})
	if err == nil || !strings.Contains(err.Error(), "listen") || !strings.Contains(err.Error(), "timeout") ||
		!strings.Contains(err.Error(), "needs a restart") {
		t.Fatalf("reload changing listen and timeout: %v", err)
	}
	if len(f.pool.Servers()) != len(before) {
		t.Fatal("a refused reload changed the servers")
	}
	other := ringPool(t, rs, nil)
	other.Name = "other"
	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{other}}); err == nil ||
		!strings.Contains(err.Error(), "pool test removed") || !strings.Contains(err.Error(), "pool other added") {
		t.Fatalf("reload renaming the pool: %v", err)
	}
	// Client access changes need a restart; rules that do not compile
	// are reported as such first.
	users := ringPool(t, rs, func(pc *config.Pool) { pc.Users = config.Entries("app on >x ~* +@all") })
	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{users}}); err == nil ||
		!strings.Contains(err.Error(), "requirepass/users/deny_commands/allow_commands") || !strings.Contains(err.Error(), "needs a restart") {
		t.Fatalf("reload adding users: %v", err)
	}
	bad := ringPool(t, rs, func(pc *config.Pool) { pc.Users = config.Entries("app on +nosuch") })
	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{bad}}); err == nil ||
		!strings.Contains(err.Error(), `rule "+nosuch": Unknown command or category name in ACL`) {
		t.Fatalf("reload with a bad ACL rule: %v", err)
	}
	if got := f.reloads(t, "failure"); got != 4 {
		t.Fatalf("config_reloads_total{result=failure} = %v, want 4", got)
	}
	// The same configuration again is a successful no-op.
	if err := f.px.Reload(&config.Config{Pools: []*config.Pool{ringPool(t, rs, nil)}}); err != nil {
		t.Fatalf("reload of the running configuration: %v", err)
	}
	if c := client(t, f.pool); c.Set(ctx(), "k", "v", 0).Err() != nil {
		t.Fatal("pool broken after the reloads")
	}
}
