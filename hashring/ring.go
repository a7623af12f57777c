package hashring

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// Distribution names accepted by New.
const (
	Consistent = "consistent" // buraksezer/consistent with xxhash; the default
	Ketama     = "ketama"     // nutcracker-compatible ketama continuum
	Modula     = "modula"     // nutcracker-compatible hash modulo total weight
)

// DefaultHash is the key hash New uses for ketama and modula when none is
// given: nutcracker's default, fnv1a_64.
const DefaultHash = "fnv1a_64"

// MaxWeight is the largest weight a node may have.
const MaxWeight = 1 << 16

// Errors returned by New and HashFunc, wrapped with the offending value.
var (
	ErrNoNodes             = errors.New("hashring: no nodes")
	ErrUnknownDistribution = errors.New("hashring: unknown distribution")
	ErrUnknownHash         = errors.New("hashring: unknown hash")
	ErrBadHashTag          = errors.New("hashring: hash tag must be empty or two characters")
	ErrBadNode             = errors.New("hashring: invalid node")
	ErrDuplicateNode       = errors.New("hashring: duplicate node name")
)

// Node is one server of a pool, in configured order.
//
// Name is what the placement hashes: the server's configured name, or,
// when it has none, nutcracker's default (see DefaultNodeName). Weight is
// the server's relative share of keys, 1..MaxWeight.
type Node struct {
	Name   string
	Weight int
}

// DefaultNodeName returns the name nutcracker gives a server configured
// without one: "host:port", or just "host" when port is 11211 (kept by
// nutcracker for libmemcached ketama compatibility). The weight is never
// part of the name.
func DefaultNodeName(host string, port int) string {
	if port == 11211 {
		return host
	}
	return host + ":" + strconv.Itoa(port)
}

// Ring places keys on the nodes of one pool. Implementations are immutable
// after New, so Pick is safe for concurrent use without locks; a topology
// change builds a new Ring.
type Ring interface {
	// Pick returns the index, in the nodes slice given to New (configuration
	// order), of the node that owns key. The hash tag, if any, is applied
	// first. Pick does not allocate.
	Pick(key []byte) int
}

// New builds the Ring of nodes for a distribution ("consistent", the
// default when empty; "ketama"; "modula"), a key hash (see HashFunc; empty
// means fnv1a_64 for ketama and modula; consistent always hashes with
// xxhash and accepts only "" or "xxhash") and a hash tag ("" for none, or
// two characters such as "{}").
//
// ketama and modula place every key on the server nutcracker 0.5 would pick
// for the same server list: like nutcracker, they order the servers by name
// (shorter names first, then bytewise), and a pool of one server or an
// empty (hashed part of a) key always maps to the first such server.
// Node names must be unique and non-empty; weights are 1..MaxWeight, and
// a consistent pool's weights may add up to at most 256 (see doc.go).
func New(distribution, hash string, hashTag string, nodes []Node) (Ring, error) {
	if len(nodes) == 0 {
		return nil, ErrNoNodes
	}
	if len(hashTag) != 0 && len(hashTag) != 2 {
		return nil, fmt.Errorf("%w: %q", ErrBadHashTag, hashTag)
	}
	seen := make(map[string]struct{}, len(nodes))
	for i, n := range nodes {
		if n.Name == "" {
			return nil, fmt.Errorf("%w: node %d has an empty name", ErrBadNode, i)
		}
		if n.Weight < 1 || n.Weight > MaxWeight {
			return nil, fmt.Errorf("%w: node %q has weight %d, want 1..%d", ErrBadNode, n.Name, n.Weight, MaxWeight)
		}
		if _, dup := seen[n.Name]; dup {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateNode, n.Name)
		}
		seen[n.Name] = struct{}{}
	}

	switch distribution {
	case "", Consistent:
		if hash != "" && hash != "xxhash" {
			return nil, fmt.Errorf("%w %q for distribution consistent (it always uses xxhash)", ErrUnknownHash, hash)
		}
		return newConsistent(hashTag, nodes, defaultConsistentParams())
	case Ketama, Modula:
		if hash == "" {
			hash = DefaultHash
		}
		h, err := hashKindOf(hash)
		if err != nil {
			return nil, err
		}
		if distribution == Ketama {
			return newKetama(h, hashTag, nodes)
		}
		return newModula(h, hashTag, nodes), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownDistribution, distribution)
}

// nutcrackerOrder returns the indexes of nodes in the order nutcracker
// keeps its servers after loading the configuration: sorted by name with
// its string_compare (length first, then bytes). Names are unique, so the
// order is total.
func nutcrackerOrder(nodes []Node) []int {
	order := make([]int, len(nodes))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		na, nb := nodes[a].Name, nodes[b].Name
		if c := cmp.Compare(len(na), len(nb)); c != 0 {
			return c
		}
		return cmp.Compare(na, nb)
	})
	return order
}

// single is the Ring of a one-node pool: nutcracker does not even hash.
type single struct{}

func (single) Pick([]byte) int { return 0 }
