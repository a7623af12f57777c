package load

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer answers RESP commands: PING with +PONG, SET with +OK unless
// the value is "fail" (then -ERR), anything else with a bulk string. It
// counts commands and open connections.
type fakeServer struct {
	addr     string
	commands atomic.Int64
	open     atomic.Int64
}

func startFake(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

func (s *fakeServer) serve(c net.Conn) {
	s.open.Add(1)
	defer s.open.Add(-1)
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		s.commands.Add(1)
		switch strings.ToUpper(args[0]) {
		case "PING":
			w.WriteString("+PONG\r\n")
		case "SET":
			if args[2] == "fail" {
				w.WriteString("-ERR injected\r\n")
			} else {
				w.WriteString("+OK\r\n")
			}
		default:
			w.WriteString("$3\r\nabc\r\n")
		}
		// Flush when the client has nothing more buffered, as Redis does
		// once per read.
		if r.Buffered() == 0 {
			if w.Flush() != nil {
				return
			}
		}
	}
}

func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line[0] != '*' {
		return nil, errProtocol
	}
	n, _ := strconv.Atoi(string(line[1:]))
	args := make([]string, n)
	for i := range args {
		l, err := readLine(r)
		if err != nil {
			return nil, err
		}
		size, _ := strconv.Atoi(string(l[1:]))
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}

func TestAppendCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"ping", appendCommand(nil, []byte("PING")), "*1\r\n$4\r\nPING\r\n"},
		{"set", appendSet(nil, "k:", 42, []byte("v")), "*3\r\n$3\r\nSET\r\n$4\r\nk:42\r\n$1\r\nv\r\n"},
		{"empty arg", appendCommand(nil, []byte("ECHO"), nil), "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestSkipReply(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		wantErr  string // substring; "" means success
		leftover string
	}{
		{"status", "+OK\r\nX", "", "X"},
		{"integer", ":12\r\nX", "", "X"},
		{"bulk", "$5\r\nhello\r\nX", "", "X"},
		{"nil bulk", "$-1\r\nX", "", "X"},
		{"array", "*3\r\n$1\r\na\r\n:1\r\n*1\r\n+x\r\nX", "", "X"},
		{"nil array", "*-1\r\nX", "", "X"},
		{"error reply consumed", "-ERR nope\r\nX", "ERR nope", "X"},
		{"error inside array consumed", "*2\r\n-ERR a\r\n+b\r\nX", "ERR a", "X"},
		{"bad type", "?x\r\n", "malformed", ""},
		{"bad length", "$zz\r\n", "malformed", ""},
		{"truncated", "$10\r\nabc", "EOF", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in))
			err := skipReply(r)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			rest, _ := io.ReadAll(r)
			if tc.leftover != "" && string(rest) != tc.leftover {
				t.Errorf("left %q, want %q", rest, tc.leftover)
			}
		})
	}
}

func TestBatches(t *testing.T) {
	s := startFake(t)
	for _, batch := range []int{1, 10, 100} {
		t.Run(strconv.Itoa(batch), func(t *testing.T) {
			before := s.commands.Load()
			res, err := Batches(context.Background(), s.addr, batch, 50*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			if res.Ops == 0 || res.Ops%batch != 0 {
				t.Errorf("Ops = %d, want a positive multiple of %d", res.Ops, batch)
			}
			if got := s.commands.Load() - before; got != int64(res.Ops) {
				t.Errorf("server saw %d commands, client counted %d", got, res.Ops)
			}
			if res.OpsPerSec() <= 0 {
				t.Errorf("OpsPerSec = %v", res.OpsPerSec())
			}
		})
	}
	if _, err := Batches(context.Background(), s.addr, 0, time.Millisecond); err == nil {
		t.Error("batch 0 accepted")
	}
}

func TestSequentialAndPipelined(t *testing.T) {
	s := startFake(t)
	for _, tc := range []struct {
		name string
		run  func(context.Context, string, int) (time.Duration, error)
	}{
		{"sequential", Sequential},
		{"pipelined", Pipelined},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.commands.Load()
			d, err := tc.run(context.Background(), s.addr, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if d <= 0 {
				t.Errorf("duration %v", d)
			}
			if got := s.commands.Load() - before; got != 1000 {
				t.Errorf("server saw %d commands, want 1000", got)
			}
		})
	}
}

func TestStream(t *testing.T) {
	s := startFake(t)
	res, err := Stream(context.Background(), s.addr, 50000, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 50000 {
		t.Errorf("Ops = %d", res.Ops)
	}
}

func TestExpectOKErrorReply(t *testing.T) {
	s := startFake(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.nc.Close()
	if _, err := c.nc.Write(appendCommand(nil, []byte("SET"), []byte("k"), []byte("fail"))); err != nil {
		t.Fatal(err)
	}
	var re *ReplyError
	if err := expectOK(c.r); !errors.As(err, &re) || re.Msg != "ERR injected" {
		t.Fatalf("expectOK = %v, want ReplyError ERR injected", err)
	}
}

func TestContextCancelUnblocks(t *testing.T) {
	// A server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Sequential(ctx, ln.Addr().String(), 10); err == nil {
		t.Fatal("Sequential against a silent server succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
}

func TestIdle(t *testing.T) {
	s := startFake(t)
	ctx := context.Background()
	idle, err := OpenIdle(ctx, s.addr, 50)
	if err != nil {
		t.Fatal(err)
	}
	if idle.Len() != 50 {
		t.Fatalf("Len = %d", idle.Len())
	}
	if err := idle.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.open.Load(); got != 50 {
		t.Errorf("server sees %d connections, want 50", got)
	}
	idle.Close()
	idle.Close()
	deadline := time.Now().Add(2 * time.Second)
	for s.open.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := s.open.Load(); got != 0 {
		t.Errorf("%d connections still open after Close", got)
	}
}

func TestDo(t *testing.T) {
	s := startFake(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr bool
	}{
		{"ok", []string{"SET", "k", "v"}, false},
		{"bulk", []string{"GET", "k"}, false},
		{"error reply", []string{"SET", "k", "fail"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Do(ctx, s.addr, tc.args...)
			var re *ReplyError
			if tc.wantErr != errors.As(err, &re) {
				t.Fatalf("Do = %v, want reply error %v", err, tc.wantErr)
			}
			if !tc.wantErr && err != nil {
				t.Fatal(err)
			}
		})
	}
}
