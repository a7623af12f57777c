package backend

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when a goroutine outlives the tests: every
// goroutine the package starts has an owner that stops and waits for it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
