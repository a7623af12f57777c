package metrics

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkCommand measures what the data path pays per command: looking up
// the command's handle by table index, counting the result and observing
// the latency.
func BenchmarkCommand(b *testing.B) {
	names := make([]string, 240) // about the size of Redis 7's command table
	for i := range names {
		names[i] = "cmd" + strconv.Itoa(i)
	}
	m := New("v", "go")
	p, err := m.Pool("main", PoolOptions{CommandNames: names})
	if err != nil {
		b.Fatal(err)
	}
	const d = 180 * time.Microsecond
	b.Run("one-command", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p.Command(7).Observe(ResultOK, d)
		}
	})
	b.Run("mixed-commands", func(b *testing.B) {
		for i := range 16 {
			p.Command(i * 13)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Command((i&15)*13).Observe(ResultOK, d)
			i++
		}
	})
	b.Run("fields", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := p.Command(7)
			c.OK.Inc()
			c.Latency.Observe(d.Seconds())
		}
	})
	b.Run("parallel-same-command", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.Command(7).Observe(ResultOK, d)
			}
		})
	})
	b.Run("parallel-mixed-commands", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				p.Command((i&15)*13).Observe(ResultOK, d)
				i++
			}
		})
	})
}

// BenchmarkBackendRequest measures the per-request backend bookkeeping.
// per-request: every request updates in-flight, the request count and its
// latency, as a client session would. per-write-16: the pattern Backend
// documents, where the writer accounts for a write of 16 requests at once
// and the reader for each reply; reported per request. (A parallel variant
// of per-write would have several goroutines play the one reader and the one
// writer of a connection, which no real connection does.)
func BenchmarkBackendRequest(b *testing.B) {
	be := New("v", "go").Backend("main", "redis-1", "127.0.0.1:7000")
	perRequest := func() {
		be.InFlight.Inc()
		be.Requests.Inc()
		be.Latency.Observe(0.00018)
		be.InFlight.Dec()
	}
	const batch = 16
	perWrite := func() {
		be.Requests.Add(batch)
		be.InFlight.Add(batch)
		be.WriteBatch.Observe(batch)
		be.BytesOut.Add(batch * 40)
		for range batch {
			be.InFlight.Dec()
			be.Latency.Observe(0.00018)
		}
		be.BytesIn.Add(batch * 5)
	}
	b.Run("per-request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			perRequest()
		}
	})
	b.Run("per-request-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				perRequest()
			}
		})
	})
	b.Run("per-write-16", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			perWrite()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/request")
	})
}

// BenchmarkScrape measures one /metrics exposition with every family in use.
func BenchmarkScrape(b *testing.B) {
	h := driveEverything(b).Handler(HandlerOptions{})
	b.ReportAllocs()
	for b.Loop() {
		scrapeText(b, h)
	}
}
