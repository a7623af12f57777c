// Command relay runs one of the bench module's Redis relays as its own
// process, so that its CPU and memory can be measured like a proxy's:
//
//	go run ./cmd/relay -mode loop -listen 127.0.0.1:7000 -shards ADDR[,ADDR...] [-procs N]
//	go run ./cmd/relay -mode turn -listen 127.0.0.1:7000 -shards ADDR[,ADDR...]
//	go run ./cmd/relay -mode goroutine -shards ADDR
//
// loop is the event-loop sharding relay (relay.Loop); turn the one-thread
// relay with nutcracker's turn (relay.TurnLoop, Linux); goroutine is the
// goroutine-per-connection relay (relay.Relay with no delay: one backend
// connection per client, to the one shard given). It prints the address it
// listens on as its first line of output and runs until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/lesismal/nbio/logging"
	"github.com/shardproxy/shardproxy/bench/relay"
)

func main() {
	mode := flag.String("mode", "loop", "loop (event-loop sharding relay), turn (one thread, nutcracker's turn) or goroutine (goroutine per connection, one shard)")
	listen := flag.String("listen", "127.0.0.1:0", "listen address (loop mode; goroutine mode picks a free port)")
	shards := flag.String("shards", "", "comma-separated shard addresses")
	procs := flag.Int("procs", 0, "GOMAXPROCS and, in loop mode, pollers (0: the Go default)")
	flag.Parse()
	// nbio logs to stdout, where the first line must be the address.
	logging.SetLevel(logging.LevelNone)
	if *procs > 0 {
		runtime.GOMAXPROCS(*procs)
	}
	addrs := strings.Split(*shards, ",")
	if *shards == "" {
		fmt.Fprintln(os.Stderr, "relay: -shards is required")
		os.Exit(2)
	}
	var addr string
	var closeFn func() error
	switch *mode {
	case "loop":
		l, err := relay.NewLoop(*listen, addrs, *procs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		addr, closeFn = l.Addr(), l.Close
	case "turn":
		l, err := relay.NewTurnLoop(*listen, addrs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		addr, closeFn = l.Addr(), l.Close
	case "goroutine":
		if len(addrs) != 1 {
			fmt.Fprintln(os.Stderr, "relay: goroutine mode relays to exactly one shard")
			os.Exit(2)
		}
		r, err := relay.New(addrs[0], 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "relay:", err)
			os.Exit(1)
		}
		addr, closeFn = r.Addr(), r.Close
	default:
		fmt.Fprintf(os.Stderr, "relay: unknown -mode %q\n", *mode)
		os.Exit(2)
	}
	fmt.Println(addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	_ = closeFn()
}
