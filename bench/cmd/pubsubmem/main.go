// Command pubsubmem measures the memory a proxy (or redis-server) process
// spends per client connection: it opens -n connections to -addr, sends
// each one command and reads its reply, then reports the growth of the
// process's RSS (-pid, read from /proc) over the value before, per client.
// Modes: ping (an idle client that ran one command), subscribe (each
// client subscribed to one of -channels channels), psubscribe (one of
// -channels patterns). The connections are held until the report is
// printed. Linux only.
//
// With -publish M (mode subscribe), a publisher connection then sends M
// PUBLISHes of a 32-byte payload, pipelined by 100, on channel ch:0 (use
// -channels 1 so that every client listens), and the command reports the
// messages per second delivered to all the clients together, from the
// first PUBLISH sent to the last message read by the last client.
//
//	pubsubmem -addr 127.0.0.1:22121 -pid $(pgrep -n shardproxy) -n 10000 -mode subscribe
//	pubsubmem -addr 127.0.0.1:22121 -pid $(pgrep -n shardproxy) -n 1000 -channels 1 -publish 2000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:22121", "server to connect to")
	pid := flag.Int("pid", 0, "pid of the server process whose RSS is measured")
	n := flag.Int("n", 10000, "client connections")
	mode := flag.String("mode", "subscribe", "ping, subscribe or psubscribe")
	channels := flag.Int("channels", 10000, "distinct channels (or patterns) the clients subscribe to")
	settle := flag.Duration("settle", 2*time.Second, "wait before reading RSS")
	publish := flag.Int("publish", 0, "messages to publish on ch:0 after subscribing (0: measure memory only)")
	flag.Parse()
	if *pid == 0 {
		log.Fatal("-pid is required")
	}
	before := rssKB(*pid)
	conns := make([]net.Conn, 0, *n)
	start := time.Now()
	for i := 0; i < *n; i++ {
		nc, err := net.Dial("tcp", *addr)
		if err != nil {
			log.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, nc)
		var cmd string
		switch *mode {
		case "ping":
			cmd = "PING\r\n"
		case "subscribe":
			cmd = fmt.Sprintf("SUBSCRIBE ch:%d\r\n", i%*channels)
		case "psubscribe":
			cmd = fmt.Sprintf("PSUBSCRIBE pat:%d:*\r\n", i%*channels)
		default:
			log.Fatalf("unknown mode %q", *mode)
		}
		if _, err := io.WriteString(nc, cmd); err != nil {
			log.Fatal(err)
		}
		if err := readReply(bufio.NewReaderSize(nc, 256)); err != nil {
			log.Fatalf("connection %d: %v", i, err)
		}
	}
	if *publish > 0 {
		rate(*addr, conns, *publish)
		return
	}
	time.Sleep(*settle)
	after := rssKB(*pid)
	fmt.Printf("mode=%s clients=%d channels=%d rss_before_kb=%d rss_after_kb=%d per_client_kb=%.2f connect_s=%.1f\n",
		*mode, *n, *channels, before, after, float64(after-before)/float64(*n), time.Since(start).Seconds())
	for _, nc := range conns {
		nc.Close()
	}
}

// rate publishes m messages on ch:0 and waits until every connection read
// them all.
func rate(addr string, conns []net.Conn, m int) {
	const payload = "0123456789abcdef0123456789abcdef"
	msg := fmt.Sprintf("*3\r\n$7\r\nmessage\r\n$4\r\nch:0\r\n$%d\r\n%s\r\n", len(payload), payload)
	pub, err := net.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	done := make(chan error, len(conns))
	start := time.Now()
	for _, nc := range conns {
		go func() {
			nc.SetReadDeadline(time.Now().Add(time.Minute))
			_, err := io.CopyN(io.Discard, nc, int64(m*len(msg)))
			done <- err
		}()
	}
	cmd := fmt.Sprintf("*3\r\n$7\r\nPUBLISH\r\n$4\r\nch:0\r\n$%d\r\n%s\r\n", len(payload), payload)
	br := bufio.NewReader(pub)
	for sent := 0; sent < m; {
		k := min(100, m-sent)
		if _, err := io.WriteString(pub, strings.Repeat(cmd, k)); err != nil {
			log.Fatal(err)
		}
		for j := 0; j < k; j++ {
			if _, err := br.ReadString('\n'); err != nil {
				log.Fatal(err)
			}
		}
		sent += k
	}
	for range conns {
		if err := <-done; err != nil {
			log.Fatalf("subscriber: %v", err)
		}
	}
	el := time.Since(start).Seconds()
	fmt.Printf("subscribers=%d published=%d delivered=%d seconds=%.3f msgs_per_s=%.0f\n",
		len(conns), m, m*len(conns), el, float64(m*len(conns))/el)
}

// readReply reads one reply: a simple line, or an array of 3 elements
// (a subscribe confirmation).
func readReply(br *bufio.Reader) error {
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	switch line[0] {
	case '+':
		return nil
	case '*':
		k, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		for j := 0; j < k; j++ {
			l, err := br.ReadString('\n')
			if err != nil {
				return err
			}
			if l[0] == '$' {
				m, _ := strconv.Atoi(strings.TrimSpace(l[1:]))
				if _, err := io.ReadFull(br, make([]byte, m+2)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return fmt.Errorf("unexpected reply %q", line)
}

// rssKB is VmRSS of pid in KB.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb
		}
	}
	log.Fatal("no VmRSS")
	return 0
}
