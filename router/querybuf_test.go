package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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

// refInlineTaken is Redis 7.0 reading one inline line of line bytes (its
// '\n' the last) that arrives in chunks, each read to its end before the
// next one arrives, the first with a command of pre bytes (less than a
// read) ahead of the line, on a connection whose query buffer has alloc
// bytes:
// readQueryFromClient's sizing of each read(2) and processInlineBuffer's
// check after it, written as Redis's loop rather than as the guard's
// model, to hold the guard's reads to it.
func refInlineTaken(alloc int64, pre int, chunks []int, line int) bool {
	var held int64
	for i, c := range chunks {
		rem := int64(c)
		if i == 0 {
			rem += int64(pre) // a command ahead of the line, in its first chunk
		}
		for rem > 0 {
			readlen := int64(protoIOBufLen)
			switch {
			case alloc < protoIOBufLen:
				if alloc-held < readlen {
					alloc = sdsAlloc(held + readlen) // sdsMakeRoomForNonGreedy
				}
			default:
				if alloc-held < readlen { // sdsMakeRoomFor
					n := held + readlen
					if n < sdsMaxPrealloc {
						n *= 2
					} else {
						n += sdsMaxPrealloc
					}
					alloc = sdsAlloc(n)
				}
				readlen = alloc - held
			}
			n := min(readlen, rem)
			rem -= n
			if pre > 0 { // the command is run and taken out of the buffer
				n -= int64(pre)
				pre = 0
			}
			held += n
			if held >= int64(line) {
				return true
			}
			if held > 64<<10 {
				return false // too big inline request
			}
		}
	}
	return false
}

// Long inline lines cut into random chunks, after a large argument or
// not, are taken or refused by the guard as by refInlineTaken: the guard's
// reads of a line, whatever its own buffer sizes, end where Redis's would.
// The model's clock stands still, so clientsCron never shrinks the buffer.
func TestInlineLinesMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 15))
	edges := []int{81910, 81911, 114678, 114679, 131062, 131063, 163830, 196598}
	const tooBig = "-ERR Protocol error: too big inline request\r\n"
	taken, cases := 0, 3000
	if raceEnabled {
		cases = 500 // the race detector makes each about 10 times dearer
	}
	for i := range cases {
		set := []int{0, 0, 40000, 100000}[rng.IntN(4)]
		line := 50000 + rng.IntN(150000)
		if rng.IntN(4) == 0 {
			line = edges[rng.IntN(len(edges))]
		}
		// A command ahead of the line in its first chunk, sometimes.
		pre := []string{"", "", "*1\r\n$4\r\nPING\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000\r\n" + strings.Repeat("w", 3000) + "\r\n"}[rng.IntN(4)]
		in := []byte(pre + "ECHO " + strings.Repeat("a", line-7) + "\r\n")
		var chunks []int
		for rest := line; rest > 0; {
			n := 1 + rng.IntN(rest)
			switch rng.IntN(4) {
			case 0:
				n = min(rest, 4096*(1+rng.IntN(20)))
			case 1:
				n = min(rest, 16384*(1+rng.IntN(5)))
			}
			if rng.IntN(3) == 0 {
				n = rest
			}
			chunks = append(chunks, n)
			rest -= n
		}
		var alloc int64
		cc := &chunkConn{}
		if set > 0 {
			alloc = sdsAlloc(int64(set) + 2)
			cc.chunks = append(cc.chunks, fmt.Appendf(nil, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n", set, strings.Repeat("v", set)))
		}
		for j, off := 0, 0; off < len(in); j++ {
			n := chunks[j]
			if j == 0 {
				n += len(pre)
			}
			cc.chunks = append(cc.chunks, in[off:off+n])
			off += n
		}
		want := refInlineTaken(alloc, len(pre), chunks, line)
		g := newTestGuard(t, cc, testLimits())
		g.sc.qb.clock = func() int64 { return 0 }
		rd := newServerReader(g)
		for _, want := range []string{map[bool]string{true: "SET"}[set > 0], pre} {
			if want == "" {
				continue
			}
			if cmd, err := rd.ReadCommand(); err != nil || len(cmd.Args) == 0 {
				t.Fatalf("case %d: the command before the line: %v", i, err)
			}
		}
		cmd, err := rd.ReadCommand()
		got := err == nil && len(cmd.Args) == 2 && len(cmd.Args[1]) == line-7
		if got != want || (!got && (err == nil || cc.wrote.String() != tooBig)) {
			t.Fatalf("case %d: SET of %d, %d bytes ahead, line of %d in chunks %v: taken %v (err %v, wrote %q), Redis: taken %v",
				i, set, len(pre), line, chunks, got, err, cc.wrote.String(), want)
		}
		if got {
			taken++
		}
	}
	t.Logf("%d lines: %d taken", cases, taken)
}
