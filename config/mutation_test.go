package config

import (
	"strings"
	"testing"
)

// An empty listen address is refused with a clear error (and does not
// crash the unix-path check). Kills the mutant len(s) >= 0 in isUnixPath
// that make mutate found alive.
func TestEmptyListenRefused(t *testing.T) {
	p := Default("p")
	p.Listen = ""
	p.Servers = []Server{{Addr: "127.0.0.1:6379", Weight: 1, Name: "a"}}
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "p.listen") {
		t.Fatalf("Validate with an empty listen: %v", err)
	}
	if p.ListenNetwork() != "tcp" {
		t.Fatalf("ListenNetwork of an empty listen = %q", p.ListenNetwork())
	}
}
