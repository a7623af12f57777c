package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// BenchRow is one line of `redis-benchmark --csv` output (Redis 7).
type BenchRow struct {
	// Test is redis-benchmark's test name, e.g. "SET" or "MSET (10 keys)".
	Test string
	// RPS is requests per second.
	RPS float64
	// AvgMs, MinMs, P50Ms, P95Ms, P99Ms and MaxMs are latencies in ms.
	AvgMs, MinMs, P50Ms, P95Ms, P99Ms, MaxMs float64
}

// csvHeader is the header line redis-benchmark 7 prints with --csv.
var csvHeader = []string{"test", "rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "max_latency_ms"}

// ErrNoRows is returned by ParseCSV when the output holds no result line.
var ErrNoRows = errors.New("report: redis-benchmark printed no CSV results")

// ParseCSV parses redis-benchmark --csv output. Lines that are not CSV
// results (warnings such as "WARNING: Could not fetch server CONFIG") are
// ignored; the header must be redis-benchmark 7's.
func ParseCSV(out []byte) ([]BenchRow, error) {
	var rows []BenchRow
	header := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, `"`) {
			continue
		}
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil {
			return nil, fmt.Errorf("report: bad CSV line %q: %w", line, err)
		}
		if rec[0] == "test" {
			if strings.Join(rec, ",") != strings.Join(csvHeader, ",") {
				return nil, fmt.Errorf("report: unexpected CSV header %q (want redis-benchmark 7's)", line)
			}
			header = true
			continue
		}
		if !header {
			return nil, fmt.Errorf("report: CSV line before the header: %q", line)
		}
		if len(rec) != len(csvHeader) {
			return nil, fmt.Errorf("report: CSV line has %d fields, want %d: %q", len(rec), len(csvHeader), line)
		}
		var v [7]float64
		for i := range v {
			f, err := strconv.ParseFloat(rec[i+1], 64)
			if err != nil {
				return nil, fmt.Errorf("report: field %s of %q: %w", csvHeader[i+1], line, err)
			}
			v[i] = f
		}
		rows = append(rows, BenchRow{Test: rec[0], RPS: v[0], AvgMs: v[1], MinMs: v[2], P50Ms: v[3], P95Ms: v[4], P99Ms: v[5], MaxMs: v[6]})
	}
	if len(rows) == 0 {
		return nil, ErrNoRows
	}
	return rows, nil
}

// failureMarkers are substrings of redis-benchmark output that mean a run
// did not measure what it claims: an error reply, a dropped connection.
var failureMarkers = []string{"Error", "error:", "ERR ", "Connection refused", "Server closed the connection", "Writing to socket"}

// CheckOutput returns an error naming the first line of redis-benchmark's
// combined output that reports a failure. The "Could not fetch server
// CONFIG" warning (a proxy that does not serve CONFIG GET) is not one.
func CheckOutput(out []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		for _, m := range failureMarkers {
			if strings.Contains(line, m) {
				return fmt.Errorf("redis-benchmark reported a failure: %q", strings.TrimSpace(line))
			}
		}
	}
	return nil
}
