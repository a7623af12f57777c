package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// The allocations the model computes are the ones redis-server 7.0.15
// (Debian's, with jemalloc 5.3) made: each value is the size a read(2)
// asked for in strace of that server, or the longest inline line a client
// got through it.
func TestSdsAllocMatchesRedis(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want int64
	}{
		{"first read of a fresh buffer: room for 16 KB", sdsAlloc(16384), 20474},
		{"greedy growth after 16 KB", sdsAlloc(2 * (16384 + 16384)), 81910},
		{"buffer made for a 40,000-byte argument", sdsAlloc(40002), 40954},
		{"greedy growth from it", sdsAlloc(2 * (40954 + 16384)), 114678},
		{"buffer made for a 100,000-byte argument", sdsAlloc(100002), 114678},
		{"buffer made for a 1,000,000-byte argument", sdsAlloc(1000002), 1048566},
		{"size class of 129 bytes", jemallocSize(129), 160},
		{"size class of 16 bytes", jemallocSize(16), 16},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	// The longest line a fresh connection takes at once, read as Redis
	// reads it: 16 KB, then everything the grown buffer has room for.
	var m queryBufModel
	now := nowNanos()
	first := m.startRead(now, 0)
	m.endRead(now, first)
	if reach := first + m.startRead(now, first); reach != 81910 {
		t.Errorf("fresh reach %d, want 81910", reach)
	}
}

// A long inline line sent in parts, after a large argument or not, gets
// the same reply from the proxy as from redis-server 7.0, and the same
// connection state. Each part is a read of its own (50 ms apart, each
// less than a loopback segment), so that both read the same bytes at a
// time. Where the part sizes or the command before decide, the case says
// so.
func TestInlineQueryBufferMatchesRedis(t *testing.T) {
	rs := shards(t, 1)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 10 * time.Second })
	for _, tc := range []struct {
		name  string
		set   int           // bytes of a SET value sent first; 0 for none
		pause time.Duration // after the SET's reply
		parts []int         // sizes of the parts before the last, which takes the rest
		line  int           // bytes of the line, with its "\r\n"
		taken bool
	}{
		{"fresh, 60,000 then the rest of 81,910", 0, 0, []int{60000}, 81910, true},
		{"fresh, 60,000 then the rest of 100,000", 0, 0, []int{60000}, 100000, false},
		{"after a 100,000-byte SET, 60,000 then the rest of 114,678", 100000, 0, []int{60000}, 114678, true},
		{"after a 100,000-byte SET, one byte more", 100000, 0, []int{60000}, 114679, false},
		{"400 ms after a 100,000-byte SET, the buffer has shrunk", 100000, 400 * time.Millisecond, []int{60000}, 100000, false},
		{"after a 40,000-byte SET, 60,000 then the rest of 114,678", 40000, 0, []int{60000}, 114678, true},
		{"after a 40,000-byte SET, one byte more", 40000, 0, []int{60000}, 114679, false},
		{"fresh, 7,000 first grows the buffer further", 0, 0, []int{7000, 42146, 16000}, 85146, true},
		{"fresh, 4,096 first, as 7,000", 0, 0, []int{4096, 45050, 16000}, 85146, true},
		{"fresh, 16,384 first does not", 0, 0, []int{16384, 48762}, 85146, false},
		{"after a 100,000-byte SET, a read that ends past 64 KB", 100000, 0, []int{4096, 65536}, 100000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := partsExchange(t, rs[0].Addr, tc.set, tc.pause, tc.parts, tc.line)
			got := partsExchange(t, p.Addr(), tc.set, tc.pause, tc.parts, tc.line)
			if got != want {
				t.Fatalf("proxy: %s\nredis-server: %s", got, want)
			}
			if taken := strings.HasPrefix(want, "$"); taken != tc.taken {
				t.Fatalf("redis-server: %s; the case expects taken=%v", want, tc.taken)
			}
		})
	}
}

// partsExchange sends an optional SET of a set-byte value, waits for its
// reply and pause, then an inline ECHO line of line bytes in parts 50 ms
// apart, and describes the ECHO's reply and whether the connection closed.
func partsExchange(t *testing.T, addr string, set int, pause time.Duration, parts []int, line int) string {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(nc)
	if set > 0 {
		fmt.Fprintf(nc, "*3\r\n$3\r\nSET\r\n$5\r\nqbufk\r\n$%d\r\n%s\r\n", set, strings.Repeat("v", set))
		if l, err := rd.ReadString('\n'); l != "+OK\r\n" {
			t.Fatalf("SET: %q, %v", l, err)
		}
		time.Sleep(pause)
	}
	in := []byte("ECHO " + strings.Repeat("a", line-7) + "\r\n")
	for _, n := range parts {
		if _, err := nc.Write(in[:n]); err != nil {
			t.Fatal(err)
		}
		in = in[n:]
		time.Sleep(50 * time.Millisecond)
	}
	nc.Write(in) // may fail once the server has refused the line
	head, err := rd.ReadString('\n')
	if err != nil {
		return fmt.Sprintf("no reply (%v)", err)
	}
	reply := strings.TrimSuffix(head, "\r\n")
	if strings.HasPrefix(head, "$") {
		n, _ := strconv.Atoi(reply[1:])
		if _, err := io.CopyN(io.Discard, rd, int64(n)+2); err != nil {
			return reply + " cut short"
		}
	}
	nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = rd.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return reply + ", open"
	}
	return reply + ", closed"
}
