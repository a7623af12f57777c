package router

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

// Operators swap nutcracker for shardproxy on the same nutcracker.yml and
// find every key where nutcracker put it.
func TestNutcrackerSwap(t *testing.T) {
	const keys = 100000
	for _, n := range []int{3, 5} {
		rs := shards(t, n)
		for _, tc := range []struct{ dist, hash string }{
			{"ketama", "fnv1a_64"},
			{"ketama", "md5"},
			{"modula", "fnv1a_64"},
		} {
			t.Run(fmt.Sprintf("%d servers %s %s", n, tc.dist, tc.hash), func(t *testing.T) {
				for _, r := range rs {
					r.Client(t).FlushAll(ctx())
				}
				var b strings.Builder
				fmt.Fprintf(&b, "alpha:\n  listen: %s\n  hash: %s\n  hash_tag: \"{}\"\n  distribution: %s\n", testenv.ListenPlaceholder, tc.hash, tc.dist)
				b.WriteString("  timeout: 2000\n  redis: true\n  auto_eject_hosts: false\n  servers:\n")
				for i, r := range rs {
					// Unequal weights and names on some servers, as real
					// configurations have.
					if i%2 == 0 {
						fmt.Fprintf(&b, "   - %s:%d server%d\n", r.Addr, 1+i%3, i)
					} else {
						fmt.Fprintf(&b, "   - %s:1\n", r.Addr)
					}
				}
				yml := b.String()
				nc := testenv.StartNutcracker(t, yml)
				// Raw RESP: go-redis opens with HELLO, which nutcracker 0.5
				// answers by closing the connection.
				conn, err := net.Dial("tcp", nc.Addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				br := bufio.NewReader(conn)
				key := func(i int) string {
					if i%10 == 0 {
						return fmt.Sprintf("{user:%d}.profile", i)
					}
					return fmt.Sprintf("swap:%d", i)
				}
				for lo := 0; lo < keys; lo += 1000 {
					var wire []byte
					for i := lo; i < lo+1000; i++ {
						wire = resp.AppendCommand(wire, "SET", key(i), strconv.Itoa(i))
					}
					conn.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := conn.Write(wire); err != nil {
						t.Fatal(err)
					}
					for i := lo; i < lo+1000; i++ {
						reply, err := resp.ReadReply(br, nil)
						if err != nil || string(reply) != "+OK\r\n" {
							t.Fatalf("SET %s through nutcracker: %q %v", key(i), reply, err)
						}
					}
				}
				nc.Kill()

				cfg, err := config.Parse("nutcracker.yml", []byte(strings.Replace(yml, testenv.ListenPlaceholder, "127.0.0.1:0", 1)))
				if err != nil {
					t.Fatalf("shardproxy rejects the nutcracker config: %v", err)
				}
				p, err := New(cfg, Options{})
				if err != nil {
					t.Fatal(err)
				}
				go p.Serve()
				defer p.Close()
				c := client(t, p.Pools()[0])
				missing := 0
				for lo := 0; lo < keys; lo += 1000 {
					names := make([]string, 1000)
					for i := range names {
						names[i] = key(lo + i)
					}
					vals, err := c.MGet(ctx(), names...).Result()
					if err != nil {
						t.Fatalf("MGET through shardproxy: %v", err)
					}
					for i, v := range vals {
						if v != fmt.Sprint(lo+i) {
							missing++
						}
					}
				}
				if missing > 0 {
					t.Fatalf("%d of %d keys written by nutcracker not found through shardproxy", missing, keys)
				}
			})
		}
	}
}
