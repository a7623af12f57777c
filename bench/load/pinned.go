package load

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Transactions runs MULTI / INCR / SET / EXEC transactions on clients
// connections for about dur, each transaction written as one pipeline
// (as go-redis's TxPipelined and redis-py's pipeline(transaction=True)
// send it) on keys of one hash tag per client, and returns how many
// completed. Every reply is checked, and EXEC's INCR must count up.
func Transactions(ctx context.Context, addr string, clients int, dur time.Duration) (Throughput, error) {
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn, err := dial(ctx, addr)
			if err != nil {
				errs <- err
				return
			}
			defer cn.nc.Close()
			defer cn.watch(ctx)()
			tag := "{tx" + strconv.Itoa(c) + "}"
			var w []byte
			w = appendCommand(w, []byte("DEL"), []byte(tag+"n"))
			if _, err := cn.nc.Write(w); err != nil {
				errs <- err
				return
			}
			if err := skipReply(cn.r); err != nil {
				errs <- err
				return
			}
			w = w[:0]
			w = appendCommand(w, []byte("MULTI"))
			w = appendCommand(w, []byte("INCR"), []byte(tag+"n"))
			w = appendCommand(w, []byte("SET"), []byte(tag+"v"), []byte("xxx"))
			w = appendCommand(w, []byte("EXEC"))
			n := 0
			for time.Since(start) < dur {
				if _, err := cn.nc.Write(w); err != nil {
					errs <- err
					return
				}
				for range 3 { // +OK, +QUEUED, +QUEUED
					if err := expectSimple(cn.r); err != nil {
						errs <- err
						return
					}
				}
				n++
				if err := expectExec(cn.r, n); err != nil {
					errs <- err
					return
				}
			}
			total.Add(int64(n))
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return Throughput{}, err
	}
	return Throughput{Ops: int(total.Load()), Elapsed: elapsed}, nil
}

// expectSimple reads one reply that must be a simple string.
func expectSimple(r interface {
	ReadSlice(byte) ([]byte, error)
}) error {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if len(line) < 3 || line[0] != '+' {
		return fmt.Errorf("load: reply %q, want a simple string", line)
	}
	return nil
}

// expectExec reads EXEC's reply: *2, :n, +OK.
func expectExec(r interface {
	ReadSlice(byte) ([]byte, error)
}, n int) error {
	want := "*2\r\n:" + strconv.Itoa(n) + "\r\n+OK\r\n"
	got := ""
	for range 3 {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		got += string(line)
	}
	if got != want {
		return fmt.Errorf("load: EXEC replied %q, want %q", got, want)
	}
	return nil
}

// Handoffs measures BLPOP hand-offs: consumers connections wait in BLPOP
// on one list while one producer pushes n elements in pipelines of 100
// RPUSHes; it returns n and the time until every element was popped.
func Handoffs(ctx context.Context, addr string, consumers, n int) (Throughput, error) {
	const list = "{bq}list"
	if err := Do(ctx, addr, "DEL", list); err != nil {
		return Throughput{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var popped atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, consumers+1)
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn, err := dial(ctx, addr)
			if err != nil {
				errs <- err
				return
			}
			defer cn.nc.Close()
			defer cn.watch(ctx)()
			w := appendCommand(nil, []byte("BLPOP"), []byte(list), []byte("0.5"))
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := cn.nc.Write(w); err != nil {
					errs <- err
					return
				}
				line, err := cn.r.ReadSlice('\n')
				if err != nil {
					errs <- err
					return
				}
				switch string(line) {
				case "*-1\r\n": // timed out
					continue
				case "*2\r\n":
					for range 2 {
						if err := skipReply(cn.r); err != nil {
							errs <- err
							return
						}
					}
					if popped.Add(1) == int64(n) {
						close(done)
					}
				default:
					errs <- fmt.Errorf("load: BLPOP replied %q", line)
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond) // let the consumers block first
	start := time.Now()
	p, err := dial(ctx, addr)
	if err != nil {
		return Throughput{}, err
	}
	defer p.nc.Close()
	var w []byte
	for i := 0; i < n; i += 100 {
		w = w[:0]
		k := min(100, n-i)
		for j := range k {
			w = appendCommand(w, []byte("RPUSH"), []byte(list), []byte(strconv.Itoa(i+j)))
		}
		if _, err := p.nc.Write(w); err != nil {
			return Throughput{}, err
		}
		for range k {
			if err := skipReply(p.r); err != nil {
				return Throughput{}, err
			}
		}
	}
	select {
	case <-done:
	case err := <-errs:
		return Throughput{}, err
	case <-time.After(time.Minute):
		return Throughput{}, fmt.Errorf("load: %d of %d elements popped after a minute", popped.Load(), n)
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	return Throughput{Ops: n, Elapsed: elapsed}, nil
}
