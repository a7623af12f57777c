package hashring

// modula is nutcracker's modula distribution: every server owns as many
// consecutive entries of a table as its weight, in nutcracker's server
// order, and a key goes to entry hash % len(table).
type modula struct {
	hash  hashKind
	tag   string
	table []int32 // configuration index per entry
}

func newModula(hash hashKind, tag string, nodes []Node) Ring {
	if len(nodes) == 1 {
		return single{}
	}
	r := &modula{hash: hash, tag: tag}
	for _, idx := range nutcrackerOrder(nodes) {
		for range nodes[idx].Weight {
			r.table = append(r.table, int32(idx))
		}
	}
	return r
}

// Pick implements Ring.
func (r *modula) Pick(key []byte) int {
	k := HashTag(key, r.tag)
	var h uint32 // nutcracker hashes an empty key to 0
	if len(k) > 0 {
		h = r.hash.sum(k)
	}
	return int(r.table[h%uint32(len(r.table))])
}
