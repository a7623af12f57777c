// Command pinned measures the pinned workloads of the proxy, transactions
// per second and BLPOP hand-offs per second, against each address given,
// in interleaved rounds (run it on a direct redis-server and on the proxy:
// the ratio is what matters on a shared machine).
//
//	go run ./cmd/pinned [-rounds 3] [-clients 50] [-time 3s] [-handoffs 20000] ADDR...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/shardproxy/shardproxy/bench/load"
)

func main() {
	rounds := flag.Int("rounds", 3, "interleaved rounds; the median is reported")
	clients := flag.Int("clients", 50, "transaction clients and BLPOP consumers")
	dur := flag.Duration("time", 3*time.Second, "duration of one transaction run")
	handoffs := flag.Int("handoffs", 20000, "elements pushed per hand-off run")
	flag.Parse()
	ctx := context.Background()
	tx := map[string][]float64{}
	ho := map[string][]float64{}
	for r := 0; r < *rounds; r++ {
		for _, addr := range flag.Args() {
			t, err := load.Transactions(ctx, addr, *clients, *dur)
			if err != nil {
				fmt.Fprintln(os.Stderr, addr, "transactions:", err)
				os.Exit(1)
			}
			h, err := load.Handoffs(ctx, addr, *clients, *handoffs)
			if err != nil {
				fmt.Fprintln(os.Stderr, addr, "hand-offs:", err)
				os.Exit(1)
			}
			tx[addr] = append(tx[addr], t.OpsPerSec())
			ho[addr] = append(ho[addr], h.OpsPerSec())
		}
	}
	fmt.Printf("| target | transactions/s | BLPOP hand-offs/s |\n|---|---|---|\n")
	for _, addr := range flag.Args() {
		fmt.Printf("| %s | %.0f | %.0f |\n", addr, median(tx[addr]), median(ho[addr]))
	}
}

func median(v []float64) float64 {
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}
