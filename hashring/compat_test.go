package hashring

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// compatCase is one nutcracker pool checked key by key against New.
type compatCase struct {
	name         string
	distribution string
	hash         string
	servers      int      // how many of the started redis-servers
	names        []string // explicit server names, or nil for "host:port"
	weights      []int    // per server, or nil for all 1
	keys         int
}

// TestNutcrackerCompat is the acceptance test of the ketama and modula
// distributions: it writes keys through a real nutcracker 0.5 in front of
// real redis-servers, finds which server holds each key, and requires
// Pick to name the same server for every key.
func TestNutcrackerCompat(t *testing.T) {
	if testing.Short() {
		// Minutes of real servers: kept out of -short runs (make mutate
		// runs the package's tests once per mutant). make test runs it.
		t.Skip("nutcracker comparison skipped in -short mode")
	}
	testenv.RequireBinary(t, "nutcracker")
	backends := make([]*testenv.Redis, 5)
	for i := range backends {
		backends[i] = testenv.StartRedis(t)
	}
	cases := []compatCase{
		{name: "ketama/fnv1a_64/3", distribution: Ketama, hash: "fnv1a_64", servers: 3, keys: 100000},
		{name: "ketama/fnv1a_64/5", distribution: Ketama, hash: "fnv1a_64", servers: 5, keys: 100000},
		{name: "ketama/md5/3", distribution: Ketama, hash: "md5", servers: 3, keys: 100000},
		{name: "ketama/md5/5", distribution: Ketama, hash: "md5", servers: 5, keys: 100000},
		{name: "modula/fnv1a_64/5", distribution: Modula, hash: "fnv1a_64", servers: 5, keys: 100000},
		// Names out of sorted order (nutcracker sorts by length, then bytes)
		// and unequal weights.
		{
			name: "ketama/named-weighted", distribution: Ketama, hash: "fnv1a_64", servers: 5, keys: 100000,
			names:   []string{"shard-c", "shard-a", "shard-b10", "b", "shard-b9"},
			weights: []int{1, 2, 3, 1, 5},
		},
		{
			name: "modula/named-weighted", distribution: Modula, hash: "md5", servers: 5, keys: 100000,
			names:   []string{"shard-c", "shard-a", "shard-b10", "b", "shard-b9"},
			weights: []int{1, 2, 3, 1, 5},
		},
	}
	// Every other nutcracker hash, with fewer keys: the point is the hash.
	for _, h := range HashNames() {
		if h == "xxhash" {
			continue
		}
		for _, dist := range []string{Ketama, Modula} {
			cases = append(cases, compatCase{
				name: dist + "/" + h + "/weighted", distribution: dist, hash: h, servers: 5, keys: 5000,
				weights: []int{2, 1, 1, 3, 1},
			})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCompatCase(t, tc, backends[:tc.servers])
		})
	}
}

func runCompatCase(t *testing.T, tc compatCase, backends []*testenv.Redis) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	direct := make([]*redis.Client, len(backends))
	for i, b := range backends {
		direct[i] = b.Client(t)
		if err := direct[i].FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}

	nodes := make([]Node, len(backends))
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "pool:\n  listen: %s\n  hash: %s\n  distribution: %s\n  hash_tag: \"{}\"\n  redis: true\n  timeout: 5000\n  servers:\n",
		testenv.ListenPlaceholder, tc.hash, tc.distribution)
	for i, b := range backends {
		w := 1
		if tc.weights != nil {
			w = tc.weights[i]
		}
		nodes[i] = Node{Name: DefaultNodeName("127.0.0.1", b.Port), Weight: w}
		fmt.Fprintf(&cfg, "   - %s:%d", b.Addr, w)
		if tc.names != nil {
			nodes[i].Name = tc.names[i]
			fmt.Fprintf(&cfg, " %s", tc.names[i])
		}
		cfg.WriteString("\n")
	}
	nc := testenv.StartNutcracker(t, cfg.String())
	defer nc.Kill()
	ring, err := New(tc.distribution, tc.hash, "{}", nodes)
	if err != nil {
		t.Fatal(err)
	}

	keys := compatKeys(tc.keys)
	client := newNutcrackerClient(nc.Addr)
	defer client.Close()
	for start := 0; start < len(keys); start += 1000 {
		pipe := client.Pipeline()
		for _, k := range keys[start:min(start+1000, len(keys))] {
			pipe.Set(ctx, k, "v", 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("writing through nutcracker: %v", err)
		}
	}

	holder := make(map[string]int, len(keys))
	for i, c := range direct {
		found, err := c.Keys(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range found {
			if prev, dup := holder[k]; dup {
				t.Fatalf("key %q on servers %d and %d", k, prev, i)
			}
			holder[k] = i
		}
	}
	if len(holder) != len(keys) {
		t.Fatalf("servers hold %d keys, wrote %d", len(holder), len(keys))
	}
	mismatches := 0
	perNode := make([]int, len(nodes))
	for _, k := range keys {
		want, ok := holder[k]
		if !ok {
			t.Fatalf("key %q is on no server", k)
		}
		perNode[want]++
		if got := ring.Pick([]byte(k)); got != want {
			if mismatches < 5 {
				t.Errorf("key %q: Pick = %d (%s), nutcracker put it on %d (%s)", k, got, nodes[got].Name, want, nodes[want].Name)
			}
			mismatches++
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d of %d keys placed differently from nutcracker", mismatches, len(keys))
	}
	t.Logf("%d keys placed as nutcracker places them; per server %v", len(keys), perNode)
}

// compatKeys returns n distinct keys: plain ones, hash-tagged ones sharing
// tags, keys with bytes >= 0x80, keys whose tag rules fall back to the
// whole key, and the empty key.
func compatKeys(n int) []string {
	keys := make([]string, 0, n)
	keys = append(keys, "")
	for i := 0; len(keys) < n; i++ {
		var k string
		switch i % 6 {
		case 0, 1:
			k = fmt.Sprintf("key:%d", i)
		case 2:
			k = fmt.Sprintf("{user:%d}.x", i/6)
		case 3:
			k = fmt.Sprintf("{user:%d}.y", i/6)
		case 4:
			k = fmt.Sprintf("ключ:%d:\xff\x80", i)
		case 5:
			k = fmt.Sprintf([]string{"{}.e:%d", "foo{%d", "a{{b%d}}c"}[i/6%3], i)
		}
		keys = append(keys, k)
	}
	return keys
}
