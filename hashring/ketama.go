package hashring

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Constants of nutcracker 0.5's ketama (src/hashkit/nc_ketama.c).
const (
	ketamaPointsPerServer = 160 // points of a server of average weight
	ketamaPointsPerHash   = 4   // points taken from one md5 digest
	ketamaMaxHostLen      = 272 // longest "name-i" nutcracker hashes intact
)

// ketama is nutcracker's ketama continuum: points sorted by value, each
// naming the node (configuration index) that owns the arc ending there.
type ketama struct {
	hash   hashKind
	tag    string
	values []uint32 // sorted point values
	owners []int32  // owners[i] owns values[i]
}

// newKetama builds the continuum exactly as nutcracker's ketama_update
// does for a pool whose servers are all live.
func newKetama(hash hashKind, tag string, nodes []Node) (Ring, error) {
	if len(nodes) == 1 {
		return single{}, nil
	}
	total := 0
	for _, n := range nodes {
		total += n.Weight
	}
	type point struct {
		value uint32
		rank  int32 // position in nutcracker's server order, for ties
		owner int32
	}
	var points []point
	var buf []byte
	for rank, idx := range nutcrackerOrder(nodes) {
		n := nodes[idx]
		for i := range ketamaPoints(n.Weight, total, len(nodes)) / ketamaPointsPerHash {
			buf = strconv.AppendInt(append(append(buf[:0], n.Name...), '-'), int64(i), 10)
			if len(buf) > ketamaMaxHostLen {
				// nutcracker formats "name-i" into a fixed buffer and hashes
				// past its end when the text does not fit: refuse such names.
				return nil, fmt.Errorf("%w: node name %q is too long for ketama (%d bytes with its point suffix, max %d)",
					ErrBadNode, n.Name, len(buf), ketamaMaxHostLen)
			}
			digest := md5.Sum(buf)
			for x := range ketamaPointsPerHash {
				points = append(points, point{
					value: binary.LittleEndian.Uint32(digest[4*x:]),
					rank:  int32(rank),
					owner: int32(idx),
				})
			}
		}
	}
	// nutcracker qsorts by value alone, which leaves the owner of equal
	// values unspecified; ties (two md5 words equal) are broken by server
	// order here so the result is at least deterministic.
	slices.SortFunc(points, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.value, b.value), cmp.Compare(a.rank, b.rank))
	})
	r := &ketama{
		hash:   hash,
		tag:    tag,
		values: make([]uint32, len(points)),
		owners: make([]int32, len(points)),
	}
	for i, p := range points {
		r.values[i], r.owners[i] = p.value, p.owner
	}
	return r, nil
}

// ketamaPoints is the number of continuum points nutcracker gives a server
// of weight w in a pool of n live servers of total weight total. The
// arithmetic is single precision, step by step, as in nc_ketama.c: that is
// why a server of average weight can get 156 points instead of 160. The
// C code adds 1e-10 as a double and converts back to float, which cannot
// change a float32 of this magnitude, so it is not repeated here.
func ketamaPoints(w, total, n int) int {
	pct := float32(w) / float32(total)
	f := float32(pct * float32(ketamaPointsPerServer))
	f = float32(f / float32(ketamaPointsPerHash))
	f = float32(f * float32(n))
	return int(math.Floor(float64(f))) * ketamaPointsPerHash
}

// Pick implements Ring: the first point at or after the key's hash, wrapping
// to the first point past the end.
func (r *ketama) Pick(key []byte) int {
	k := HashTag(key, r.tag)
	var h uint32 // nutcracker hashes an empty key to 0
	if len(k) > 0 {
		h = r.hash.sum(k)
	}
	// Binary search for the first value >= h, as ketama_dispatch does.
	lo, hi := 0, len(r.values)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.values[mid] < h {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(r.values) {
		lo = 0
	}
	return int(r.owners[lo])
}
