//go:build unix

package router

import (
	"fmt"
	"strings"
	"syscall"
)

// renderCPU writes INFO's cpu section for the proxy process, as Redis
// does for itself (getrusage of the process and of its children).
func renderCPU(b *strings.Builder) {
	secs := func(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	fmt.Fprintf(b, "used_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\nused_cpu_sys_children:%.6f\r\nused_cpu_user_children:%.6f\r\n",
		secs(self.Stime), secs(self.Utime), secs(children.Stime), secs(children.Utime))
}
