package router

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/resp"
)

// TestListenUnixPermissions checks nutcracker's "listen: /path perm": the
// socket gets the configured mode, and clients reach the pool through it.
func TestListenUnixPermissions(t *testing.T) {
	rs := shards(t, 1)
	for _, perm := range []os.FileMode{0o600, 0o666, 0o640} {
		t.Run(perm.String(), func(t *testing.T) {
			// Short path: unix socket paths are limited to about 100 bytes.
			dir, err := os.MkdirTemp("", "sp")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			path := filepath.Join(dir, "proxy.sock")
			p := startProxy(t, rs, func(pc *config.Pool) { pc.Listen, pc.ListenPerm = path, perm })
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != perm {
				t.Fatalf("socket mode %v, want a socket with %v", fi.Mode(), perm)
			}
			c, err := net.DialTimeout("unix", p.Addr(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Write(resp.AppendCommand(nil, "PING")); err != nil {
				t.Fatal(err)
			}
			if v, err := resp.ReadValue(bufio.NewReader(c)); err != nil || v != "PONG" {
				t.Fatalf("PING over the socket = %v, %v", v, err)
			}
		})
	}
}

// TestListenUnixPermissionsUmask checks that without a permission the
// socket keeps the mode the umask gives it (nothing is changed).
func TestListenUnixPermissionsUmask(t *testing.T) {
	dir, err := os.MkdirTemp("", "sp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "a.sock")
	ln, err := listen(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ref, err := net.Listen("unix", filepath.Join(dir, "b.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	a, _ := os.Stat(path)
	b, _ := os.Stat(filepath.Join(dir, "b.sock"))
	if a.Mode() != b.Mode() {
		t.Fatalf("mode %v, a plain unix listener has %v", a.Mode(), b.Mode())
	}
}
