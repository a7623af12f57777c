package config

import (
	"strings"
	"testing"
	"time"
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

// A users entry with no name (empty, blanks, or only the optional "user")
// is refused with its line, not a crash. Kills the boundary mutant of
// UserName's length check (f[0] of no fields).
func TestUsersEntryWithoutName(t *testing.T) {
	for _, entry := range []string{`""`, `"   "`, "user"} {
		_, err := Parse("f.yml", []byte(poolYAML("users:", "  - "+entry)))
		if err == nil || !strings.Contains(err.Error(), "users: empty entry") || !strings.Contains(err.Error(), "f.yml:") {
			t.Errorf("users entry %s: %v, want an empty-entry error with its line", entry, err)
		}
	}
	if n, rules := UserName(""); n != "" || rules != nil {
		t.Errorf(`UserName("") = %q, %q`, n, rules)
	}
}

// The limits of client_output_buffer_limit are inclusive: 2^50 bytes and
// 2^31 soft seconds are accepted, one more is refused. Kills the boundary
// mutants of both checks.
func TestOutputLimitBounds(t *testing.T) {
	l, msg := ParseOutputLimit("1125899906842624 1125899906842624 2147483648")
	if msg != "" || l.Hard != 1<<50 || l.Soft != 1<<50 || l.SoftSeconds != (1<<31)*time.Second {
		t.Fatalf("the largest limit: %+v %q", l, msg)
	}
	for _, s := range []string{"1125899906842625 0 0", "0 1125899906842625 0", "0 0 2147483649"} {
		if _, msg := ParseOutputLimit(s); msg == "" {
			t.Errorf("ParseOutputLimit(%q) accepted", s)
		}
	}
}

// pinned_connections must be at least 1, and 1 is valid. Kills the
// boundary mutant of its check.
func TestPinnedConnectionsMinimum(t *testing.T) {
	p := Default("p")
	p.Servers = []Server{{Addr: "127.0.0.1:6379", Weight: 1, Name: "a"}}
	p.PinnedConnections = 1
	if err := p.Validate(); err != nil {
		t.Fatalf("pinned_connections 1: %v", err)
	}
	p.PinnedConnections = 0
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "pinned_connections: must be >= 1, got 0") {
		t.Fatalf("pinned_connections 0: %v", err)
	}
}
