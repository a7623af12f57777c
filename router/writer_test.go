package router

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// memSampler records the peak of the process's RSS and Go heap while it
// runs.
type memSampler struct {
	stop              chan struct{}
	done              chan struct{}
	baseRSS, baseHeap int64
	peakRSS, peakHeap atomic.Int64
}

func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func heapInuse() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}

func sampleMemory() *memSampler {
	runtime.GC()
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{}), baseRSS: vmRSS(), baseHeap: heapInuse()}
	go func() {
		defer close(m.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if r := vmRSS(); r > m.peakRSS.Load() {
				m.peakRSS.Store(r)
			}
			if h := heapInuse(); h > m.peakHeap.Load() {
				m.peakHeap.Store(h)
			}
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

func (m *memSampler) finish() (rssGrowth, heapGrowth int64) {
	close(m.stop)
	<-m.done
	return m.peakRSS.Load() - m.baseRSS, m.peakHeap.Load() - m.baseHeap
}

// A client that pipelines GETs of a 10 KB value and never reads its
// replies is disconnected once its output passes the limit; the proxy's
// memory stays within the limit plus 64 MB, and a client on the same
// shards keeps getting prompt answers throughout.
func TestSlowReaderDisconnectedAtOutputLimit(t *testing.T) {
	const limit = 32 << 20
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) {
		pc.OutputLimitNormal = config.OutputLimit{Hard: limit}
		pc.Timeout = 2 * time.Second
	})
	c := client(t, p)
	value := strings.Repeat("v", 10<<10)
	if err := c.Set(ctx(), "big", value, 0).Err(); err != nil {
		t.Fatal(err)
	}

	// The other client: GET big and SET small keys on every shard, all
	// the time, timing each command.
	var (
		otherStop = make(chan struct{})
		otherDone = make(chan struct{})
		otherOps  atomic.Int64
		otherErr  atomic.Value
		otherMax  atomic.Int64
	)
	go func() {
		defer close(otherDone)
		for i := 0; ; i++ {
			select {
			case <-otherStop:
				return
			default:
			}
			start := time.Now()
			got, err := c.Get(ctx(), "big").Result()
			if err == nil && got != value {
				err = fmt.Errorf("GET big returned %d bytes", len(got))
			}
			if err == nil {
				err = c.Set(ctx(), "other:"+strconv.Itoa(i%100), i, 0).Err()
			}
			if err != nil {
				otherErr.CompareAndSwap(nil, err)
				return
			}
			if d := int64(time.Since(start)); d > otherMax.Load() {
				otherMax.Store(d)
			}
			otherOps.Add(1)
		}
	}()

	mem := sampleMemory()
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// 2,000,000 GETs in chunks of 2,000, never reading a reply.
	get := "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"
	chunk := []byte(strings.Repeat(get, 2000))
	sent := 0
	var werr error
	start := time.Now()
	for sent < 2_000_000 {
		nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, werr = nc.Write(chunk); werr != nil {
			break
		}
		sent += 2000
	}
	rssGrowth, heapGrowth := mem.finish()
	if werr == nil {
		// Everything went out before the proxy cut: the connection must
		// still end, with far fewer than 2,000,000 replies readable.
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _ := bufio.NewReader(nc).Discard(math.MaxInt)
		t.Logf("every GET sent; %d reply bytes readable before the end", n)
	}
	t.Logf("sent %d GETs in %v before the connection ended (%v); peak growth: RSS %d MB, Go heap %d MB",
		sent, time.Since(start).Round(time.Millisecond), werr, rssGrowth>>20, heapGrowth>>20)

	if n := counter(t, p.m.OutputLimitNormal); n != 1 {
		t.Errorf("output buffer disconnects = %v, want 1", n)
	}
	// Memory: the limit plus 64 MB (the Go heap always; RSS too without
	// the race detector, whose shadow memory inflates it).
	bound := int64(limit + 64<<20)
	if heapGrowth > bound {
		t.Errorf("Go heap grew by %d MB, bound %d MB", heapGrowth>>20, bound>>20)
	}
	if !raceEnabled && rssGrowth > bound {
		t.Errorf("RSS grew by %d MB, bound %d MB", rssGrowth>>20, bound>>20)
	}

	// The other client was served throughout, and still is.
	time.Sleep(200 * time.Millisecond)
	close(otherStop)
	<-otherDone
	if err, _ := otherErr.Load().(error); err != nil {
		t.Fatalf("the other client got an error: %v", err)
	}
	maxLat := time.Duration(otherMax.Load())
	t.Logf("other client: %d GET+SET pairs, slowest %v", otherOps.Load(), maxLat)
	if otherOps.Load() == 0 {
		t.Fatal("the other client made no progress")
	}
	// A second of stall at most; the race detector slows every
	// goroutine several times over, so it gets more room.
	stall := time.Second
	if raceEnabled {
		stall = 3 * time.Second
	}
	if maxLat > stall {
		t.Errorf("the other client waited %v for one GET+SET (bound %v)", maxLat, stall)
	}
	if got, err := c.Get(ctx(), "big").Result(); err != nil || got != value {
		t.Fatalf("GET after the disconnect: %d bytes, %v", len(got), err)
	}
	for _, srv := range p.Servers() {
		if !srv.Up() {
			t.Errorf("%s down after the slow reader", srv.Name())
		}
	}
}

// keysOn returns n keys that the pool places on server idx.
func keysOn(t *testing.T, p *Pool, idx, n int, prefix string) []string {
	t.Helper()
	var keys []string
	for i := 0; len(keys) < n && i < 100000; i++ {
		k := prefix + strconv.Itoa(i)
		if p.pick([]byte(k)) == idx {
			keys = append(keys, k)
		}
	}
	if len(keys) < n {
		t.Fatalf("no %d keys on server %d", n, idx)
	}
	return keys
}

// A pipeline mixing a fast shard and a stopped one: the fast shard's
// replies that come before the first slow one reach the client while the
// slow shard is still stopped; all replies arrive complete and in order.
func TestRepliesStreamInOrder(t *testing.T) {
	rs := shards(t, 2)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 3 * time.Second })
	c := client(t, p)
	fast := keysOn(t, p, 0, 20, "fast:")
	slow := keysOn(t, p, 1, 3, "slow:")
	for _, k := range append(append([]string{}, fast...), slow...) {
		if err := c.Set(ctx(), k, "val-"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// 10 fast, slow, 10 fast, slow, slow.
	order := append(append(append(append([]string{}, fast[:10]...), slow[0]), fast[10:]...), slow[1:]...)
	var pipe strings.Builder
	for _, k := range order {
		fmt.Fprintf(&pipe, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(k), k)
	}
	raw := dialRaw(t, p)

	rs[1].Pause()
	resumed := make(chan time.Time, 1)
	var once sync.Once
	resume := func() {
		once.Do(func() {
			rs[1].Resume()
			resumed <- time.Now()
		})
	}
	defer resume()
	raw.send(pipe.String())
	go func() {
		time.Sleep(200 * time.Millisecond)
		resume()
	}()
	var got []string
	var firstTen time.Time
	for i := range order {
		r, err := raw.reply()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		got = append(got, r)
		if i == 9 {
			firstTen = time.Now()
		}
	}
	resumeAt := <-resumed
	if !firstTen.Before(resumeAt) {
		t.Errorf("the first 10 replies (fast shard) arrived %v after the slow shard resumed: not streamed",
			firstTen.Sub(resumeAt))
	}
	for i, k := range order {
		want := fmt.Sprintf("$%d\r\nval-%s\r\n", len("val-"+k), k)
		if got[i] != want {
			t.Fatalf("reply %d = %q, want %q (GET %s)", i, got[i], want, k)
		}
	}
}

// pushSession returns a connected raw client and its session.
func pushSession(t *testing.T, edit func(*config.Pool)) (*rawConn, *Session) {
	t.Helper()
	rs := shards(t, 1)
	p, sessions := hookedProxy(t, rs, edit)
	c := dialRaw(t, p.Pools()[0])
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
	return c, nextSession(t, sessions)
}

// The push path: another goroutine writes to a client that sent nothing,
// in order with the replies of its commands.
func TestSessionPush(t *testing.T) {
	c, s := pushSession(t, nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 3; i++ {
			s.push([]byte(">2\r\n$7\r\nmessage\r\n:" + strconv.Itoa(i) + "\r\n"))
		}
	}()
	<-done
	for i := 0; i < 3; i++ {
		// The raw reader has no RESP3 push type: read the frame by lines.
		for _, want := range []string{">2\r\n", "$7\r\n", "message\r\n", ":" + strconv.Itoa(i) + "\r\n"} {
			line, err := c.br.ReadString('\n')
			if err != nil || line != want {
				t.Fatalf("push %d: line %q, %v; want %q", i, line, err, want)
			}
		}
	}
	c.send("PING\r\n")
	c.mustReply("+PONG\r\n")
}

// pushUntilDead pushes size-byte messages to a client that does not read
// until its writer gives up or max bytes went out; it returns the bytes
// pushed.
func pushUntilDead(s *Session, size, max int) int {
	msg := []byte("$" + strconv.Itoa(size-len(strconv.Itoa(size))-5) + "\r\n")
	msg = append(msg, strings.Repeat("m", size-len(msg)-2)...)
	msg = append(msg, "\r\n"...)
	n := 0
	for n < max && !s.w.dead.Load() {
		s.push(msg)
		n += len(msg)
	}
	return n
}

func TestPushHardLimitDisconnects(t *testing.T) {
	c, s := pushSession(t, func(pc *config.Pool) {
		pc.OutputLimitPubsub = config.OutputLimit{Hard: 1 << 20}
	})
	s.w.setClass(outPubsub)
	n := pushUntilDead(s, 100<<10, 256<<20)
	if !s.w.dead.Load() {
		t.Fatalf("pushed %d MB to a client that does not read, still connected", n>>20)
	}
	t.Logf("disconnected after %d KB pushed", n>>10)
	if got := counter(t, s.p.m.OutputLimitPubsub); got != 1 {
		t.Errorf("pubsub disconnects = %v, want 1", got)
	}
	if got := counter(t, s.p.m.OutputLimitNormal); got != 0 {
		t.Errorf("normal disconnects = %v, want 0", got)
	}
	// The client finds its connection closed after what it had received.
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.br.Discard(math.MaxInt); err == nil || os.IsTimeout(err) {
		t.Fatalf("client connection not closed: %v", err)
	}
}

func TestPushSoftLimitOverTime(t *testing.T) {
	const soft = 256 << 10
	_, s := pushSession(t, func(pc *config.Pool) {
		pc.OutputLimitPubsub = config.OutputLimit{Soft: soft, SoftSeconds: time.Second}
	})
	s.w.setClass(outPubsub)
	// Over the soft limit: tolerated for its seconds.
	for i := 0; s.w.used.Load() <= soft; i++ {
		if i > 10000 {
			t.Fatal("the client's output never went over the soft limit")
		}
		pushUntilDead(s, 32<<10, 32<<10)
	}
	pushUntilDead(s, 32<<10, 32<<10)
	if s.w.dead.Load() {
		t.Fatal("disconnected as soon as the soft limit was passed")
	}
	time.Sleep(1100 * time.Millisecond)
	pushUntilDead(s, 32<<10, 32<<10)
	if !s.w.dead.Load() {
		t.Fatal("still connected after more than the soft seconds over the soft limit")
	}
	if got := counter(t, s.p.m.OutputLimitPubsub); got != 1 {
		t.Errorf("pubsub disconnects = %v, want 1", got)
	}
}

func TestClientWriteTimeout(t *testing.T) {
	_, s := pushSession(t, func(pc *config.Pool) {
		pc.ClientWriteTimeout = 300 * time.Millisecond
	})
	// 64 MB pushed to a client that does not read: the kernel takes a few
	// MB, the flusher blocks on the rest and gives up after the timeout.
	start := time.Now()
	pushUntilDead(s, 1<<20, 64<<20)
	deadline := time.Now().Add(5 * time.Second)
	for !s.w.dead.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !s.w.dead.Load() {
		t.Fatal("a client that does not read outlived client_write_timeout")
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("disconnected after %v, before the write timeout", took)
	}
	if got := counter(t, s.p.m.OutputLimitNormal); got != 0 {
		t.Errorf("a write timeout counted as an output limit disconnect")
	}
}

// The output queue keeps bytes in order across blocks, whatever the
// sizes appended.
func TestOutQueue(t *testing.T) {
	var q outQueue
	var want []byte
	for i, size := range []int{1, outBlock - 1, 3, outBlock, 2*outBlock + 5, 0, 17} {
		b := []byte(strings.Repeat(string(rune('a'+i)), size))
		q.append(b)
		want = append(want, b...)
	}
	if q.len() != len(want) {
		t.Fatalf("len %d, want %d", q.len(), len(want))
	}
	var got []byte
	blocks := q.take()
	for _, b := range blocks {
		if cap(b) != outBlock {
			t.Errorf("block of capacity %d", cap(b))
		}
		got = append(got, b...)
	}
	if string(got) != string(want) {
		t.Fatal("bytes out of order")
	}
	q.recycle(blocks)
	if q.len() != 0 || q.spare == nil || len(q.spare) != 0 {
		t.Fatalf("after take and recycle: len %d, spare %v", q.len(), q.spare != nil)
	}
}

// QUIT's +OK, and every reply before it, reaches a client that was slow
// to read them before the connection closes.
func TestQuitDrainsBacklog(t *testing.T) {
	rs := shards(t, 1)
	// A generous timeout: 20 MB of replies under the race detector on a
	// busy machine; the test is about order and completeness.
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 30 * time.Second })
	c := client(t, p)
	value := strings.Repeat("q", 100<<10)
	if err := c.Set(ctx(), "q", value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	raw := dialRaw(t, p)
	// 200 x 100 KB: far more than the socket buffers hold while the
	// client does not read, so most of it waits in the writer.
	raw.send(strings.Repeat("*2\r\n$3\r\nGET\r\n$1\r\nq\r\n", 200) + "QUIT\r\n")
	time.Sleep(300 * time.Millisecond)
	want := fmt.Sprintf("$%d\r\n%s\r\n", len(value), value)
	for i := 0; i < 200; i++ {
		raw.mustReply(want)
	}
	raw.mustReply("+OK\r\n")
	if _, err := raw.reply(); err == nil {
		t.Fatal("connection still open after QUIT")
	}
}

// A reply written straight to the socket costs no allocation: the write
// callback is built once per connection, not once per write.
func TestNetSocketTryWriteDoesNotAllocate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s := newNetSocket(c)
	if s.rw == nil {
		t.Fatal("a TCP connection has no raw writer")
	}
	reply := []byte("+OK\r\n")
	const runs = 200
	allocs := testing.AllocsPerRun(runs, func() {
		if n, err := s.TryWrite(reply); n != len(reply) || err != nil {
			t.Fatalf("TryWrite = %d, %v", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("TryWrite allocates %.1f times per call, want 0", allocs)
	}
	// Every byte arrived, in order.
	want := bytes.Repeat(reply, runs+1) // AllocsPerRun runs once more to warm up
	got := make([]byte, len(want))
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("peer read %q", got)
	}
}
