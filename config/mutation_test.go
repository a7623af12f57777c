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
