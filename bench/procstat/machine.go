package procstat

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strings"
)

// Machine describes the host a benchmark ran on.
type Machine struct {
	// CPUs is the number of CPUs usable by the process (nproc).
	CPUs int
	// CPUModel is the first "model name" of /proc/cpuinfo.
	CPUModel string
	// Kernel is /proc/sys/kernel/osrelease.
	Kernel string
	// GoVersion is the Go toolchain the harness was built with.
	GoVersion string
}

// Describe reads the machine description. Fields it cannot read are
// "unknown"; the description is informational and never fails.
func Describe() Machine {
	m := Machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", Kernel: "unknown", GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if v := CPUModel(b); v != "" {
			m.CPUModel = v
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// CPUModel returns the first "model name" value of /proc/cpuinfo contents,
// or "" if there is none.
func CPUModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return ""
}

// LoadAvg returns the first three fields of /proc/loadavg ("1.00 0.50
// 0.25"), or "unknown".
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
