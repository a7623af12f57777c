package testenv

import (
	"fmt"
	"testing"
	"time"
)

// WaitFor polls cond every 20 ms until it returns true, failing the test
// with the message msgf (formatted with args when the time is up) once
// timeout has passed. cond runs on the calling goroutine.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, msgf string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: timed out after %v waiting for %s", timeout, fmt.Sprintf(msgf, args...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
