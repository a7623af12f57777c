package hashring

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

var distributions = []string{Consistent, Ketama, Modula}

func equalNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{Name: fmt.Sprintf("127.0.0.1:%d", 7000+i), Weight: 1}
	}
	return nodes
}

func mustNew(t testing.TB, dist, hash, tag string, nodes []Node) Ring {
	t.Helper()
	r, err := New(dist, hash, tag, nodes)
	if err != nil {
		t.Fatalf("New(%q, %q, %q): %v", dist, hash, tag, err)
	}
	return r
}

func TestNewErrors(t *testing.T) {
	ok := equalNodes(3)
	tests := []struct {
		name        string
		dist, hash  string
		tag         string
		nodes       []Node
		wantErr     error
		wantMessage string
	}{
		{"no nodes", Ketama, "", "", nil, ErrNoNodes, ""},
		{"unknown distribution", "random", "", "", ok, ErrUnknownDistribution, `"random"`},
		{"unknown hash", Ketama, "sha1", "", ok, ErrUnknownHash, `"sha1"`},
		{"consistent with a nutcracker hash", Consistent, "fnv1a_64", "", ok, ErrUnknownHash, "always uses xxhash"},
		{"one-char tag", Ketama, "", "{", ok, ErrBadHashTag, ""},
		{"three-char tag", Modula, "", "{}}", ok, ErrBadHashTag, ""},
		{"empty name", Modula, "", "", []Node{{Name: "", Weight: 1}}, ErrBadNode, "empty name"},
		{"zero weight", Ketama, "", "", []Node{{Name: "a", Weight: 0}}, ErrBadNode, "weight 0"},
		{"negative weight", Consistent, "", "", []Node{{Name: "a", Weight: -1}}, ErrBadNode, "weight -1"},
		{"weight too large", Modula, "", "", []Node{{Name: "a", Weight: MaxWeight + 1}}, ErrBadNode, "weight"},
		{"duplicate names", Ketama, "", "", []Node{{"a", 1}, {"b", 1}, {"a", 2}}, ErrDuplicateNode, `"a"`},
		{"ketama name too long", Ketama, "", "", []Node{{strings.Repeat("h", 271), 1}, {"b", 1}}, ErrBadNode, "too long"},
		{"ketama name one byte too long", Ketama, "", "", []Node{{strings.Repeat("h", 270), 1}, {"b", 1}}, ErrBadNode, "(273 bytes with its point suffix, max 272)"},
		{"consistent total weight too large", Consistent, "", "", []Node{{"a", 200}, {"b", 100}}, ErrBadNode, "total weight 300"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.dist, tc.hash, tc.tag, tc.nodes)
			if !errors.Is(err, tc.wantErr) || r != nil {
				t.Fatalf("New = %v, %v; want nil, %v", r, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("error %q does not mention %q", err, tc.wantMessage)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	long := strings.Repeat("h", 268) // "name-39" still fits nutcracker's buffer
	tests := []struct {
		name, dist, hash, tag string
		nodes                 []Node
	}{
		{"default distribution", "", "", "{}", equalNodes(3)},
		{"consistent with xxhash", Consistent, "xxhash", "", equalNodes(3)},
		{"ketama default hash", Ketama, "", "{}", equalNodes(3)},
		{"modula every hash", Modula, "murmur", "$$", equalNodes(2)},
		{"ketama long name", Ketama, "md5", "", []Node{{long, 1}, {"b", 1}}},
		{"ketama longest name", Ketama, "md5", "", []Node{{strings.Repeat("h", 269), 1}, {"b", 1}}}, // "name-39" is 272 bytes
		{"consistent max weight", Consistent, "", "", []Node{{"a", 200}, {"b", 56}}},
		{"modula max weight", Modula, "", "", []Node{{"a", MaxWeight}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustNew(t, tc.dist, tc.hash, tc.tag, tc.nodes)
			if i := r.Pick([]byte("k")); i < 0 || i >= len(tc.nodes) {
				t.Errorf("Pick = %d, out of range", i)
			}
		})
	}
}

// TestDefaultHash checks that ketama and modula without a hash use
// nutcracker's default, fnv1a_64.
func TestDefaultHash(t *testing.T) {
	for _, dist := range []string{Ketama, Modula} {
		t.Run(dist, func(t *testing.T) {
			a := mustNew(t, dist, "", "", equalNodes(5))
			b := mustNew(t, dist, "fnv1a_64", "", equalNodes(5))
			for i := range 2000 {
				k := fmt.Appendf(nil, "k%d", i)
				if a.Pick(k) != b.Pick(k) {
					t.Fatalf("key %q: default %d, fnv1a_64 %d", k, a.Pick(k), b.Pick(k))
				}
			}
		})
	}
}

func TestDefaultNodeName(t *testing.T) {
	tests := []struct {
		host string
		port int
		want string
	}{
		{"127.0.0.1", 6379, "127.0.0.1:6379"},
		{"cache.local", 11211, "cache.local"},
		{"::1", 6380, "::1:6380"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := DefaultNodeName(tc.host, tc.port); got != tc.want {
				t.Errorf("DefaultNodeName(%q, %d) = %q, want %q", tc.host, tc.port, got, tc.want)
			}
		})
	}
}

func TestKetamaPoints(t *testing.T) {
	tests := []struct {
		w, total, n, want int
	}{
		{1, 3, 3, 160},
		{1, 5, 5, 160},
		{1, 25, 25, 156}, // single-precision rounding loses one hash
		{1, 26, 26, 160},
		{1, 6, 3, 80},
		{2, 6, 3, 160},
		{3, 6, 3, 240},
		{1, 7, 3, 68},
		{3, 10, 4, 192},
		{1, 1, 1, 160},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("w%d_of_%d_n%d", tc.w, tc.total, tc.n), func(t *testing.T) {
			if got := ketamaPoints(tc.w, tc.total, tc.n); got != tc.want {
				t.Errorf("ketamaPoints(%d, %d, %d) = %d, want %d", tc.w, tc.total, tc.n, got, tc.want)
			}
		})
	}
}

// TestKetamaContinuum checks the continuum's shape: the number of points
// per node, sorted values, and an empty key landing on the first point.
func TestKetamaContinuum(t *testing.T) {
	nodes := []Node{{"b", 1}, {"a", 2}, {"c", 3}}
	r := mustNew(t, Ketama, "md5", "", nodes).(*ketama)
	count := make([]int, len(nodes))
	for i, v := range r.values {
		count[r.owners[i]]++
		if i > 0 && r.values[i-1] > v {
			t.Fatalf("continuum not sorted at %d", i)
		}
	}
	for i, n := range nodes {
		if want := ketamaPoints(n.Weight, 6, 3); count[i] != want {
			t.Errorf("node %q has %d points, want %d", n.Name, count[i], want)
		}
	}
	// nutcracker hashes an empty key to 0 whatever the hash (not to the
	// hash of no bytes), so it always lands on the first point.
	for _, h := range HashNames() {
		r := mustNew(t, Ketama, h, "", nodes).(*ketama)
		if got, want := r.Pick(nil), int(r.owners[0]); got != want {
			t.Errorf("%s: empty key picks %d, want owner of the first point %d", h, got, want)
		}
	}
}

// TestNutcrackerOrder checks that ketama and modula do not depend on the
// configuration order of the nodes, only on their names (nutcracker sorts
// its servers by name), while Pick still answers configuration indexes.
func TestNutcrackerOrder(t *testing.T) {
	nodes := []Node{{"redis-10", 1}, {"redis-2", 2}, {"b", 1}, {"aa", 3}, {"redis-1", 1}}
	if got, want := nutcrackerOrder(nodes), []int{2, 3, 4, 1, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("nutcrackerOrder = %v, want %v (length first, then bytes)", got, want)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, dist := range distributions {
		t.Run(dist, func(t *testing.T) {
			a := mustNew(t, dist, "", "", nodes)
			shuffled := append([]Node(nil), nodes...)
			rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			b := mustNew(t, dist, "", "", shuffled)
			for i := range 5000 {
				k := fmt.Appendf(nil, "key:%d", i)
				if na, nb := nodes[a.Pick(k)].Name, shuffled[b.Pick(k)].Name; na != nb {
					t.Fatalf("key %q: %q in config order, %q shuffled", k, na, nb)
				}
			}
		})
	}
}

// TestModulaTable checks modula's layout: weight entries per node, in
// name order, and an empty key going to entry 0.
func TestModulaTable(t *testing.T) {
	nodes := []Node{{"c", 2}, {"a", 1}, {"b", 3}}
	r := mustNew(t, Modula, "", "", nodes).(*modula)
	if got, want := fmt.Sprint(r.table), "[1 2 2 2 0 0]"; got != want {
		t.Errorf("table = %s, want %s", got, want)
	}
	if got := r.Pick([]byte("")); got != 1 {
		t.Errorf("empty key picks %d, want 1 (node a)", got)
	}
}

func TestSingleNode(t *testing.T) {
	for _, dist := range distributions {
		t.Run(dist, func(t *testing.T) {
			r := mustNew(t, dist, "", "{}", []Node{{"only", 3}})
			for _, k := range []string{"", "a", "{x}y", "zzzz"} {
				if got := r.Pick([]byte(k)); got != 0 {
					t.Errorf("Pick(%q) = %d, want 0", k, got)
				}
			}
		})
	}
}

func TestHashTagColocation(t *testing.T) {
	for _, dist := range distributions {
		t.Run(dist, func(t *testing.T) {
			hash := "md5" // fnv1a_64 spreads "user:N" over few nodes
			if dist == Consistent {
				hash = ""
			}
			r := mustNew(t, dist, hash, "{}", equalNodes(10))
			plain := mustNew(t, dist, hash, "", equalNodes(10))
			spread := make(map[int]bool)
			for i := range 200 {
				user := fmt.Sprintf("user:%d", i)
				want := plain.Pick([]byte(user))
				for _, suffix := range []string{".profile", ".session", ".friends"} {
					if got := r.Pick([]byte("{" + user + "}" + suffix)); got != want {
						t.Fatalf("{%s}%s on %d, %s on %d", user, suffix, got, user, want)
					}
				}
				spread[want] = true
			}
			if len(spread) != 10 {
				t.Errorf("200 tags used only %d of 10 nodes", len(spread))
			}
		})
	}
}

// TestStable pins the placement of fixed keys, so a change of any hash,
// of the continuum or of the consistent parameters cannot go unnoticed:
// that would move keys of running deployments.
func TestStable(t *testing.T) {
	nodes := []Node{{"redis-a", 1}, {"redis-b", 2}, {"redis-c", 1}, {"redis-d", 1}, {"redis-e", 1}}
	tests := []struct {
		dist, hash string
		counts     string
		digest     uint64
	}{
		{Consistent, "", "[1628 3277 1734 1687 1674]", 0x7740b837368d2bd},
		{Ketama, "fnv1a_64", "[2425 3665 1199 1430 1281]", 0xd6d77d8c98054378},
		{Ketama, "md5", "[1909 3226 1520 1654 1691]", 0xfbaf3929ed7b2f97},
		// nutcracker's fnv1a_64 is a poor hash for sequential keys modulo a
		// small table; this skew is what nutcracker itself does.
		{Modula, "fnv1a_64", "[0 5000 0 255 4745]", 0xcb79107136812f3a},
		{Modula, "crc32a", "[1688 3382 1712 1637 1581]", 0xdfdd000a061184d0},
	}
	for _, tc := range tests {
		t.Run(tc.dist+"/"+tc.hash, func(t *testing.T) {
			r := mustNew(t, tc.dist, tc.hash, "{}", nodes)
			counts := make([]int, len(nodes))
			h := fnv.New64a()
			for i := range 10000 {
				n := r.Pick(fmt.Appendf(nil, "stable:%d", i))
				counts[n]++
				h.Write([]byte{byte(n)})
			}
			if got := fmt.Sprint(counts); got != tc.counts || h.Sum64() != tc.digest {
				t.Errorf("counts %s digest %#x, want %s %#x", got, h.Sum64(), tc.counts, tc.digest)
			}
		})
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	key := []byte("{user:1000}.profile")
	for _, dist := range distributions {
		for _, hash := range HashNames() {
			if dist == Consistent && hash != "xxhash" {
				continue
			}
			t.Run(dist+"/"+hash, func(t *testing.T) {
				r := mustNew(t, dist, hash, "{}", equalNodes(5))
				if n := testing.AllocsPerRun(100, func() { r.Pick(key) }); n != 0 {
					t.Errorf("Pick allocates %.1f times", n)
				}
			})
		}
	}
	if n := testing.AllocsPerRun(100, func() { Slot(key) }); n != 0 {
		t.Errorf("Slot allocates %.1f times", n)
	}
}

// TestConcurrentPick runs Pick from several goroutines; with -race it
// proves rings are read-only after New.
func TestConcurrentPick(t *testing.T) {
	for _, dist := range distributions {
		t.Run(dist, func(t *testing.T) {
			r := mustNew(t, dist, "", "{}", equalNodes(5))
			want := make([]int, 1000)
			for i := range want {
				want[i] = r.Pick(fmt.Appendf(nil, "c:%d", i))
			}
			var wg sync.WaitGroup
			errs := make(chan string, 4)
			for range 4 {
				wg.Go(func() {
					for i := range want {
						if got := r.Pick(fmt.Appendf(nil, "c:%d", i)); got != want[i] {
							errs <- fmt.Sprintf("key %d: %d, want %d", i, got, want[i])
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
		})
	}
}

// TestConsistentRoomCheck: New refuses, with an error instead of
// buraksezer/consistent's panic, a ring whose bounded loads cannot hold
// every partition, and accepts one they hold exactly (3 members of at
// most 33 partitions hold 99, not 100).
func TestConsistentRoomCheck(t *testing.T) {
	if _, err := newConsistent("", equalNodes(3), consistentParams{partitions: 100, replication: 10, load: 1}); !errors.Is(err, ErrBadNode) {
		t.Errorf("100 partitions on 3 members of load 1: %v, want ErrBadNode", err)
	}
	r, err := newConsistent("", equalNodes(3), consistentParams{partitions: 99, replication: 10, load: 1})
	if err != nil {
		t.Fatalf("99 partitions on 3 members of load 1: %v", err)
	}
	if i := r.Pick([]byte("k")); i < 0 || i >= 3 {
		t.Errorf("Pick = %d, out of range", i)
	}
}

// TestKetamaPickAtAPoint: a key whose hash equals a point's value goes to
// that point's owner (the first point at or after the hash, as
// ketama_dispatch), not to the next one; past the last point it wraps.
func TestKetamaPickAtAPoint(t *testing.T) {
	kind, err := hashKindOf("fnv1a_64")
	if err != nil {
		t.Fatal(err)
	}
	h := kind.sum([]byte("a")) // 0x8601ec8c, see hashVectors
	r := &ketama{hash: kind, values: []uint32{h - 1, h, h + 1}, owners: []int32{0, 1, 2}}
	if got := r.Pick([]byte("a")); got != 1 {
		t.Errorf("hash equal to a point picks owner %d, want 1", got)
	}
	r = &ketama{hash: kind, values: []uint32{h - 2, h - 1}, owners: []int32{0, 1}}
	if got := r.Pick([]byte("a")); got != 0 {
		t.Errorf("hash past the last point picks owner %d, want 0 (wrap)", got)
	}
}
