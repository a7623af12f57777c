//go:build !plan9

package router

import "syscall"

// shortageErrors are the accept errors resourceShortage waits out.
var shortageErrors = []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM}
