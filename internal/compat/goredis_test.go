package compat

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// goRedisVersion returns the go-redis module version this test is built
// with.
func goRedisVersion() string { return "go-redis v" + redis.Version() }

// errCode matches the error code word that starts a Redis error message.
var errCode = regexp.MustCompile(`^[A-Z]+ `)

// canonicalError is an error message without its leading code word.
func canonicalError(err error) string { return errCode.ReplaceAllString(err.Error(), "") }

// tally counts a pipeline's replies by kind (see WORKLOAD.md).
type tally struct{ ok, ints, sum, strs, bytes, nils, errs int64 }

func (t tally) String() string {
	return fmt.Sprintf("pipeline n=%d ok=%d ints=%d sum=%d strings=%d bytes=%d nils=%d errors=%d",
		t.ok+t.ints+t.strs+t.nils+t.errs, t.ok, t.ints, t.sum, t.strs, t.bytes, t.nils, t.errs)
}

// goRedisRun returns the workload of WORKLOAD.md written with go-redis v9,
// asking for the given protocol. With 3 both the plain server and the
// proxy speak RESP3.
func goRedisRun(protocol int) func(t *testing.T, tg target) []string {
	return func(t *testing.T, tg target) []string {
		ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
		defer cancel()
		c := redis.NewClient(&redis.Options{
			Addr:     fmt.Sprintf("%s:%d", tg.host, tg.port),
			Protocol: protocol,
		})
		defer c.Close()
		var out []string
		emit := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("go-redis via %s: %v", tg.name, err)
			}
		}

		pong, err := c.Ping(ctx).Result()
		must(err)
		emit("ping %s", pong)

		info, err := c.Info(ctx, "server").Result()
		must(err)
		version := ""
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
				version = v
			}
		}
		emit("info redis_version=%s", version)

		n, err := c.Do(ctx, "COMMAND", "COUNT").Int64()
		must(err)
		emit("command count=%d", n)

		st, err := c.FlushDB(ctx).Result()
		must(err)
		emit("flushdb %s", st)

		must(c.Set(ctx, "sg:k", "v1", 0).Err())
		v, err := c.Get(ctx, "sg:k").Result()
		must(err)
		emit("set-get %s", v)

		var tl tally
		cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 1000 {
				switch i % 8 {
				case 0, 4:
					p.Set(ctx, fmt.Sprintf("pl:%d", i), fmt.Sprintf("v%d", i), 0)
				case 1, 5:
					p.Incr(ctx, "pl:ctr")
				case 2, 6:
					p.Get(ctx, fmt.Sprintf("pl:%d", i-2))
				case 3:
					p.RPush(ctx, "pl:list", i)
				case 7:
					p.Get(ctx, fmt.Sprintf("pl:none:%d", i))
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			must(err)
		}
		for _, cmd := range cmds {
			switch cmd := cmd.(type) {
			case *redis.StatusCmd:
				if cmd.Err() != nil {
					tl.errs++
				} else if cmd.Val() == "OK" {
					tl.ok++
				}
			case *redis.IntCmd:
				if cmd.Err() != nil {
					tl.errs++
				} else {
					tl.ints++
					tl.sum += cmd.Val()
				}
			case *redis.StringCmd:
				switch {
				case errors.Is(cmd.Err(), redis.Nil):
					tl.nils++
				case cmd.Err() != nil:
					tl.errs++
				default:
					tl.strs++
					tl.bytes += int64(len(cmd.Val()))
				}
			default:
				t.Fatalf("unexpected pipeline command %T", cmd)
			}
		}
		emit("%s", tl)

		var kv []any
		var keys []string
		for i := range 50 {
			kv = append(kv, fmt.Sprintf("mk:%02d", i), fmt.Sprintf("mv%02d", i))
			keys = append(keys, fmt.Sprintf("mk:%02d", i))
		}
		st, err = c.MSet(ctx, kv...).Result()
		must(err)
		emit("mset %s", st)
		vals, err := c.MGet(ctx, append(keys, "mk:missing")...).Result()
		must(err)
		var got []string
		nils := 0
		for _, v := range vals {
			if v == nil {
				nils++
				continue
			}
			got = append(got, v.(string))
		}
		emit("mget n=%d nils=%d values=%s", len(vals), nils, strings.Join(got, ","))

		must(c.Set(ctx, "{user1}:a", "1", 0).Err())
		must(c.Set(ctx, "{user1}:b", "2", 0).Err())
		st, err = c.Rename(ctx, "{user1}:a", "{user1}:c").Result()
		must(err)
		vals, err = c.MGet(ctx, "{user1}:b", "{user1}:c").Result()
		must(err)
		emit("hashtag rename=%s mget=%v,%v", st, vals[0], vals[1])

		e1, err := c.Eval(ctx, "redis.call('SET',KEYS[1],ARGV[1]) return redis.call('GET',KEYS[1])", []string{"ev:k"}, "hello").Text()
		must(err)
		e2, err := c.Eval(ctx, "return {KEYS[1],KEYS[2],ARGV[1]}", []string{"{ev}a", "{ev}b"}, "x").StringSlice()
		must(err)
		emit("eval %s %s", e1, strings.Join(e2, ","))

		_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range 300 {
				p.Set(ctx, fmt.Sprintf("scan:%03d", i), "x", 0)
			}
			return nil
		})
		must(err)
		seen := map[string]bool{}
		it := c.Scan(ctx, 0, "scan:*", 50).Iterator()
		for it.Next(ctx) {
			seen[it.Val()] = true
		}
		must(it.Err())
		scanned := make([]string, 0, len(seen))
		for k := range seen {
			scanned = append(scanned, k)
		}
		sort.Strings(scanned)
		if len(scanned) == 0 {
			scanned = []string{"", ""}
		}
		emit("scan keys=%d first=%s last=%s", len(seen), scanned[0], scanned[len(scanned)-1])

		cmds, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, "pe:k", "v", 0)
			p.Incr(ctx, "pe:k")
			p.LPush(ctx, "pe:k", "x")
			p.Get(ctx, "pe:k")
			return nil
		})
		var parts []string
		for _, cmd := range cmds {
			if cmd.Err() != nil {
				parts = append(parts, canonicalError(cmd.Err()))
				continue
			}
			switch cmd := cmd.(type) {
			case *redis.StatusCmd:
				parts = append(parts, cmd.Val())
			case *redis.StringCmd:
				parts = append(parts, cmd.Val())
			default:
				parts = append(parts, fmt.Sprint(cmd.(interface{ Val() int64 }).Val()))
			}
		}
		emit("pipeline-error %s", strings.Join(parts, "|"))

		d, err := c.Del(ctx, keys...).Result()
		must(err)
		emit("del %d", d)

		// A second connection, for the concurrent writer, the pusher and
		// the publisher.
		c2 := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", tg.host, tg.port), Protocol: protocol})
		defer c2.Close()
		const user = "{user:1000}"
		tx, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, user+":profile", "name", "Ada")
			p.Incr(ctx, user+":visits")
			p.HGet(ctx, user+":profile", "name")
			return nil
		})
		must(err)
		emit("multi-exec %d,%d,%s", tx[0].(*redis.IntCmd).Val(), tx[1].(*redis.IntCmd).Val(), tx[2].(*redis.StringCmd).Val())

		err = c.Watch(ctx, func(w *redis.Tx) error {
			must(c2.Incr(ctx, user+":visits").Err())
			_, err := w.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, user+":visits", "100", 0)
				return nil
			})
			return err
		}, user+":visits")
		result := "applied"
		if errors.Is(err, redis.TxFailedErr) {
			result = "aborted"
		} else {
			must(err)
		}
		visits, err := c.Get(ctx, user+":visits").Result()
		must(err)
		emit("watch %s visits=%s", result, visits)

		pushed := make(chan error, 1)
		go func() {
			time.Sleep(200 * time.Millisecond)
			pushed <- c2.LPush(ctx, "bl:q", "job").Err()
		}()
		woken, err := c.BLPop(ctx, 5*time.Second, "bl:q").Result()
		must(err)
		must(<-pushed)
		start := time.Now()
		err = c.BLPop(ctx, time.Second, "bl:none").Err()
		timedOut := "?"
		if errors.Is(err, redis.Nil) {
			timedOut = "nil"
		} else {
			must(err)
		}
		waited := "short"
		if time.Since(start) >= 900*time.Millisecond {
			waited = "1s"
		}
		emit("blpop woken=%s timeout=%s waited=%s", strings.Join(woken, ","), timedOut, waited)

		ps := c2.Subscribe(ctx, "ps:news")
		_, err = ps.Receive(ctx)
		must(err)
		receivers, err := c.Publish(ctx, "ps:news", "hello").Result()
		must(err)
		mctx, mcancel := context.WithTimeout(ctx, 5*time.Second)
		msg, err := ps.ReceiveMessage(mctx)
		mcancel()
		must(err)
		must(ps.Close())
		emit("pubsub receivers=%d message=%s,%s", receivers, msg.Channel, msg.Payload)

		tg.restart()
		pong = ""
		for range 100 {
			if pong, err = c.Ping(ctx).Result(); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		must(err)
		must(c.Set(ctx, "rs:k", "v2", 0).Err())
		v, err = c.Get(ctx, "rs:k").Result()
		must(err)
		emit("reconnect %s %s", pong, v)
		emit("done")
		return out
	}
}
