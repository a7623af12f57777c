package hashring

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/buraksezer/consistent"
)

func randomKeys(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:%d:%x", i, rng.Uint64())
	}
	return keys
}

// spread returns max/min keys per node of r over keys.
func spread(r Ring, n int, keys [][]byte) float64 {
	count := make([]int, n)
	for _, k := range keys {
		count[r.Pick(k)]++
	}
	lo, hi := count[0], count[0]
	for _, c := range count {
		lo, hi = min(lo, c), max(hi, c)
	}
	return float64(hi) / float64(lo)
}

// moved returns the fraction of keys whose node name differs between a
// ring over a and one over b.
func moved(ra, rb Ring, a, b []Node, keys [][]byte) float64 {
	m := 0
	for _, k := range keys {
		if a[ra.Pick(k)].Name != b[rb.Pick(k)].Name {
			m++
		}
	}
	return float64(m) / float64(len(keys))
}

// TestConsistentParameters measures the chosen PartitionCount,
// ReplicationFactor and Load (the numbers doc.go quotes) and holds them to
// bounds: keys spread within 12% between the fullest and emptiest node,
// and adding a node to n moves at most 1.2 times the ideal 1/(n+1) of the
// keys (bounded loads cost a little extra movement).
func TestConsistentParameters(t *testing.T) {
	keys := randomKeys(100000, 1)
	p := defaultConsistentParams()
	t.Logf("PartitionCount=%d ReplicationFactor=%d Load=%.2f", p.partitions, p.replication, p.load)
	for _, n := range []int{3, 5, 10} {
		t.Run(fmt.Sprintf("spread/%d", n), func(t *testing.T) {
			r, err := newConsistent("", equalNodes(n), p)
			if err != nil {
				t.Fatal(err)
			}
			s := spread(r, n, keys)
			t.Logf("%d nodes: max/min keys per node %.3f", n, s)
			if s > 1.12 {
				t.Errorf("max/min = %.3f, want <= 1.12", s)
			}
		})
	}
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("add/%d", n), func(t *testing.T) {
			a, b := equalNodes(n), equalNodes(n+1)
			ra, err := newConsistent("", a, p)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := newConsistent("", b, p)
			if err != nil {
				t.Fatal(err)
			}
			m, ideal := moved(ra, rb, a, b, keys), 1/float64(n+1)
			t.Logf("%d -> %d nodes: %.3f of keys moved (ideal %.3f)", n, n+1, m, ideal)
			if m < ideal*0.9 || m > ideal*1.2 {
				t.Errorf("moved %.3f, want within [0.9, 1.2] x %.3f", m, ideal)
			}
		})
	}
}

// TestConsistentMatchesLibrary checks that the frozen partition table
// answers what buraksezer/consistent's LocateKey answers.
func TestConsistentMatchesLibrary(t *testing.T) {
	nodes := []Node{{"a", 1}, {"b", 3}, {"c", 2}}
	p := defaultConsistentParams()
	r, err := newConsistent("", nodes, p)
	if err != nil {
		t.Fatal(err)
	}
	var members []consistent.Member
	for i, n := range nodes {
		for k := range n.Weight {
			members = append(members, member{name: fmt.Sprintf("%s#%d#", n.Name, k), node: int32(i)})
		}
	}
	c := consistent.New(members, consistent.Config{
		Hasher: xxHasher{}, PartitionCount: p.partitions, ReplicationFactor: p.replication, Load: p.load,
	})
	for _, k := range randomKeys(20000, 2) {
		if got, want := r.Pick(k), int(c.LocateKey(k).(member).node); got != want {
			t.Fatalf("key %q: Pick %d, LocateKey %d", k, got, want)
		}
	}
}

// TestConsistentWeights checks that keys follow weights, and that raising
// one node's weight moves not much more than the share that node gains
// (bounded loads move a few keys between the other nodes too).
func TestConsistentWeights(t *testing.T) {
	keys := randomKeys(60000, 3)
	before := []Node{{"a", 1}, {"b", 1}, {"c", 1}}
	after := []Node{{"a", 1}, {"b", 3}, {"c", 1}}
	rb := mustNew(t, Consistent, "", "", before)
	ra := mustNew(t, Consistent, "", "", after)
	count := make([]int, 3)
	for _, k := range keys {
		count[ra.Pick(k)]++
	}
	share := float64(count[1]) / float64(len(keys))
	if share < 0.57 || share > 0.63 {
		t.Errorf("node of weight 3 of 5 holds %.3f of keys, want about 0.6", share)
	}
	m, gained := moved(rb, ra, before, after, keys), 3.0/5-1.0/3
	t.Logf("weight 1 -> 3 moved %.3f of keys; the node gained %.3f", m, gained)
	if m > gained*1.3 {
		t.Errorf("moved %.3f of keys, want <= 1.3 x %.3f", m, gained)
	}
}
