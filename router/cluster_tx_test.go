package router

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// TestClusterTx runs transactions and blocking commands through a cluster
// pool (3 masters, 3 replicas): the seed's TxPipelined, CROSSSLOT between
// two slots of one node, MOVED followed while binding, BLPOP, WAIT.
func TestClusterTx(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 1)
	p := startClusterProxy(t, cl, func(pc *config.Pool) { pc.ClusterRefreshInterval = time.Hour })
	c := client(t, p)
	cmds, err := c.TxPipelined(ctx(), func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx(), "{user:1000}:profile", "name", "Ada")
		pipe.Incr(ctx(), "{user:1000}:visits")
		pipe.HGet(ctx(), "{user:1000}:profile", "name")
		return nil
	})
	if err != nil || cmds[1].(*redis.IntCmd).Val() != 1 || cmds[2].(*redis.StringCmd).Val() != "Ada" {
		t.Fatalf("TxPipelined: %v %v", cmds, err)
	}
	// Two slots, even of one node: CROSSSLOT inside MULTI, then EXECABORT.
	got := txExchange(t, p.Addr(), [][]string{{"MULTI"}, {"SET", "{a}1", "x"}, {"SET", "{b}1", "x"}, {"EXEC"}})
	if got[2] != "-"+errCrossSlot+"\r\n" || got[3] != "-"+errExecAbort+"\r\n" {
		t.Fatalf("CROSSSLOT in a cluster transaction: %q", got)
	}

	// MOVED while binding: move an empty slot behind the proxy's back.
	key := "{moved}k"
	slot := int(hashring.Slot([]byte(key)))
	src := p.backendCluster().Master(slot).Addr()
	var dst string
	for _, m := range cl.Masters(t) {
		if m.Addr != src {
			dst = m.Addr
			break
		}
	}
	dstID := nodeID(t, direct(t, dst))
	for _, m := range cl.Masters(t) {
		must(t, direct(t, m.Addr).Do(ctx(), "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
	moved := testutil.ToFloat64(p.m.RedirectMoved)
	got = txExchange(t, p.Addr(), [][]string{{"MULTI"}, {"SET", key, "1"}, {"INCR", key}, {"EXEC"}})
	if got[1] != "+QUEUED\r\n" || got[3] != "*2\r\n+OK\r\n:2\r\n" {
		t.Fatalf("transaction on a moved slot: %q", got)
	}
	if v := direct(t, dst).Get(ctx(), key).Val(); v != "2" {
		t.Fatalf("value on the new owner = %q", v)
	}
	if testutil.ToFloat64(p.m.RedirectMoved) <= moved {
		t.Fatal("the MOVED was not followed")
	}

	// A large SET as the first keyed command, after a keyless one queued
	// before the binding (MULTI and that one go as a request of their
	// own, the SET as the client sent it), on another slot moved behind
	// the proxy's back: the MOVED is followed and the value arrives whole.
	key = "{moved2}k"
	slot = int(hashring.Slot([]byte(key)))
	src = p.backendCluster().Master(slot).Addr()
	for _, m := range cl.Masters(t) {
		if m.Addr != src {
			dst = m.Addr
			break
		}
	}
	dstID = nodeID(t, direct(t, dst))
	for _, m := range cl.Masters(t) {
		must(t, direct(t, m.Addr).Do(ctx(), "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
	big := strings.Repeat("b", 2*bigValue+3)
	got = txExchange(t, p.Addr(), [][]string{{"MULTI"}, {"EVAL", "return 'e'", "0"}, {"SET", key, big}, {"STRLEN", key}, {"EXEC"}})
	if want := fmt.Sprintf("*3\r\n$1\r\ne\r\n+OK\r\n:%d\r\n", len(big)); got[2] != "+QUEUED\r\n" || got[4] != want {
		t.Fatalf("large SET opening a transaction on a moved slot: %q, %q", got[2], got[4])
	}
	if v := direct(t, dst).StrLen(ctx(), key).Val(); v != int64(len(big)) {
		t.Fatalf("length on the new owner = %d", v)
	}

	// BLPOP woken by a push, WAIT with a replica behind every master.
	done := make(chan string, 1)
	go func() {
		c2 := client(t, p)
		v, err := c2.BLPop(ctx(), 0, "{job}q").Result()
		if err != nil {
			t.Errorf("BLPOP: %v", err)
		}
		done <- strings.Join(v, ",")
	}()
	waitBlocked(t, p, 1)
	c.LPush(ctx(), "{job}q", "j")
	if v := <-done; v != "{job}q,j" {
		t.Fatalf("BLPOP = %q", v)
	}
	c.Set(ctx(), "w", "1", 0)
	if n, err := c.Do(ctx(), "WAIT", "1", "2000").Int(); err != nil || n != 1 {
		t.Fatalf("WAIT = %d %v", n, err)
	}
}

// TestClusterReshardUnderTx moves a slot between masters while clients run
// transactions on its keys: every transaction either applies whole or not
// at all (the proxy never retries half of one elsewhere).
func TestClusterReshardUnderTx(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 0)
	p := startClusterProxy(t, cl, nil)
	const tag = "{resh}"
	slot := int(hashring.Slot([]byte(tag)))
	src := p.backendCluster().Master(slot).Addr()
	var dst string
	for _, a := range cl.Addrs {
		if a != src {
			dst = a
			break
		}
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(t, p)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.TxPipelined(ctx(), func(pipe redis.Pipeliner) error {
					pipe.Incr(ctx(), tag+"a")
					pipe.Incr(ctx(), tag+"b")
					return nil
				})
				if err == nil {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	srcC, dstC := direct(t, src), direct(t, dst)
	srcID, dstID := nodeID(t, srcC), nodeID(t, dstC)
	must(t, dstC.Do(ctx(), "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(t, srcC.Do(ctx(), "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	time.Sleep(100 * time.Millisecond)
	for {
		keys := srcC.Do(ctx(), "CLUSTER", "GETKEYSINSLOT", slot, 100).Val().([]any)
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", dstHost(dst), dstPort(dst), "", 0, 5000, "KEYS"}
		args = append(args, keys...)
		must(t, srcC.Do(ctx(), args...).Err())
	}
	for _, a := range cl.Addrs {
		must(t, direct(t, a).Do(ctx(), "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	a, _ := dstC.Get(ctx(), tag+"a").Int64()
	b, _ := dstC.Get(ctx(), tag+"b").Int64()
	t.Logf("transactions: %d applied, %d failed; a=%d b=%d", ok.Load(), failed.Load(), a, b)
	if a != b || a != ok.Load() {
		t.Fatalf("a=%d b=%d, %d transactions succeeded: one applied in part", a, b, ok.Load())
	}
	if ok.Load() == 0 {
		t.Fatal("no transaction succeeded")
	}
}

// TestClusterTxManyClients is TestTxManyClients through a cluster pool (3
// masters, 3 replicas): 10,000 transactions from 50 clients, interleaved
// with plain commands on other slots, every reply correct and in order.
func TestClusterTxManyClients(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 1)
	p := startClusterProxy(t, cl, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	manyTx(t, p.Addr())
}

// TestClusterTxClientsLeave runs the leaving-client checks through a
// cluster pool (3 masters, 3 replicas): a client killed inside MULTI leaves
// nothing applied and its connection gone from the master; a client that
// leaves while blocked pops nothing; and WATCH with a concurrent writer
// makes EXEC answer nil.
func TestClusterTxClientsLeave(t *testing.T) {
	cl := testenv.StartCluster(t, 3, 1)
	p := startClusterProxy(t, cl, nil)
	master := func(key string) *redis.Client {
		return direct(t, p.backendCluster().Master(int(hashring.Slot([]byte(key)))).Addr())
	}

	nc := dialRaw(t, p)
	nc.send(string(resp.AppendCommand(nil, "MULTI")) + string(resp.AppendCommand(nil, "SET", "{k}a", "1")) +
		string(resp.AppendCommand(nil, "SET", "{k}b", "1")))
	nc.mustReply("+OK\r\n")
	nc.mustReply("+QUEUED\r\n")
	nc.mustReply("+QUEUED\r\n")
	shard := master("{k}a")
	waitFor(t, "the transaction's connection on the master", func() bool {
		return strings.Contains(shard.ClientList(ctx()).Val(), "flags=x")
	})
	nc.nc.Close()
	waitFor(t, "the master to drop the transaction", func() bool {
		return !strings.Contains(shard.ClientList(ctx()).Val(), "flags=x")
	})
	if n := shard.Exists(ctx(), "{k}a", "{k}b").Val(); n != 0 {
		t.Fatalf("%d keys of the killed transaction exist", n)
	}

	bc := dialRaw(t, p)
	bc.send(string(resp.AppendCommand(nil, "BLPOP", "{q}gone", "0")))
	waitBlocked(t, p, 1)
	shard = master("{q}gone")
	waitFor(t, "BLPOP blocked on the master", func() bool {
		return strings.Contains(shard.Info(ctx(), "clients").Val(), "blocked_clients:1")
	})
	bc.nc.Close()
	waitFor(t, "the master to unblock", func() bool {
		return strings.Contains(shard.Info(ctx(), "clients").Val(), "blocked_clients:0")
	})
	waitBlocked(t, p, 0)
	c := client(t, p)
	must(t, c.LPush(ctx(), "{q}gone", "x").Err())
	if n := c.LLen(ctx(), "{q}gone").Val(); n != 1 {
		t.Fatalf("LLEN = %d after the blocked client left, want 1", n)
	}

	other := client(t, p)
	for _, interfere := range []bool{false, true} {
		err := c.Watch(ctx(), func(tx *redis.Tx) error {
			if interfere {
				must(t, other.Incr(ctx(), "{user:1000}:balance").Err())
			}
			_, err := tx.TxPipelined(ctx(), func(pipe redis.Pipeliner) error {
				pipe.Set(ctx(), "{user:1000}:balance", "10", 0)
				return nil
			})
			return err
		}, "{user:1000}:balance")
		if interfere && err != redis.TxFailedErr || !interfere && err != nil {
			t.Fatalf("WATCH, interfering writer %v: EXEC error %v", interfere, err)
		}
	}
	if v := c.Get(ctx(), "{user:1000}:balance").Val(); v != "11" {
		t.Fatalf("balance = %q, want 11 (10, then the interfering INCR)", v)
	}
}
