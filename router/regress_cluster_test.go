package router

// Regression tests for cluster pools (issue 14; docs/regressions.md): ASK
// must not touch the slot map, and the CLUSTERDOWN texts are Redis's own.

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/hashring"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// migrationNode is an in-process cluster node in the middle of a slot
// migration, as Redis behaves: the source (importing == false) claims every
// slot, answers keys it still has (here:*) and sends ASK for keys that moved
// (ask:*); the target (importing == true) answers ask:* only right after
// ASKING and sends MOVED back to the source for anything else.
type migrationNode struct {
	addr      string
	importing bool
	peer      string       // the other node's address
	shardsN   atomic.Int32 // CLUSTER SHARDS calls answered
	unasked   atomic.Int32 // commands without ASKING reaching the target
	mu        sync.Mutex
	seen      []string
}

func startMigrationNode(t *testing.T, importing bool) *migrationNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &migrationNode{addr: ln.Addr().String(), importing: importing}
	asking := map[redcon.Conn]bool{}
	var amu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		redcon.Serve(ln, func(conn redcon.Conn, cmd redcon.Command) {
			name := strings.ToLower(string(cmd.Args[0]))
			key := ""
			if len(cmd.Args) > 1 {
				key = string(cmd.Args[1])
			}
			amu.Lock()
			asked := asking[conn]
			delete(asking, conn)
			amu.Unlock()
			n.mu.Lock()
			n.seen = append(n.seen, fmt.Sprintf("%s %s asked=%v", name, key, asked))
			n.mu.Unlock()
			slot := int(hashring.Slot([]byte(key)))
			switch {
			case name == "cluster" && strings.EqualFold(key, "shards"):
				if n.shardsN.Add(1) > 1 {
					// Slow refreshes: a map wrongly changed by a redirect
					// stays wrong long enough for the next command to use it.
					time.Sleep(300 * time.Millisecond)
				}
				src := n.addr
				if n.importing {
					src = n.peer
				}
				writeShards(conn, src)
			case name == "ping":
				conn.WriteString("PONG")
			case name == "asking":
				amu.Lock()
				asking[conn] = true
				amu.Unlock()
				conn.WriteString("OK")
			case name == "get" && strings.HasPrefix(key, "down:"):
				conn.WriteError("CLUSTERDOWN The cluster is down")
			case !n.importing && name == "get" && strings.HasPrefix(key, "ask:"):
				conn.WriteError(fmt.Sprintf("ASK %d %s", slot, n.peer))
			case !n.importing && name == "get":
				conn.WriteBulkString("from source")
			case n.importing && asked && name == "get" && strings.HasPrefix(key, "ask:"):
				conn.WriteBulkString("from target")
			case n.importing:
				n.unasked.Add(1)
				conn.WriteError(fmt.Sprintf("MOVED %d %s", slot, n.peer))
			default:
				conn.WriteError("ERR unexpected " + name)
			}
		}, nil, func(conn redcon.Conn, err error) {
			amu.Lock()
			delete(asking, conn)
			amu.Unlock()
		})
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return n
}

// writeShards answers CLUSTER SHARDS: addr serves every slot.
func writeShards(conn redcon.Conn, addr string) {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	conn.WriteArray(1)
	conn.WriteArray(4)
	conn.WriteBulkString("slots")
	conn.WriteArray(2)
	conn.WriteInt(0)
	conn.WriteInt(16383)
	conn.WriteBulkString("nodes")
	conn.WriteArray(1)
	conn.WriteArray(12)
	for _, kv := range [][2]string{{"id", "n-" + port}, {"ip", host}, {"endpoint", host}, {"role", "master"}, {"health", "online"}} {
		conn.WriteBulkString(kv[0])
		conn.WriteBulkString(kv[1])
	}
	conn.WriteBulkString("port")
	conn.WriteInt(p)
}

func (n *migrationNode) log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.seen, "; ")
}

// ASK during a migration sends ASKING and the command to the target for
// that one command only: the slot map stays, so the next command of the
// slot goes to the source again and the target never sees a command
// without ASKING. CLUSTERDOWN from a node reaches the client unchanged.
func TestClusterAskLeavesSlotMap(t *testing.T) {
	src := startMigrationNode(t, false)
	dst := startMigrationNode(t, true)
	src.peer, dst.peer = dst.addr, src.addr
	pc := config.Default("migrating")
	pc.Mode = config.ModeCluster
	pc.Hash, pc.Distribution = "", ""
	pc.Listen = "127.0.0.1:0"
	pc.Timeout = 2 * time.Second
	pc.ClusterRefreshInterval = time.Hour
	pc.Servers = []config.Server{{Addr: src.addr, Weight: 1, Name: src.addr}}
	p := serve(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
	c := dialRaw(t, p)
	for i := range 5 {
		tag := fmt.Sprintf("{s%d}", i)
		c.send(fmt.Sprintf("*2\r\n$3\r\nGET\r\n$%d\r\nask:%s\r\n", 4+len(tag), tag))
		c.mustReply("$11\r\nfrom target\r\n")
		c.send(fmt.Sprintf("*2\r\n$3\r\nGET\r\n$%d\r\nhere:%s\r\n", 5+len(tag), tag))
		c.mustReply("$11\r\nfrom source\r\n")
	}
	if n := dst.unasked.Load(); n != 0 {
		t.Fatalf("the importing node got %d commands without ASKING: an ASK changed the slot map\n(target saw: %s)", n, dst.log())
	}
	c.send("*2\r\n$3\r\nGET\r\n$6\r\ndown:x\r\n")
	c.mustReply("-CLUSTERDOWN The cluster is down\r\n")
}

// redisUnboundSlotReply returns what a real Redis Cluster node answers for
// a key of a slot no node serves (cluster-require-full-coverage no): a
// one-node cluster that serves slot 0 only, asked for a key of slot 12182.
func redisUnboundSlotReply(t *testing.T) string {
	t.Helper()
	r := testenv.StartRedis(t, "--cluster-enabled", "yes", "--cluster-require-full-coverage", "no",
		"--cluster-config-file", "nodes-ref.conf")
	if _, err := testenv.Do(r.Addr, "CLUSTER", "ADDSLOTS", "0"); err != nil {
		t.Fatal(err)
	}
	var reply string
	testenv.WaitFor(t, 10*time.Second, func() bool {
		nc, err := net.Dial("tcp", r.Addr)
		if err != nil {
			return false
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(2 * time.Second))
		nc.Write([]byte("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n")) // slot 12182
		buf := make([]byte, 256)
		n, _ := nc.Read(buf)
		reply = string(buf[:n])
		return strings.HasPrefix(reply, "-CLUSTERDOWN") && !strings.Contains(reply, "The cluster is down")
	}, "a one-slot cluster node to refuse an unserved slot")
	return reply
}
