//go:build !unix

package router

import "strings"

// renderCPU writes zeros where getrusage does not exist.
func renderCPU(b *strings.Builder) {
	b.WriteString("used_cpu_sys:0.000000\r\nused_cpu_user:0.000000\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n")
}
