package router

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shardproxy/shardproxy/resp"
)

// clientField returns the integer field name of the CLIENT LIST line of
// client id, as c sees it (-1 when the client is not listed).
func clientField(t *testing.T, c *redis.Client, id int64, name string) int64 {
	t.Helper()
	v, ok := clientFieldText(t, c, id, name)
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	must(t, err)
	return n
}

// clientFieldText returns the field name of the CLIENT LIST line of client
// id, as c sees it; false when the client is not listed.
func clientFieldText(t *testing.T, c *redis.Client, id int64, name string) (string, bool) {
	t.Helper()
	list, err := c.ClientList(ctx()).Result()
	must(t, err)
	for _, l := range strings.Split(list, "\n") {
		if !strings.HasPrefix(l, "id="+strconv.FormatInt(id, 10)+" ") {
			continue
		}
		for _, f := range strings.Fields(l) {
			if v, ok := strings.CutPrefix(f, name+"="); ok {
				return v, true
			}
		}
		t.Fatalf("no %s in %q", name, l)
	}
	return "", false
}

// rawClient dials addr and returns the connection and its CLIENT ID.
func rawClient(t *testing.T, addr string) (net.Conn, int64) {
	t.Helper()
	return rawClientDial(t, addr, net.Dial)
}

// rawClientDial is rawClient with the connection made by dial.
func rawClientDial(t *testing.T, addr string, dial func(network, addr string) (net.Conn, error)) (net.Conn, int64) {
	t.Helper()
	nc, err := dial("tcp", addr)
	must(t, err)
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write(resp.AppendCommand(nil, "CLIENT", "ID")); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := nc.Read(buf)
	must(t, err)
	id, ok := resp.IntValue(buf[:n])
	if !ok {
		t.Fatalf("CLIENT ID = %q", buf[:n])
	}
	return nc, id
}

// TestClientListInput checks qbuf and argv-mem of a client stopped in the
// middle of a command against redis-server's own CLIENT LIST for the same
// bytes.
func TestClientListInput(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, nil)
	for _, partial := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\n" + strings.Repeat("x", 50),
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10",
		"*2\r\n$3\r\nGET\r\n$1",
		"SET k " + strings.Repeat("v", 40),
	} {
		want := map[string]int64{}
		got := map[string]int64{}
		for _, side := range []struct {
			addr   string
			lister *redis.Client
			into   map[string]int64
		}{{rs[0].Addr, direct(t, rs[0].Addr), want}, {p.Addr(), client(t, p), got}} {
			nc, id := rawClient(t, side.addr)
			if _, err := nc.Write([]byte(partial)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the partial command to arrive", func() bool {
				return clientField(t, side.lister, id, "qbuf") > 0
			})
			for _, f := range []string{"qbuf", "argv-mem"} {
				side.into[f] = clientField(t, side.lister, id, f)
			}
			nc.Close()
		}
		if got["qbuf"] != want["qbuf"] || got["argv-mem"] != want["argv-mem"] {
			t.Errorf("%q: proxy qbuf=%d argv-mem=%d, redis-server qbuf=%d argv-mem=%d",
				partial, got["qbuf"], got["argv-mem"], want["qbuf"], want["argv-mem"])
		}
	}
	// Between commands the input is empty again.
	nc, id := rawClient(t, p.Addr())
	if _, err := nc.Write([]byte("*1\r\n$4\r\nPI")); err != nil {
		t.Fatal(err)
	}
	c := client(t, p)
	waitFor(t, "the partial PING", func() bool { return clientField(t, c, id, "qbuf") == 2 })
	if _, err := nc.Write([]byte("NG\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the PING served", func() bool {
		return clientField(t, c, id, "qbuf") == 0 && clientField(t, c, id, "argv-mem") == 0
	})
	if free := clientField(t, c, id, "qbuf-free"); free <= 0 {
		t.Fatalf("qbuf-free = %d", free)
	}
}

// TestClientInfoLine checks that CLIENT INFO gives the caller's CLIENT LIST
// line, with cmd=client|info and, as in Redis, the command itself in qbuf
// (its 26 bytes) and argv-mem (CLIENT and INFO: 10 bytes).
func TestClientInfoLine(t *testing.T) {
	p := startProxy(t, shards(t, 1), nil)
	c := client(t, p).Conn()
	defer c.Close()
	info, err := c.Do(ctx(), "CLIENT", "INFO").Text()
	must(t, err)
	id := c.ClientID(ctx()).Val()
	for _, want := range []string{"id=" + strconv.FormatInt(id, 10) + " ", " qbuf=26 ", " argv-mem=10 ", " omem=0 ", " cmd=client|info ", " multi=-1 "} {
		if !strings.Contains(info, want) {
			t.Errorf("CLIENT INFO %q lacks %q", info, want)
		}
	}
}
