package report

import (
	"errors"
	"strings"
	"testing"
)

const sampleCSV = `WARNING: Could not fetch server CONFIG
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","86206.90","0.493","0.288","0.463","0.687","0.919","1.823"
"MSET (10 keys)","47619.05","0.955","0.256","0.919","1.287","1.783","3.343"
`

func TestParseCSV(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    []BenchRow
		wantErr string
	}{
		{
			name: "warning, header, two rows",
			in:   sampleCSV,
			want: []BenchRow{
				{Test: "SET", RPS: 86206.90, AvgMs: 0.493, MinMs: 0.288, P50Ms: 0.463, P95Ms: 0.687, P99Ms: 0.919, MaxMs: 1.823},
				{Test: "MSET (10 keys)", RPS: 47619.05, AvgMs: 0.955, MinMs: 0.256, P50Ms: 0.919, P95Ms: 1.287, P99Ms: 1.783, MaxMs: 3.343},
			},
		},
		{name: "empty", in: "", wantErr: ErrNoRows.Error()},
		{name: "header only", in: strings.SplitAfterN(sampleCSV, "\n", 3)[1], wantErr: ErrNoRows.Error()},
		{name: "old header", in: "\"test\",\"rps\"\n\"SET\",\"1\"\n", wantErr: "unexpected CSV header"},
		{name: "row before header", in: "\"SET\",\"1\",\"1\",\"1\",\"1\",\"1\",\"1\",\"1\"\n", wantErr: "before the header"},
		{name: "bad number", in: strings.Replace(sampleCSV, "86206.90", "fast", 1), wantErr: "field rps"},
		{name: "short row", in: strings.Replace(sampleCSV, `,"1.823"`, "", 1), wantErr: "fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCSV([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("row %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := ParseCSV(nil); !errors.Is(err, ErrNoRows) {
		t.Errorf("ParseCSV(nil) = %v, want ErrNoRows", err)
	}
}

func TestCheckOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		bad  bool
	}{
		{"clean with CONFIG warning", sampleCSV, false},
		{"server error", "Error from server: ERR unknown command\n", true},
		{"closed", "Error: Server closed the connection\n", true},
		{"refused", "Could not connect to Redis at 127.0.0.1:1: Connection refused\n", true},
		{"write failure", "Writing to socket: Broken pipe\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckOutput([]byte(tc.out)); (err != nil) != tc.bad {
				t.Errorf("CheckOutput = %v, want failure %v", err, tc.bad)
			}
		})
	}
}
