// Command eventloop measures issue 8's event-loop prototype side by side:
// the event-loop relay (bench/relay.Loop) with default GOMAXPROCS and with
// 1, the goroutine relay (1 shard only), twemproxy and shardproxy with
// default flags, on 3 shards and on 1, SET and GET at -P 1 and -P 16 in
// interleaved redis-benchmark rounds, plus RSS per idle client. It writes
// results/<date>-eventloop-run.md (the tables; the write-up with method
// and conclusion is results/<date>-eventloop.md, written by hand).
//
//	cd bench && go run ./cmd/eventloop [-rounds 3] [-n1 50000] [-n16 200000] [-idle 10000] [-shards 3,1]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shardproxy/shardproxy/bench/harness"
)

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds; medians are reported")
	n1 := flag.Int("n1", 50000, "requests per -P 1 run")
	n16 := flag.Int("n16", 200000, "requests per -P 16 run")
	idle := flag.Int("idle", 10000, "idle client connections for the RSS test (0: skip)")
	shards := flag.String("shards", "3,1", "comma-separated shard counts")
	root := flag.String("root", "..", "repository root (where cmd/proxy is)")
	proxy := flag.String("proxy", "", "shardproxy binary (default <root>/bin/shardproxy, built if missing or stale)")
	out := flag.String("out", "results", "directory for the results file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, *rounds, *n1, *n16, *idle, *shards, *root, *proxy, *out); err != nil {
		log.Error("eventloop", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, rounds, n1, n16, idle int, shards, root, proxy, out string) error {
	var counts []int
	for _, s := range strings.Split(shards, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -shards %q", shards)
		}
		counts = append(counts, n)
	}
	if proxy == "" {
		proxy = filepath.Join(root, "bin", "shardproxy")
		if _, err := harness.EnsureProxy(ctx, root, proxy); err != nil {
			return err
		}
	}
	work, err := os.MkdirTemp("", "shardproxy-eventloop-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	relayBin := filepath.Join(work, "relay")
	if err := harness.BuildRelay(ctx, ".", relayBin); err != nil {
		return err
	}
	cfg := harness.EventLoopConfig{ShardproxyBin: proxy, RelayBin: relayBin, WorkDir: work, Rounds: rounds,
		Clients: 50, KeySpace: 100000, Requests: map[int]int{1: n1, 16: n16}, Shards: counts, IdleConns: idle, Logger: log}
	start := time.Now()
	res, err := harness.RunEventLoop(ctx, cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	file := filepath.Join(out, time.Now().Format("2006-01-02")+"-eventloop-run.md")
	md := append([]byte(fmt.Sprintf("# Event-loop relay vs goroutines vs twemproxy (%s, took %v)\n\n",
		time.Now().Format("2006-01-02 15:04"), time.Since(start).Round(time.Second))), res.Markdown(cfg)...)
	if err := os.WriteFile(file, md, 0o644); err != nil {
		return err
	}
	os.Stdout.Write(md)
	log.Info("written", "file", file)
	return nil
}
