package main

import (
	"bytes"
	"runtime/trace"
	"strings"
	"testing"
)

// pingPong hands a token back and forth between two goroutines, so that
// each receive is readied by the other goroutine's send.
func pingPong(n int) {
	a, b := make(chan int), make(chan int)
	done := make(chan struct{})
	go func() {
		for v := range a {
			b <- v
		}
		close(done)
	}()
	for i := range n {
		a <- i
		<-b
	}
	close(a)
	<-done
}

func TestWaitsGroupsByWhoReadied(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	pingPong(200)
	trace.Stop()
	groups, err := waits(&buf, "github.com/shardproxy/shardproxy/bench/cmd/schedlat.")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for g, d := range groups {
		if strings.HasPrefix(g, "pingPong") {
			n += len(d)
		}
	}
	// Each of the 200 round trips readies a goroutine at least once from
	// pingPong or its closure.
	if n < 200 {
		var out strings.Builder
		printTable(&out, groups)
		t.Fatalf("%d waits readied from pingPong, want >= 200:\n%s", n, out.String())
	}
	var out strings.Builder
	printTable(&out, groups)
	if !strings.Contains(out.String(), "pingPong") {
		t.Errorf("table does not name pingPong:\n%s", out.String())
	}
}
