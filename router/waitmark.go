package router

import (
	"strconv"
	"sync"

	"github.com/shardproxy/shardproxy/backend"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/resp"
)

// The wait mark. WAIT counts the replicas that acknowledged the calling
// connection's replication offset (c->woff in Redis), but the client's
// writes went over shared connections, so the proxy's WAIT runs on a
// dedicated connection after one command that moves that connection's
// offset to the shard's current one. redis-server 7.0 sets c->woff after
// every command, but later servers only after a command that propagated to
// the replicas, so the mark must be one the shard replicates, and one that
// leaves no data behind:
//
//   - ring: PUBLISH on a channel of the proxy's. A standalone server
//     replicates PUBLISH; it touches no key, needs no memory and no key
//     permission.
//   - cluster: a cluster node sends PUBLISH over the cluster bus, not the
//     replication stream, so the mark is an EVAL that sets and deletes a
//     key of the proxy's in a slot the node owns: the script's effects
//     (SET, DEL) replicate, the key is gone when EVAL returns, and unlike
//     MULTI/EXEC it leaves a WATCH the session holds on that connection
//     alone. Keyspace notifications, if enabled, see the set and the del.
//     It fails (and on such servers WAIT then counts replicas against an
//     older offset) only when the node refuses the SET: maxmemory reached
//     with noeviction, or a slot that moved since the proxy's map.

// ringWaitMark is the ring's mark, the same for every shard.
var ringWaitMark = resp.AppendCommand(nil, "PUBLISH", "__shardproxy:wait", "")

func (t *ringTopo) waitMark(dst []byte, _ *backend.Server) []byte {
	return append(dst, ringWaitMark...)
}

// waitScript sets and deletes KEYS[1]; EVAL replicates both effects.
const waitScript = "redis.call('set',KEYS[1],'1') redis.call('del',KEYS[1])"

// waitKeyPrefix starts the cluster mark's key; a hash tag naming the slot
// follows.
const waitKeyPrefix = "__shardproxy:wait:{"

func (t *clusterTopo) waitMark(dst []byte, srv *backend.Server) []byte {
	slot := 0 // srv owns no slot now: the EVAL gets MOVED, harmlessly
	for i := 0; i < hashring.SlotCount; i++ {
		if t.c.Master(i) == srv {
			slot = i
			break
		}
	}
	key := append([]byte(waitKeyPrefix), t.tags.tag(nil, slot)...)
	key = append(key, '}')
	return resp.AppendCommandBytes(dst, [][]byte{[]byte("EVAL"), []byte(waitScript), []byte("1"), key})
}

// slotTags names, for every hash slot, a short hash tag in that slot: the
// smallest decimal number whose CRC16 is the slot. The table (64 KiB) is
// built on first use, so a pool that never runs WAIT does not pay it.
type slotTags struct {
	once sync.Once
	n    *[hashring.SlotCount]uint32
}

// tag appends the tag of slot to dst.
func (st *slotTags) tag(dst []byte, slot int) []byte {
	st.once.Do(st.build)
	return strconv.AppendUint(dst, uint64(st.n[slot]), 10)
}

func (st *slotTags) build() {
	n := new([hashring.SlotCount]uint32)
	var seen [hashring.SlotCount]bool
	left := hashring.SlotCount
	var buf []byte
	for i := uint32(0); left > 0; i++ {
		buf = strconv.AppendUint(buf[:0], uint64(i), 10)
		s := hashring.Slot(buf)
		if !seen[s] {
			seen[s], n[s] = true, i
			left--
		}
	}
	st.n = n
}
