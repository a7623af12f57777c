//go:build unix && !linux

package autoprocs

import "time"

func machineIdle() time.Duration { return -1 }

func cpuLimit(ncpu int) int { return ncpu }
