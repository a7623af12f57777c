// Package procstat owns what the harness reads from Linux's /proc: a
// process's CPU time (utime+stime from /proc/<pid>/stat), its resident set
// (VmRSS and VmHWM from /proc/<pid>/status), its open descriptors, and the
// machine description printed in the results.
//
// Trade-off: CPU time comes in clock ticks (USER_HZ, 100 on Linux), so a
// measurement is only as fine as 10 ms; the harness measures whole runs of
// a second or more, where that error is under 1%.
package procstat
