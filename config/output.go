package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// OutputLimit is one class of Redis's client-output-buffer-limit: a client
// whose pending output (replies and pushes not yet written to its socket)
// goes over Hard bytes, or stays over Soft bytes for SoftSeconds, is
// disconnected. A zero Hard or Soft turns that limit off; SoftSeconds 0
// with a Soft limit disconnects as soon as Soft is passed, as in Redis.
type OutputLimit struct {
	Hard, Soft  int64
	SoftSeconds time.Duration
}

// String writes the limit as the configuration file does.
func (l OutputLimit) String() string {
	return fmt.Sprintf("%d %d %d", l.Hard, l.Soft, int64(l.SoftSeconds/time.Second))
}

// Defaults of client_output_buffer_limit and client_write_timeout.
//
// Redis's own default for the normal class is no limit at all (0 0 0),
// which would let one client that stops reading its replies hold any amount
// of the proxy's memory; the proxy caps it at 1 GB instead (Redis's default
// client-query-buffer-limit): room for the largest legal value (512 MB,
// proto-max-bulk-len) and for what a legitimate pipeline buffers, while a
// client that stops reading stays bounded. It keeps Redis's pubsub default.
var (
	DefaultOutputLimitNormal = OutputLimit{Hard: 1 << 30}
	DefaultOutputLimitPubsub = OutputLimit{Hard: 32 << 20, Soft: 8 << 20, SoftSeconds: 60 * time.Second}
)

// DefaultClientWriteTimeout bounds how long a write to a client may make no
// progress before the client is disconnected.
const DefaultClientWriteTimeout = 30 * time.Second

// DefaultPinnedConnections is the default bound on the dedicated backend
// connections of one client: a client pins one per shard it runs a
// transaction or blocking command on, rarely more than a few.
const DefaultPinnedConnections = 8

// DefaultMaxBlocking is the default bound on a pool's clients blocked at
// once (max_blocking).
const DefaultMaxBlocking = 1000

// outputLimits decodes client_output_buffer_limit: a mapping of class
// (normal, pubsub) to "<hard> <soft> <soft seconds>" as Redis writes it.
func (ps *parser) outputLimits(p *Pool, line int, v *yaml.Node) bool {
	key := "client_output_buffer_limit"
	if v.Kind != yaml.MappingNode {
		ps.errorf(line, p.Name, key, "want a mapping of class (normal, pubsub) to \"<hard> <soft> <seconds>\", got %s", describe(v))
		return false
	}
	ok := true
	seen := map[string]bool{}
	for kv := range slices.Chunk(v.Content, 2) {
		k, val := kv[0], kv[1]
		class, msg := keyName(k)
		if msg != "" {
			ps.errorf(k.Line, p.Name, key, "class: %s", msg)
			ok = false
			continue
		}
		var dst *OutputLimit
		switch class {
		case "normal":
			dst = &p.OutputLimitNormal
		case "pubsub":
			dst = &p.OutputLimitPubsub
		case "replica", "slave":
			ps.errorf(k.Line, p.Name, key, "class %s: the proxy has no replica clients; want normal or pubsub", class)
			ok = false
			continue
		default:
			ps.errorf(k.Line, p.Name, key, "unknown class %q; want normal or pubsub", class)
			ok = false
			continue
		}
		if seen[class] {
			ps.errorf(k.Line, p.Name, key, "class %s given twice", class)
			ok = false
			continue
		}
		seen[class] = true
		s, msg := scalar(val)
		if msg == "" {
			var lim OutputLimit
			if lim, msg = ParseOutputLimit(s); msg == "" {
				*dst = lim
				continue
			}
		}
		ps.errorf(val.Line, p.Name, key, "%s: %s", class, msg)
		ok = false
	}
	return ok
}

// ParseOutputLimit parses "<hard> <soft> <soft seconds>" as Redis's
// client-output-buffer-limit does: sizes are bytes or take a unit (k, kb,
// m, mb, g, gb, any case; k = 1000, kb = 1024), seconds a whole number. It
// returns the limit, or why the text is not one.
func ParseOutputLimit(s string) (OutputLimit, string) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return OutputLimit{}, fmt.Sprintf("want \"<hard> <soft> <seconds>\" such as \"32mb 8mb 60\", got %q", s)
	}
	hard, err := parseMemory(f[0])
	if err != "" {
		return OutputLimit{}, "hard limit: " + err
	}
	soft, err := parseMemory(f[1])
	if err != "" {
		return OutputLimit{}, "soft limit: " + err
	}
	secs, perr := strconv.ParseInt(f[2], 10, 64)
	if perr != nil || secs < 0 || secs > 1<<31 {
		return OutputLimit{}, fmt.Sprintf("soft seconds: want a whole number of seconds >= 0, got %q", f[2])
	}
	return OutputLimit{Hard: hard, Soft: soft, SoftSeconds: time.Duration(secs) * time.Second}, ""
}

// parseMemory parses a size as Redis's memtoull (see parseSize), with the
// error text of client_output_buffer_limit.
func parseMemory(s string) (int64, string) {
	n, ok := parseSize(s)
	if !ok || n > 1<<50 {
		return 0, fmt.Sprintf("want a size such as 256mb, 64kb or 1048576, got %q", s)
	}
	return n, ""
}

// outputProblems checks the output limits of a pool built in code.
func (p *Pool) outputProblems(add func(key, format string, args ...any)) {
	for _, c := range []struct {
		class string
		l     OutputLimit
	}{{"normal", p.OutputLimitNormal}, {"pubsub", p.OutputLimitPubsub}} {
		if c.l.Hard < 0 || c.l.Soft < 0 || c.l.SoftSeconds < 0 {
			add("client_output_buffer_limit", "%s: negative limit %s", c.class, c.l)
		}
	}
	if p.OutputLimitNormal.Hard == 0 && p.OutputLimitNormal.Soft == 0 {
		add("client_output_buffer_limit", "normal: no limit (0 0 0) would let a client that stops reading grow the proxy without bound; set a hard limit such as 256mb")
	}
	if p.MaxBlocking < 1 {
		add("max_blocking", "must be >= 1, got %d", p.MaxBlocking)
	}
	if p.PinnedConnections < 1 {
		add("pinned_connections", "must be >= 1, got %d", p.PinnedConnections)
	}
	if p.ClientWriteTimeout < 0 {
		add("client_write_timeout", "must be >= 0 (0 turns it off), got %s", ms(p.ClientWriteTimeout))
	}
}
