package router

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a goroutine outlives the tests: every
// goroutine the package starts has an owner that stops and waits for it.
// Every test runs with consumed client input overwritten before the next
// read (cmdreader.go), so that a command kept past its batch shows as
// garbage on the wire or in a reply.
func TestMain(m *testing.M) {
	scribbleInput = true
	goleak.VerifyTestMain(m)
}
