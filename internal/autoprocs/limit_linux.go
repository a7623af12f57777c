package autoprocs

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/stat; 100 on every Linux port Go
// supports.
const clockTick = 10 * time.Millisecond

// machineIdle is the idle plus iowait time of every CPU since boot, from
// the first line of /proc/stat; -1 if it cannot be read.
func machineIdle() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return -1
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadSlice('\n')
	if err != nil {
		return -1
	}
	return parseStatIdle(line)
}

// parseStatIdle parses "cpu  user nice system idle iowait ...".
func parseStatIdle(line []byte) time.Duration {
	f := bytes.Fields(line)
	if len(f) < 6 || string(f[0]) != "cpu" {
		return -1
	}
	var ticks int64
	for _, v := range f[4:6] {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick
}

// cpuLimit caps ncpu by the cgroup v2 CPU quota of the process, if any.
// (Go's own default already follows cgroup v1 and v2 at start; reading it
// here follows a quota changed while the proxy runs.)
func cpuLimit(ncpu int) int {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ncpu
	}
	for _, line := range strings.Split(string(b), "\n") {
		path, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		if q, ok := quotaUnder("/sys/fs/cgroup", path); ok {
			return max(1, min(ncpu, q))
		}
	}
	return ncpu
}

// quotaUnder returns the smallest quota, in whole CPUs rounded up, of the
// cgroup at path and its ancestors.
func quotaUnder(root, path string) (int, bool) {
	best, found := math.MaxInt, false
	for p := filepath.Clean("/" + path); ; p = filepath.Dir(p) {
		if b, err := os.ReadFile(filepath.Join(root, p, "cpu.max")); err == nil {
			if q, ok := parseCPUMax(string(b)); ok {
				best, found = min(best, q), true
			}
		}
		if p == "/" {
			break
		}
	}
	return best, found
}

// parseCPUMax parses cgroup v2's "quota period" ("max 100000" = none).
func parseCPUMax(s string) (int, bool) {
	f := strings.Fields(s)
	if len(f) != 2 || f[0] == "max" {
		return 0, false
	}
	q, err1 := strconv.ParseFloat(f[0], 64)
	p, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, false
	}
	return int(math.Ceil(q / p)), true
}
