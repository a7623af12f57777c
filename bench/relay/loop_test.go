package relay

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startRedis starts a redis-server on a free loopback port, stopped in
// t.Cleanup. Without redis-server it skips, except under CI=true, where it
// fails.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found")
		}
		t.Skip("redis-server not found")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not start", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func command(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// readReply reads one RESP2 reply and returns it raw.
func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		if n < 0 {
			return line, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return line + string(buf), nil
	case '*':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		out := line
		for range max(n, 0) {
			s, err := readReply(r)
			if err != nil {
				return "", err
			}
			out += s
		}
		return out, nil
	}
	return line, nil
}

func shardOf(key string, n int) int {
	return routeKey([]byte(key), n)
}

// TestLoopPipelineAcrossShardsInOrder pipelines SET, GET, INCR, LRANGE and
// PING over keys on three real shards, from several clients at once, in
// writes split at odd places, and checks every reply arrives complete and
// in order; then it checks each key landed on its own shard only.
func TestLoopPipelineAcrossShardsInOrder(t *testing.T) {
	shards := []string{startRedis(t), startRedis(t), startRedis(t)}
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("pollers=%d", procs), func(t *testing.T) {
			l, err := NewLoop("127.0.0.1:0", shards, procs)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			checkPipelines(t, l.Addr(), fmt.Sprintf("p%d", procs), shards)
		})
	}
	t.Run("turn", func(t *testing.T) {
		l, err := NewTurnLoop("127.0.0.1:0", shards)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checkPipelines(t, l.Addr(), "turn", shards)
	})
}

// checkPipelines runs 8 pipelining clients at once through the relay at
// addr, then checks that their keys (named after prefix) are on the shard
// routeKey names and no other.
func checkPipelines(t *testing.T, addr, prefix string, shards []string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := pipelineClient(addr, fmt.Sprintf("%sc%d", prefix, c)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range 30 {
		key := fmt.Sprintf("%sc0:k%d", prefix, i)
		for s, shard := range shards {
			got := direct(t, shard, "EXISTS", key)
			want := ":0\r\n"
			if s == shardOf(key, len(shards)) {
				want = ":1\r\n"
			}
			if got != want {
				t.Errorf("EXISTS %s on shard %d = %q, want %q", key, s, got, want)
			}
		}
	}
}

// pipelineClient sends 3 rounds of a 150-command mixed pipeline, written
// in 7-byte pieces so commands straddle reads, and checks every reply.
func pipelineClient(addr, prefix string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for round := range 3 {
		var req strings.Builder
		var want []string
		for i := range 30 {
			key := fmt.Sprintf("%s:k%d", prefix, i)
			val := strings.Repeat(string(rune('a'+i%26)), i*37+round)
			req.WriteString(command("SET", key, val))
			want = append(want, "+OK\r\n")
			req.WriteString(command("GET", key))
			want = append(want, fmt.Sprintf("$%d\r\n%s\r\n", len(val), val))
			req.WriteString(command("INCR", key+":n"))
			want = append(want, fmt.Sprintf(":%d\r\n", round+1))
			req.WriteString(command("RPUSH", key+":l", "x", strconv.Itoa(round)))
			want = append(want, fmt.Sprintf(":%d\r\n", 2*(round+1)))
			if i%3 == 0 {
				req.WriteString("PING\r\n") // inline, answered locally
				want = append(want, "+PONG\r\n")
			} else {
				req.WriteString(command("LRANGE", key+":l", "0", "-1"))
				var lr strings.Builder
				fmt.Fprintf(&lr, "*%d\r\n", 2*(round+1))
				for j := range round + 1 {
					fmt.Fprintf(&lr, "$1\r\nx\r\n$1\r\n%d\r\n", j)
				}
				want = append(want, lr.String())
			}
		}
		data := []byte(req.String())
		go func() {
			for len(data) > 0 {
				n := min(7, len(data))
				if _, err := c.Write(data[:n]); err != nil {
					return
				}
				data = data[n:]
			}
		}()
		for i, w := range want {
			got, err := readReply(r)
			if err != nil {
				return fmt.Errorf("%s round %d reply %d: %v", prefix, round, i, err)
			}
			if got != w {
				return fmt.Errorf("%s round %d reply %d = %q, want %q", prefix, round, i, got, w)
			}
		}
	}
	return nil
}

func direct(t *testing.T, addr string, args ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(command(args...))); err != nil {
		t.Fatal(err)
	}
	got, err := readReply(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestLoopBackendDeathAnswersPending stops a shard while requests to it
// are pending behind requests to a live shard: every request still gets
// exactly one reply, in order, errors for the dead shard.
func TestLoopBackendDeathAnswersPending(t *testing.T) {
	t.Run("loop", func(t *testing.T) {
		live, dead := startRedis(t), startRedis(t)
		l, err := NewLoop("127.0.0.1:0", []string{live, dead}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checkBackendDeath(t, l.Addr(), dead)
	})
	t.Run("turn", func(t *testing.T) {
		live, dead := startRedis(t), startRedis(t)
		l, err := NewTurnLoop("127.0.0.1:0", []string{live, dead})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		checkBackendDeath(t, l.Addr(), dead)
	})
}

// checkBackendDeath is TestLoopBackendDeathAnswersPending against the relay
// at addr whose second shard is deadAddr.
func checkBackendDeath(t *testing.T, addr, deadAddr string) {
	t.Helper()
	var liveKey, deadKey string
	for i := 0; liveKey == "" || deadKey == ""; i++ {
		k := "k" + strconv.Itoa(i)
		if shardOf(k, 2) == 0 {
			liveKey = k
		} else {
			deadKey = k
		}
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	// BLPOP holds the dying shard's replies while the live shard's GET
	// reply, already back, waits behind them.
	blockKey := deadKey + ":l"
	for shardOf(blockKey, 2) != 1 {
		blockKey += "x"
	}
	req := command("SET", liveKey, "1") + command("BLPOP", blockKey, "0") + command("SET", deadKey, "1") + command("GET", liveKey)
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if got, _ := readReply(r); got != "+OK\r\n" {
		t.Fatalf("first reply %q", got)
	}
	time.Sleep(50 * time.Millisecond)
	// Kill the shard holding the second request.
	kc, err := net.Dial("tcp", deadAddr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = kc.Write([]byte(command("SHUTDOWN", "NOSAVE")))
	kc.Close()
	var got []string
	for range 3 {
		s, err := readReply(r)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, s)
	}
	want := []string{"-ERR relay: backend connection closed\r\n", "-ERR relay: backend connection closed\r\n", "$1\r\n1\r\n"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reply %d = %q, want %q", i+1, got[i], want[i])
		}
	}
}

func TestReplyLen(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"+OK\r\n", 5}, {"+OK\r", 0}, {"-ERR x\r\n", 8}, {":12\r\n", 5},
		{"$3\r\nabc\r\n", 9}, {"$3\r\nabc\r", 0}, {"$-1\r\n", 5},
		{"*2\r\n$1\r\na\r\n:1\r\n", 15}, {"*2\r\n$1\r\na\r\n", 0}, {"*-1\r\n", 5},
		{"*1\r\n*1\r\n+x\r\n+next\r\n", 12},
	} {
		got, err := replyLen([]byte(tc.in))
		if err != nil || got != tc.want {
			t.Errorf("replyLen(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	if _, err := replyLen([]byte("?x\r\n")); err == nil {
		t.Error("replyLen accepted an unknown type byte")
	}
}
