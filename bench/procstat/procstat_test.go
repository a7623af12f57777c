package procstat

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{
			name: "plain",
			stat: "1234 (redis-server) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 130 0 0 20 0 5 0 100 1000 200",
			want: 3800 * time.Millisecond,
		},
		{
			name: "name with spaces and parens",
			stat: "42 (a b) (c)) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1",
			want: 100 * time.Millisecond,
		},
		{name: "no name", stat: "42 R 1", wantErr: true},
		{name: "truncated", stat: "42 (x) R 1 2 3", wantErr: true},
		{name: "bad utime", stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 zz 1 0 0", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatCPU([]byte(tc.stat))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatusMem(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  string
		want    Memory
		wantErr bool
	}{
		{
			name:   "both",
			status: "Name:\tshardproxy\nVmPeak:\t 1000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t5\n",
			want:   Memory{RSS: 1 << 20, HWM: 2 << 20},
		},
		{name: "missing HWM", status: "VmRSS:\t1 kB\n", wantErr: true},
		{name: "bad unit", status: "VmRSS:\t1 MB\nVmHWM:\t1 kB\n", wantErr: true},
		{name: "kernel thread", status: "Name:\tkthreadd\nThreads:\t1\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatusMem([]byte(tc.status))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"x86", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n", "AMD EPYC 7B13"},
		{"none", "processor\t: 0\nBogoMIPS\t: 50.00\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CPUModel([]byte(tc.in)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSelf reads this test process's own /proc entries, the only process
// certain to exist.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /proc on this system; CI runs on Linux")
		}
		t.Skip("no /proc on this system")
	}
	// Burn a little CPU so the reading is positive at 10 ms resolution.
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	cpu, err := CPU(pid)
	if err != nil || cpu <= 0 {
		t.Errorf("CPU = %v, %v; want > 0", cpu, err)
	}
	m, err := Mem(pid)
	if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("Mem = %+v, %v; want 0 < RSS <= HWM", m, err)
	}
	n, err := OpenFDs(pid)
	if err != nil || n < 3 {
		t.Errorf("OpenFDs = %d, %v; want >= 3", n, err)
	}
	if l := LoadAvg(); len(strings.Fields(l)) != 3 {
		t.Errorf("LoadAvg = %q, want three fields", l)
	}
	if d := Describe(); d.CPUs < 1 || d.GoVersion == "" {
		t.Errorf("Describe = %+v", d)
	}
}
