package router

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// redis-benchmark runs through the proxy, with and without pipelining;
// every test must complete with no error line.
func TestRedisBenchmark(t *testing.T) {
	if testing.Short() {
		t.Skip("redis-benchmark run skipped in -short mode")
	}
	bin := testenv.RequireBinary(t, "redis-benchmark")
	rs := shards(t, 3)
	// A generous timeout: the test checks that every request completes on a
	// shared 2-core machine (under -race), not how fast.
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 5 * time.Second })
	tests := "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange,mset"
	for _, pipeline := range []int{1, 16} {
		t.Run("P"+strconv.Itoa(pipeline), func(t *testing.T) {
			out, err := exec.Command(bin, "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port()),
				"-t", tests, "-n", "20000", "-q", "-P", strconv.Itoa(pipeline)).CombinedOutput()
			text := string(out)
			if err != nil {
				t.Fatalf("redis-benchmark: %v\n%s", err, text)
			}
			lines := 0
			for _, line := range strings.Split(text, "\r") {
				for _, l := range strings.Split(line, "\n") {
					l = strings.TrimSpace(l)
					if l == "" {
						continue
					}
					if strings.Contains(strings.ToLower(l), "error") {
						t.Fatalf("error line: %q\n%s", l, text)
					}
					if strings.Contains(l, "requests per second") {
						lines++
						t.Log(l)
					}
				}
			}
			// 14 tests, lrange counting as four (100, 300, 500 and 600
			// elements) plus the LPUSH that fills its list.
			if want := 13 + 4 + 1; lines != want {
				t.Fatalf("%d tests completed, want %d:\n%s", lines, want, text)
			}
		})
	}
}
