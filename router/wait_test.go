package router

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// replicaOf returns the running node of nodes that replicates master.
func replicaOf(t *testing.T, nodes []*testenv.Redis, master *testenv.Redis) *testenv.Redis {
	t.Helper()
	for _, n := range nodes {
		info := direct(t, n.Addr).Info(ctx(), "replication").Val()
		if strings.Contains(info, "role:slave") && strings.Contains(info, "master_port:"+strconv.Itoa(master.Port)+"\r\n") {
			return n
		}
	}
	t.Fatalf("no replica of %s", master.Addr)
	return nil
}

// checkWaitWaits runs the WAIT checks of one shard: a write through the
// proxy then WAIT 1 5000 answers 1; with the shard's replica stopped, a
// write then WAIT 1 500 answers 0 after the 500 ms, which proves that the
// proxy's WAIT covers the write made on the shared connection; after the
// replica resumes, WAIT 1 5000 answers 1 again.
//
// markCmd is the command of the proxy's wait mark that the replica
// executes (DEL of the cluster's EVAL, the ring's PUBLISH): the test checks
// that one WAIT replicated exactly one, which is what makes WAIT correct on
// servers that move a connection's offset only when it propagates (7.0
// moves it after any command).
func checkWaitWaits(t *testing.T, p *Pool, key string, replica *testenv.Redis, markCmd string) {
	t.Helper()
	c := client(t, p)
	must(t, c.Set(ctx(), key, "v1", 0).Err())
	before := cmdCalls(t, replica.Addr, markCmd)
	if n, err := c.Do(ctx(), "WAIT", "1", "5000").Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 5000 after SET = %d %v", n, err)
	}
	if after := cmdCalls(t, replica.Addr, markCmd); after != before+1 {
		t.Fatalf("the replica ran %s %d times for one WAIT, want once", markCmd, after-before)
	}
	replica.Pause()
	resumed := false
	defer func() {
		if !resumed {
			replica.Resume()
		}
	}()
	must(t, c.Set(ctx(), key, "v2", 0).Err())
	start := time.Now()
	n, err := c.Do(ctx(), "WAIT", "1", "500").Int()
	took := time.Since(start)
	if err != nil || n != 0 {
		t.Fatalf("WAIT 1 500 with the replica stopped = %d %v after %v", n, err, took)
	}
	if took < 480*time.Millisecond || took > 5*time.Second { // the upper bound only catches a hang; the machine may be loaded
		t.Fatalf("WAIT 1 500 with the replica stopped returned after %v", took)
	}
	t.Logf("WAIT 1 500 with the replica stopped: 0 after %v", took.Round(time.Millisecond))
	replica.Resume()
	resumed = true
	must(t, c.Set(ctx(), key, "v3", 0).Err())
	if n, err := c.Do(ctx(), "WAIT", "1", "5000").Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 5000 after the replica resumed = %d %v", n, err)
	}
}

// cmdCalls returns how many times the server at addr ran cmd.
func cmdCalls(t *testing.T, addr, cmd string) int {
	t.Helper()
	info := direct(t, addr).Info(ctx(), "commandstats").Val()
	_, rest, ok := strings.Cut(info, "cmdstat_"+cmd+":calls=")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	must(t, err)
	return n
}

// noReservedKeys fails if a key of the proxy's own remains on addr.
func noReservedKeys(t *testing.T, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		if keys := direct(t, a).Keys(ctx(), "*shardproxy*").Val(); len(keys) != 0 {
			t.Fatalf("%s keeps the proxy's keys %q", a, keys)
		}
	}
}

// TestClusterWait checks WAIT through a cluster pool (3 masters, 3
// replicas): it waits for the replica of the master that owns the key the
// client wrote, and leaves no key behind.
func TestClusterWait(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 1)
	p := startClusterProxy(t, cl, nil)
	key := "{wait}k"
	owner := p.backendCluster().Master(int(hashring.Slot([]byte(key)))).Addr()
	var master *testenv.Redis
	for _, n := range cl.Nodes {
		if n.Addr == owner {
			master = n
		}
	}
	checkWaitWaits(t, p, key, replicaOf(t, cl.Nodes, master), "del")
	noReservedKeys(t, cl.Addrs...)

	// The mark runs on the connection that holds the session's WATCH: the
	// WATCH must survive it, so a concurrent change still aborts EXEC.
	for _, change := range []bool{false, true} {
		rc := dialRaw(t, p)
		for _, cmd := range [][]string{{"SET", "{wait}other", "1"}, {"WATCH", key}, {"WAIT", "1", "5000"}} {
			rc.send(string(resp.AppendCommand(nil, cmd...)))
		}
		rc.mustReply("+OK\r\n")
		rc.mustReply("+OK\r\n")
		rc.mustReply(":1\r\n")
		if change {
			must(t, client(t, p).Set(ctx(), key, "changed", 0).Err())
		}
		rc.send(string(resp.AppendCommand(nil, "MULTI")) + string(resp.AppendCommand(nil, "SET", key, "tx")) + string(resp.AppendCommand(nil, "EXEC")))
		rc.mustReply("+OK\r\n")
		rc.mustReply("+QUEUED\r\n")
		if change {
			rc.mustReply("*-1\r\n")
		} else {
			rc.mustReply("*1\r\n+OK\r\n")
		}
	}
	noReservedKeys(t, cl.Addrs...)
}

// TestRingWaitWaits is TestClusterWait for a ring shard with a replica.
func TestRingWaitWaits(t *testing.T) {
	master := testenv.StartRedis(t)
	replica := testenv.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	waitFor(t, "the replica", func() bool {
		return strings.Contains(master.Client(t).Info(ctx(), "replication").Val(), "state=online")
	})
	p := startProxy(t, []*testenv.Redis{master}, nil)
	checkWaitWaits(t, p, "k", replica, "publish")
	noReservedKeys(t, master.Addr)
}

// TestSlotTags checks the cluster wait mark's tag table: every slot has a
// tag, and the tag hashes to its slot.
func TestSlotTags(t *testing.T) {
	var st slotTags
	largest := uint32(0)
	for slot := 0; slot < hashring.SlotCount; slot++ {
		tag := st.tag(nil, slot)
		if got := int(hashring.Slot(tag)); got != slot {
			t.Fatalf("tag %q of slot %d is in slot %d", tag, slot, got)
		}
		key := append([]byte(waitKeyPrefix), tag...)
		if got := int(hashring.Slot(append(key, '}', 'x'))); got != slot {
			t.Fatalf("key %q of slot %d is in slot %d", key, slot, got)
		}
		largest = max(largest, st.n[slot])
	}
	t.Logf("largest tag: %d", largest)
}
