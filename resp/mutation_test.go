package resp

import (
	"strings"
	"testing"
)

// The nesting limit of ReadValue is exact: a value 1000 aggregates deep
// decodes, one more level is refused. Kills the boundary mutant of the
// depth check that make mutate found alive.
func TestDecodeDepthBoundary(t *testing.T) {
	nested := func(n int) []byte { return []byte(strings.Repeat("*1\r\n", n) + ":1\r\n") }
	v, err := Decode(nested(maxDecodeDepth))
	if err != nil {
		t.Fatalf("a value %d deep: %v", maxDecodeDepth, err)
	}
	for range maxDecodeDepth {
		a, ok := v.([]any)
		if !ok || len(a) != 1 {
			t.Fatalf("decoded shape %T", v)
		}
		v = a[0]
	}
	if v != int64(1) {
		t.Fatalf("innermost value %v", v)
	}
	if _, err := Decode(nested(maxDecodeDepth + 1)); err == nil || !strings.Contains(err.Error(), "nested too deep") {
		t.Fatalf("a value %d deep: %v, want refused", maxDecodeDepth+1, err)
	}
}
