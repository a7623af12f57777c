package relay

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// echoServer echoes every connection until closed; it stops in t.Cleanup.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func TestRelayRoundTripDelay(t *testing.T) {
	target := echoServer(t)
	for _, tc := range []struct {
		name string
		rtt  time.Duration
	}{
		{"no delay", 0},
		{"200us", 200 * time.Microsecond},
		{"10ms", 10 * time.Millisecond},
		{"40ms", 40 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(target, tc.rtt)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			c, err := net.Dial("tcp", r.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 4)
			const trips = 20
			start := time.Now()
			for i := range trips {
				msg := []byte(fmt.Sprintf("m%03d", i))
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(buf, msg) {
					t.Fatalf("got %q, want %q", buf, msg)
				}
			}
			per := time.Since(start) / trips
			if per < tc.rtt {
				t.Errorf("round trip %v, want at least %v", per, tc.rtt)
			}
			// Generous upper bound for a loaded machine (go test runs
			// packages in parallel); it still catches a delay applied
			// several times over.
			if tc.rtt > 0 && per > 2*tc.rtt+10*time.Millisecond {
				t.Errorf("round trip %v, want about %v", per, tc.rtt)
			}
		})
	}
}

func TestRelayPreservesOrderUnderLoad(t *testing.T) {
	target := echoServer(t)
	r, err := New(target, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const lines = 20000
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(c)
		for i := range lines {
			fmt.Fprintf(w, "line %d\n", i)
		}
		if err := w.Flush(); err != nil {
			errc <- err
			return
		}
		errc <- c.(*net.TCPConn).CloseWrite()
	}()
	sc := bufio.NewScanner(c)
	n := 0
	for sc.Scan() {
		if want := fmt.Sprintf("line %d", n); sc.Text() != want {
			t.Fatalf("line %d: got %q, want %q", n, sc.Text(), want)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n != lines {
		t.Fatalf("got %d lines, want %d (the half-close must reach the far end and back)", n, lines)
	}
}

func TestRelayCloseStopsGoroutines(t *testing.T) {
	target := echoServer(t)
	before := runtime.NumGoroutine()
	r, err := New(target, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", r.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	// The echo server's goroutines end once the relay closes its side.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after Close, %d before", g, before)
	}
}

func TestNewRejectsNegativeRTT(t *testing.T) {
	if _, err := New("127.0.0.1:1", -time.Millisecond); err == nil {
		t.Fatal("New accepted a negative round trip")
	}
}
