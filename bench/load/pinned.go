package load

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// eachClient runs fn on n connections to addr at once, each in its own
// goroutine that it waits for, and returns the first error. A connection
// is closed when its fn returns or ctx ends.
func eachClient(ctx context.Context, addr string, n int, fn func(i int, c *conn) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(ctx, addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.nc.Close()
			defer c.watch(ctx)()
			if err := fn(i, c); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when closed and empty
}

// send writes w and reads n replies, each checked by check.
func (c *conn) send(w []byte, n int, check func() error) error {
	if _, err := c.nc.Write(w); err != nil {
		return err
	}
	for range n {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// Transactions runs MULTI / INCR / SET / EXEC transactions on clients
// connections for about dur, each transaction written as one pipeline
// (as go-redis's TxPipelined and redis-py's pipeline(transaction=True)
// send it) on keys of one hash tag per client, and returns how many
// completed. Every reply is checked, and EXEC's INCR must count up.
func Transactions(ctx context.Context, addr string, clients int, dur time.Duration) (Throughput, error) {
	var total atomic.Int64
	start := time.Now()
	err := eachClient(ctx, addr, clients, func(i int, c *conn) error {
		tag := "{tx" + strconv.Itoa(i) + "}"
		skip := func() error { return skipReply(c.r) }
		if err := c.send(appendCommand(nil, []byte("DEL"), []byte(tag+"n")), 1, skip); err != nil {
			return err
		}
		var w []byte
		w = appendCommand(w, []byte("MULTI"))
		w = appendCommand(w, []byte("INCR"), []byte(tag+"n"))
		w = appendCommand(w, []byte("SET"), []byte(tag+"v"), []byte("xxx"))
		w = appendCommand(w, []byte("EXEC"))
		simple := func() error { return expectSimple(c.r) } // +OK, +QUEUED, +QUEUED
		n := 0
		for time.Since(start) < dur {
			if err := c.send(w, 3, simple); err != nil {
				return err
			}
			n++
			if err := expectExec(c.r, n); err != nil {
				return err
			}
		}
		total.Add(int64(n))
		return nil
	})
	if err != nil {
		return Throughput{}, err
	}
	return Throughput{Ops: int(total.Load()), Elapsed: time.Since(start)}, nil
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
	consumed := make(chan error, 1)
	go func() {
		consumed <- eachClient(ctx, addr, consumers, func(_ int, c *conn) error {
			return consume(c, list, done, &popped, int64(n))
		})
	}()
	time.Sleep(100 * time.Millisecond) // let the consumers block first
	start := time.Now()
	err := produce(ctx, addr, list, n)
	if err == nil {
		select {
		case <-done:
		case err = <-consumed:
			if err == nil {
				err = fmt.Errorf("load: consumers stopped after %d of %d elements", popped.Load(), n)
			}
		case <-time.After(time.Minute):
			err = fmt.Errorf("load: %d of %d elements popped after a minute", popped.Load(), n)
		}
	}
	elapsed := time.Since(start)
	cancel()
	if cerr := <-consumed; err == nil && cerr != nil && ctx.Err() == nil {
		err = cerr
	}
	if err != nil {
		return Throughput{}, err
	}
	return Throughput{Ops: n, Elapsed: elapsed}, nil
}

// consume pops from list with BLPOP (0.5 s timeout) until done is closed,
// closing done when the n-th element has been popped.
func consume(c *conn, list string, done chan struct{}, popped *atomic.Int64, n int64) error {
	w := appendCommand(nil, []byte("BLPOP"), []byte(list), []byte("0.5"))
	for {
		select {
		case <-done:
			return nil
		default:
		}
		if _, err := c.nc.Write(w); err != nil {
			return err
		}
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			select {
			case <-done: // closed by the cancel that follows done
				return nil
			default:
				return err
			}
		}
		switch string(line) {
		case "*-1\r\n": // timed out
		case "*2\r\n":
			for range 2 {
				if err := skipReply(c.r); err != nil {
					return err
				}
			}
			if popped.Add(1) == n {
				close(done)
			}
		default:
			return fmt.Errorf("load: BLPOP replied %q", line)
		}
	}
}

// produce pushes n elements onto list in pipelines of 100 RPUSHes.
func produce(ctx context.Context, addr, list string, n int) error {
	p, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer p.nc.Close()
	defer p.watch(ctx)()
	skip := func() error { return skipReply(p.r) }
	var w []byte
	for i := 0; i < n; i += 100 {
		w = w[:0]
		k := min(100, n-i)
		for j := range k {
			w = appendCommand(w, []byte("RPUSH"), []byte(list), []byte(strconv.Itoa(i+j)))
		}
		if err := p.send(w, k, skip); err != nil {
			return err
		}
	}
	return nil
}
