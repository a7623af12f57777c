package backend

import (
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// TestDedicatedDoAll checks that DoAll sends several commands in one write
// and gives each request its own reply, in order, and that a closed
// connection fails every request.
func TestDedicatedDoAll(t *testing.T) {
	r := testenv.StartRedis(t)
	s := NewServer(Options{Addr: r.Addr, Connections: 1, Timeout: time.Second})
	defer s.Close()
	d, err := s.Dedicate()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rs := []*Request{NewRequest(), NewRequest(), NewRequest()}
	rs[0].Wire = resp.AppendCommand(nil, "MULTI")
	rs[1].Wire = resp.AppendCommand(nil, "INCR", "n")
	rs[2].Wire = append(resp.AppendCommand(nil, "INCR", "n"), resp.AppendCommand(nil, "EXEC")...)
	rs[2].Skip = 1
	if err := d.DoAll(rs); err != nil {
		t.Fatal(err)
	}
	want := []string{"+OK\r\n", "+QUEUED\r\n", "*2\r\n:1\r\n:2\r\n"}
	for i, w := range want {
		if string(rs[i].Reply) != w || rs[i].Err != nil {
			t.Errorf("reply %d = %q %v, want %q", i, rs[i].Reply, rs[i].Err, w)
		}
	}
	d.Close()
	if err := d.DoAll(rs[:2]); err == nil || rs[0].Err == nil || rs[1].Err == nil {
		t.Fatalf("DoAll on a closed connection: %v %v %v", err, rs[0].Err, rs[1].Err)
	}
}
