//go:build unix

package router

import (
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/resp"
)

// TestClientListOutput checks oll and omem of a client that stops reading
// its replies: they grow with each reply it does not read, tot-mem follows,
// events is rw meanwhile, and all fall back once it reads everything.
func TestClientListOutput(t *testing.T) {
	rs := shards(t, 1)
	// 24 pipelined 1 MB replies take longer than the tests' usual 500 ms
	// backend timeout under -race on a loaded machine.
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 10 * time.Second })
	c := client(t, p)
	big := strings.Repeat("v", 1<<20)
	must(t, c.Set(ctx(), "big", big, 0).Err())
	// A small receive buffer, set before connecting (so that the kernel
	// neither autotunes it to megabytes nor shrinks an open window), lets
	// output pile up in the proxy at once.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	nc, id := rawClientDial(t, p.Addr(), d.Dial)
	gets := func(n int) {
		var b []byte
		for range n {
			b = resp.AppendCommand(b, "GET", "big")
		}
		if _, err := nc.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if n := clientField(t, c, id, "omem"); n != 0 {
		t.Fatalf("omem of an idle client = %d", n)
	}
	gets(8)
	var omem1 int64
	waitForD(t, "output to pile up", 20*time.Second, func() bool {
		omem1 = clientField(t, c, id, "omem")
		return omem1 >= 2<<20 && clientField(t, c, id, "oll") > 0
	})
	gets(16)
	var omem2 int64
	waitForD(t, "more output to pile up", 20*time.Second, func() bool {
		omem2 = clientField(t, c, id, "omem")
		return omem2 >= omem1+12<<20
	})
	// The proxy waits to write to it, as Redis does with a write event.
	if ev, _ := clientFieldText(t, c, id, "events"); ev != "rw" {
		t.Errorf("events of a client with pending output = %q, want rw", ev)
	}
	oll := clientField(t, c, id, "oll")
	if tot := clientField(t, c, id, "tot-mem"); tot < omem2 || oll < 12 {
		t.Fatalf("omem=%d oll=%d tot-mem=%d", omem2, oll, tot)
	}
	t.Logf("stopped reader: omem %d -> %d bytes, oll %d", omem1, omem2, oll)
	// Read all 24 replies; the output empties.
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	want := len(resp.AppendBulkString(nil, big)) * 24
	buf := make([]byte, 1<<20)
	for read := 0; read < want; {
		n, err := nc.Read(buf)
		read += n
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v", read, want, err)
		}
	}
	waitFor(t, "the output to drain", func() bool {
		return clientField(t, c, id, "omem") == 0 && clientField(t, c, id, "oll") == 0
	})
	if ev, _ := clientFieldText(t, c, id, "events"); ev != "r" {
		t.Errorf("events of a client with nothing pending = %q, want r", ev)
	}
}
