package hashring

import (
	"fmt"
	"math"
	"strconv"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// Parameters of the consistent distribution, chosen by measurement (see
// doc.go and TestConsistentParameters).
const (
	consistentPartitions  = 7919 // prime; the Pick table has this many entries
	consistentReplication = 100  // ring points per weight unit of a node
	consistentLoad        = 1.01 // bound on a member's partitions over the mean
	// consistentMaxWeight bounds the total weight (members) of a consistent
	// pool: buraksezer/consistent re-sorts its whole ring for every member
	// it adds, so building takes time quadratic in the total weight (about
	// 50 ms for 100 members and 0.35 s for 256 on a 2-core test machine).
	consistentMaxWeight = 256
)

// consistentParams is one choice of buraksezer/consistent's Config knobs.
type consistentParams struct {
	partitions  int
	replication int
	load        float64
}

func defaultConsistentParams() consistentParams {
	return consistentParams{consistentPartitions, consistentReplication, consistentLoad}
}

// consistentRing is a buraksezer/consistent ring frozen into a table: the
// owner of every partition is resolved once in New, so Pick is one xxhash,
// one modulo and one load, with no lock and no allocation.
type consistentRing struct {
	tag   string
	table []int32 // partition -> configuration index
}

// member is one weight unit of a node on the consistent ring.
type member struct {
	name string
	node int32
}

func (m member) String() string { return m.name }

type xxHasher struct{}

func (xxHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// newConsistent builds the ring. A node of weight w contributes w members
// named "<name>#<k>#" (k < w), so its share of partitions is proportional to
// its weight and a node keeps its members when other weights change. The
// trailing '#' keeps buraksezer's replica names ("<member><i>") distinct
// across members.
func newConsistent(tag string, nodes []Node, p consistentParams) (r Ring, err error) {
	total := 0
	for _, n := range nodes {
		total += n.Weight
	}
	// buraksezer/consistent panics when the bounded loads cannot hold every
	// partition; check the same arithmetic first so New can return an error.
	perMember := math.Ceil(float64(p.partitions/total) * p.load)
	if total > consistentMaxWeight || float64(total)*perMember < float64(p.partitions) {
		return nil, fmt.Errorf("%w: total weight %d is too large for the consistent distribution (max %d)",
			ErrBadNode, total, consistentMaxWeight)
	}
	members := make([]consistent.Member, 0, total)
	names := make(map[string]struct{}, total)
	for i, n := range nodes {
		for k := range n.Weight {
			name := n.Name + "#" + strconv.Itoa(k) + "#"
			if _, dup := names[name]; dup {
				return nil, fmt.Errorf("%w: %q collides with another node's member %q", ErrDuplicateNode, n.Name, name)
			}
			names[name] = struct{}{}
			members = append(members, member{name: name, node: int32(i)})
		}
	}
	defer func() {
		// Belt and braces for any other panic inside the library.
		if v := recover(); v != nil {
			r, err = nil, fmt.Errorf("hashring: building consistent ring: %v", v)
		}
	}()
	c := consistent.New(members, consistent.Config{
		Hasher:            xxHasher{},
		PartitionCount:    p.partitions,
		ReplicationFactor: p.replication,
		Load:              p.load,
	})
	cr := &consistentRing{tag: tag, table: make([]int32, p.partitions)}
	for part := range cr.table {
		owner, ok := c.GetPartitionOwner(part).(member)
		if !ok {
			return nil, fmt.Errorf("hashring: consistent ring left partition %d without owner", part)
		}
		cr.table[part] = owner.node
	}
	return cr, nil
}

// Pick implements Ring. It computes what consistent.LocateKey would return:
// the owner of partition xxhash(key) % partitions.
func (r *consistentRing) Pick(key []byte) int {
	h := xxhash.Sum64(HashTag(key, r.tag))
	return int(r.table[h%uint64(len(r.table))])
}
