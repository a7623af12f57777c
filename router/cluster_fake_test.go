package router

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shardproxy/shardproxy/config"
)

// fakeClusterNode is an in-process node that claims every slot and answers
// from a script, for redirect cases a real cluster cannot be made to show
// on demand.
type fakeClusterNode struct {
	addr     string
	tryagain atomic.Int32 // TRYAGAIN replies still to give
}

func startFakeClusterNode(t *testing.T) *fakeClusterNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeClusterNode{addr: ln.Addr().String()}
	host, port, _ := net.SplitHostPort(n.addr)
	go redcon.Serve(ln, func(conn redcon.Conn, cmd redcon.Command) {
		name := strings.ToLower(string(cmd.Args[0]))
		if len(cmd.Args) > 1 {
			name += " " + strings.ToLower(string(cmd.Args[1]))
		}
		switch {
		case name == "cluster shards":
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
			for _, kv := range [][2]string{{"id", "fake"}, {"ip", host}, {"endpoint", host}, {"role", "master"}, {"health", "online"}} {
				conn.WriteBulkString(kv[0])
				conn.WriteBulkString(kv[1])
			}
			conn.WriteBulkString("port")
			conn.WriteInt(p) // an integer, as Redis sends it
		case name == "ping":
			conn.WriteString("PONG")
		case strings.HasPrefix(name, "get loop"):
			// Always elsewhere, and elsewhere is here: a redirect loop.
			conn.WriteError(fmt.Sprintf("MOVED %d %s", 0, n.addr))
		case strings.HasPrefix(name, "get busy"):
			if n.tryagain.Add(-1) >= 0 {
				conn.WriteError("TRYAGAIN Multiple keys request during rehashing of slot")
				return
			}
			conn.WriteBulkString("ok")
		case strings.HasPrefix(name, "get down"):
			conn.WriteError("CLUSTERDOWN The cluster is down")
		default:
			conn.WriteError("ERR unexpected " + name)
		}
	}, nil, nil)
	t.Cleanup(func() { ln.Close() })
	return n
}

func TestClusterRedirectLimitTryAgainAndPassThrough(t *testing.T) {
	node := startFakeClusterNode(t)
	pc := config.Default("fake")
	pc.Mode = config.ModeCluster
	pc.Hash, pc.Distribution = "", ""
	pc.Listen = "127.0.0.1:0"
	pc.Timeout = time.Second
	pc.MaxRedirects = 3
	pc.Servers = []config.Server{{Addr: node.addr, Weight: 1, Name: node.addr}}
	p := serve(t, pc, Options{Version: "test", Logger: testLogger(t)}, nil)
	if got := p.backendCluster().Covered(); got != 16384 {
		t.Fatalf("fake node covers %d slots, want 16384", got)
	}
	c := client(t, p)
	// A redirect loop ends after max_redirects with a clear error, never a
	// MOVED for the client.
	err := c.Get(ctx(), "loop").Err()
	if err == nil || err.Error() != "ERR too many cluster redirections for one command" {
		t.Fatalf("redirect loop: %v", err)
	}
	// TRYAGAIN is retried after a pause.
	node.tryagain.Store(2)
	if v, err := c.Get(ctx(), "busy").Result(); err != nil || v != "ok" {
		t.Fatalf("GET after two TRYAGAIN: %q %v", v, err)
	}
	// CLUSTERDOWN and other errors pass through unchanged.
	if err := c.Get(ctx(), "down").Err(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("CLUSTERDOWN: %v", err)
	}
}
