package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads the file at path and parses it with Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	return Parse(path, data)
}

// Parse parses a nutcracker.yml-style document: one top-level key per pool,
// each holding that pool's keys. file names the document in error messages
// and Config.File. Keys absent from a pool take their defaults (see
// defaults.go); the result is validated as Config.Validate does.
//
// On failure Parse returns a nil Config and every problem found, each an
// *Error ("<file>:<line>: <pool>.<key>: <message>"), joined with errors.Join
// in line order.
func Parse(file string, data []byte) (*Config, error) {
	root, err := decodeRoot(file, data)
	if err != nil {
		return nil, err
	}
	ps := &parser{file: file}
	c := &Config{File: file}
	var states []*poolState
	for kv := range slices.Chunk(root.Content, 2) { // a mapping's key, value pairs
		k, v := kv[0], kv[1]
		name, msg := keyName(k)
		if msg != "" {
			ps.errorf(k.Line, "", "", "pool name: %s", msg)
			continue
		}
		if v.Kind != yaml.MappingNode {
			ps.errorf(v.Line, name, "", "want a mapping of pool keys, got %s", describe(v))
			continue
		}
		p, st := ps.pool(name, k.Line, v)
		c.Pools = append(c.Pools, p)
		states = append(states, st)
	}
	if len(c.Pools) > 0 || len(ps.errs) == 0 {
		keyLine := func(i int, key string) int { return states[i].lines[key] }
		failed := func(i int, key string) bool { return states[i].failed[key] }
		ps.errs = append(ps.errs, c.check(keyLine, failed)...)
	}
	if err := joinErrors(ps.errs); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeRoot parses data as exactly one YAML document whose root is a
// mapping (or empty, which check reports as "no pools").
func decodeRoot(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode}, nil
		}
		return nil, yamlError(file, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, joinErrors([]*Error{{File: file, Line: next.Line, Msg: "a second YAML document; want exactly one"}})
	case !errors.Is(err, io.EOF):
		return nil, yamlError(file, err)
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	root := doc.Content[0]
	switch {
	case root.Kind == yaml.MappingNode:
		return root, nil
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	return nil, joinErrors([]*Error{{File: file, Line: root.Line, Msg: "want a mapping of pool names to pool keys, got " + describe(root)}})
}

// yamlError turns a yaml.v3 syntax error ("yaml: line 3: did not find
// expected key") into an *Error carrying the line.
func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	return joinErrors([]*Error{{File: file, Line: line, Msg: "invalid YAML: " + msg}})
}

// parser collects the problems of one Parse call.
type parser struct {
	file string
	errs []*Error
}

// poolState is what Parse remembers about one pool for check: where each
// key stood and which keys were already reported as malformed.
type poolState struct {
	lines  map[string]int
	failed map[string]bool
}

func (ps *parser) errorf(line int, pool, key, format string, args ...any) {
	ps.errs = append(ps.errs, &Error{File: ps.file, Line: line, Pool: pool, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// pool decodes the mapping m of pool name, declared at line.
func (ps *parser) pool(name string, line int, m *yaml.Node) (*Pool, *poolState) {
	p := Default(name)
	p.Line = line
	st := &poolState{lines: map[string]int{}, failed: map[string]bool{}}
	var serversNode *yaml.Node
	for kv := range slices.Chunk(m.Content, 2) {
		k, v := kv[0], kv[1]
		key, msg := keyName(k)
		if msg != "" {
			ps.errorf(k.Line, name, "", "key: %s", msg)
			continue
		}
		if first, dup := st.lines[key]; dup {
			ps.errorf(k.Line, name, key, "duplicate key (first at line %d)", first)
			continue
		}
		st.lines[key] = k.Line
		if key == "servers" {
			serversNode = v // decoded below, once sentinels are known
			continue
		}
		if !ps.set(p, key, k.Line, v) {
			st.failed[key] = true
		}
	}
	_, withSentinels := st.lines["sentinels"]
	withSentinels = withSentinels && p.Mode != ModeCluster
	if serversNode != nil && !ps.servers(p, st.lines["servers"], serversNode, withSentinels) {
		st.failed["servers"] = true
	}
	set := func(key string) bool { _, ok := st.lines[key]; return ok }
	if set("max_clients") && set("client_connections") {
		ps.errorf(st.lines["max_clients"], name, "max_clients", "client_connections (line %d) sets the same limit; keep one", st.lines["client_connections"])
		st.failed["max_clients"] = true
	}
	if !set("redis") {
		ps.errorf(line, name, "redis", "missing: this proxy serves only Redis pools; add \"redis: true\" "+
			"(without it nutcracker treats the pool as memcached, which is out of scope)")
	}
	if !set("hash") && (p.Distribution == DistKetama || p.Distribution == DistModula) {
		p.Hash = DefaultNutcrackerHash
	}
	// A pool that names one of nutcracker's hashes but no distribution is a
	// nutcracker.yml relying on nutcracker's default, ketama: keep its keys
	// where twemproxy put them.
	if set("hash") && !set("distribution") && p.Hash != DefaultHash {
		p.Distribution = DistKetama
	}
	switch p.Mode {
	case ModeCluster:
		for _, key := range []string{"sentinels", "sentinel_auth", "sentinel_username", "sentinel_tls", "replica_max_lag"} {
			if set(key) && !st.failed[key] {
				ps.errorf(st.lines[key], name, key, "applies only to mode ring: Redis Cluster fails over by itself")
				st.failed[key] = true
			}
		}
		for _, key := range []string{"hash", "distribution"} {
			if set(key) && !st.failed[key] {
				ps.errorf(st.lines[key], name, key, "does not apply to mode cluster: Redis Cluster places keys by CRC16 slot; remove it")
				st.failed[key] = true
			}
		}
	case ModeRing:
		for _, key := range []string{"cluster_refresh_interval", "max_redirects"} {
			if set(key) && !st.failed[key] {
				ps.errorf(st.lines[key], name, key, "applies only to mode cluster")
				st.failed[key] = true
			}
		}
		if !p.SentinelManaged() {
			for _, key := range []string{"sentinel_auth", "sentinel_username", "sentinel_tls"} {
				if set(key) && !st.failed[key] {
					ps.errorf(st.lines[key], name, key, "applies only to a ring pool with sentinels")
					st.failed[key] = true
				}
			}
		}
	}
	return p, st
}

// set decodes the value v of key (at line) into p, reporting any problem;
// it returns false when it reported one.
func (ps *parser) set(p *Pool, key string, line int, v *yaml.Node) bool {
	fail := func(format string, args ...any) bool {
		ps.errorf(line, p.Name, key, format, args...)
		return false
	}
	if v.Kind == yaml.AliasNode {
		return fail("YAML aliases are not supported; write the value out")
	}
	if f := boolField(p, key); f != nil {
		s, msg := scalar(v)
		switch {
		case msg != "":
			return fail("want true or false, got %s", msg)
		case strings.EqualFold(s, "true"):
			*f = true
		case strings.EqualFold(s, "false"):
			*f = false
		default:
			return fail("want true or false, got %q", s)
		}
		return true
	}
	if f := intField(p, key); f != nil {
		n, msg := integer(v, "an integer")
		if msg != "" {
			return fail("%s", msg)
		}
		*f = n
		return true
	}
	if f := sizeField(p, key); f != nil {
		s, msg := scalar(v)
		if msg != "" {
			return fail("want a size such as 512mb, got %s", msg)
		}
		n, ok := parseSize(s)
		if !ok {
			return fail("want a size in bytes or with a unit (kb, mb, gb), got %q", s)
		}
		*f = n
		return true
	}
	if f := msField(p, key); f != nil {
		n, msg := integer(v, "an integer number of milliseconds")
		if msg != "" {
			return fail("%s", msg)
		}
		*f = time.Duration(n) * time.Millisecond
		return true
	}
	switch key {
	case "tls_cert_file", "tls_key_file", "tls_ca_cert_file", "tls_auth_clients",
		"redis_tls_ca_cert_file", "redis_tls_cert_file", "redis_tls_key_file", "redis_tls_server_name":
		s, msg := scalar(v)
		if msg != "" {
			return fail("want a string, got %s", msg)
		}
		*stringField(p, key) = s
		return true
	case "listen", "hash", "distribution", "mode", "redis_auth", "sentinel_auth", "sentinel_username":
		s, msg := scalar(v)
		if msg != "" {
			return fail("want a string, got %s", msg)
		}
		switch key {
		case "listen":
			return ps.listen(p, line, s)
		case "hash":
			p.Hash = s
		case "distribution":
			p.Distribution = s
		case "mode":
			p.Mode = s
		case "redis_auth":
			p.RedisAuth = s
		case "sentinel_auth":
			p.SentinelAuth = s
		case "sentinel_username":
			p.SentinelUsername = s
		}
		return true
	case "replica_max_lag":
		n, msg := integer(v, "an integer number of seconds")
		if msg != "" {
			return fail("%s", msg)
		}
		p.ReplicaMaxLag = time.Duration(n) * time.Second
		return true
	case "sentinels":
		return ps.sentinels(p, line, v)
	case "hash_tag":
		if (v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode) && len(v.Content) == 0 {
			return fail("write the tag in quotes, such as hash_tag: \"{}\" (unquoted, YAML reads an empty %s)", describe(v))
		}
		s, msg := scalar(v)
		if msg != "" {
			return fail("want a two-character string, got %s", msg)
		}
		p.HashTag = s
		return true
	case "servers":
		return ps.servers(p, line, v, p.SentinelManaged())
	case "client_output_buffer_limit":
		return ps.outputLimits(p, line, v)
	}
	if ok, known := ps.access(p, key, line, v); known {
		return ok
	}
	if near := closest(key, knownKeys()); near != "" {
		return fail("unknown key; did you mean %q?", near)
	}
	return fail("unknown key")
}

// listen sets p.Listen from "host:port", "/unix/path" or nutcracker's
// "/unix/path permissions" (octal).
func (ps *parser) listen(p *Pool, line int, s string) bool {
	if isUnixPath(s) {
		f := strings.Fields(s)
		switch len(f) {
		case 1:
		case 2:
			perm, err := strconv.ParseUint(f[1], 8, 32)
			if err != nil || perm > 0o777 {
				ps.errorf(line, p.Name, "listen", "invalid socket permission %q; want octal such as 0600", f[1])
				return false
			}
			p.ListenPerm = os.FileMode(perm)
		default:
			ps.errorf(line, p.Name, "listen", "%q: want \"/socket/path [permissions]\"", s)
			return false
		}
		s = f[0]
	}
	p.Listen = s
	return true
}

// servers decodes the servers list, of master names when sentinel is set;
// every bad entry is reported at its own line.
func (ps *parser) servers(p *Pool, line int, v *yaml.Node, sentinel bool) bool {
	form := "host:port:weight [name]"
	parse := parseServer
	if sentinel {
		form, parse = "master-name:weight", parseSentinelServer
	}
	if v.Kind != yaml.SequenceNode {
		ps.errorf(line, p.Name, "servers", "want a list of \"%s\" entries, got %s", form, describe(v))
		return false
	}
	ok := true
	p.Servers = make([]Server, 0, len(v.Content))
	for _, e := range v.Content {
		s, msg := scalar(e)
		if msg == "" {
			var srv Server
			if srv, msg = parse(s); msg == "" {
				srv.Line = e.Line
				p.Servers = append(p.Servers, srv)
				continue
			}
		} else {
			msg = "want \"" + form + "\", got " + msg
		}
		ps.errorf(e.Line, p.Name, "servers", "%s", msg)
		ok = false
	}
	return ok
}

// ParseServer parses one servers entry, "host:port:weight [name]" (nutcracker's
// form), "host:port [name]" (weight 1) or "[ipv6]:port:weight [name]", and
// checks it as Validate would. The Name of an entry without one follows
// nutcracker (see Server.Name). Line is 0.
func ParseServer(entry string) (Server, error) {
	s, msg := parseServer(entry)
	if msg == "" {
		if ps := serverProblems([]Server{s}); len(ps) > 0 {
			msg = ps[0].msg
		}
	}
	if msg != "" {
		return Server{}, &Error{Key: "servers", Msg: msg}
	}
	return s, nil
}

// parseServer splits an entry into address, weight and name; ranges are
// left to serverProblems.
func parseServer(entry string) (Server, string) {
	f := strings.Fields(entry)
	switch {
	case len(f) == 0:
		return Server{}, "empty entry; want \"host:port:weight [name]\""
	case len(f) > 2:
		return Server{}, fmt.Sprintf("%q has %d fields; want \"host:port:weight [name]\"", entry, len(f))
	}
	addr := f[0]
	if isUnixPath(addr) {
		return Server{}, fmt.Sprintf("%q: unix socket servers are not supported; use host:port", entry)
	}
	var host, hostText, rest string
	if v6, ok := strings.CutPrefix(addr, "["); ok {
		h, after, closed := strings.Cut(v6, "]")
		r, colon := strings.CutPrefix(after, ":")
		if !closed || !colon {
			return Server{}, fmt.Sprintf("%q is not \"[ipv6]:port:weight\"", entry)
		}
		host, hostText, rest = h, "["+h+"]", r
	} else {
		if strings.Count(addr, ":") > 2 {
			return Server{}, fmt.Sprintf("%q has too many colons (write IPv6 addresses in brackets, such as [::1]:6379:1)", entry)
		}
		var ok bool
		if host, rest, ok = strings.Cut(addr, ":"); !ok {
			return Server{}, fmt.Sprintf("%q is not \"host:port:weight [name]\"", entry)
		}
		hostText = host
	}
	port, weight, hasWeight := strings.Cut(rest, ":")
	s := Server{Addr: net.JoinHostPort(host, port), Weight: 1}
	if hasWeight {
		w, err := strconv.Atoi(weight)
		if err != nil {
			return Server{}, fmt.Sprintf("%q has an invalid weight %q", entry, weight)
		}
		s.Weight = w
	}
	switch n, err := strconv.Atoi(port); {
	case len(f) == 2:
		s.Name = f[1]
	case err == nil && n == 11211:
		s.Name = hostText // nutcracker's libmemcached-compatible rule
	default:
		s.Name = hostText + ":" + port
	}
	return s, ""
}

// parseSentinelServer parses a servers entry of a pool with sentinels:
// "master-name" or "master-name:weight".
func parseSentinelServer(entry string) (Server, string) {
	f := strings.Fields(entry)
	if len(f) != 1 {
		return Server{}, fmt.Sprintf("%q: want \"master-name:weight\" (with sentinels, servers are Sentinel master names)", entry)
	}
	name, weight, hasWeight := strings.Cut(f[0], ":")
	s := Server{Name: name, Weight: 1}
	if hasWeight {
		w, err := strconv.Atoi(weight)
		if err != nil {
			return Server{}, fmt.Sprintf("%q has an invalid weight %q; want \"master-name:weight\" "+
				"(with sentinels, servers are Sentinel master names, not addresses)", entry, weight)
		}
		s.Weight = w
	}
	return s, ""
}

// sentinels decodes the list of sentinel addresses.
func (ps *parser) sentinels(p *Pool, line int, v *yaml.Node) bool {
	if v.Kind != yaml.SequenceNode {
		ps.errorf(line, p.Name, "sentinels", "want a list of \"host:port\" addresses, got %s", describe(v))
		// Keep the pool Sentinel-managed so that its servers are judged
		// as master names, not reported again as bad addresses.
		p.Sentinels = []string{v.Value}
		return false
	}
	ok := true
	p.Sentinels = make([]string, 0, len(v.Content))
	for _, e := range v.Content {
		s, msg := scalar(e)
		if msg == "" {
			msg = checkHostPort(s, 1)
		} else {
			msg = "want \"host:port\", got " + msg
		}
		if msg != "" {
			ps.errorf(e.Line, p.Name, "sentinels", "%s", msg)
			p.Sentinels = append(p.Sentinels, s) // see above; Validate's report is dropped
			ok = false
			continue
		}
		if slices.Contains(p.Sentinels, s) {
			ps.errorf(e.Line, p.Name, "sentinels", "%s listed twice", s)
			ok = false
			continue
		}
		p.Sentinels = append(p.Sentinels, s)
	}
	return ok
}

// knownKeys lists every pool key, for "did you mean".
func knownKeys() []string {
	return []string{
		"listen", "hash", "hash_tag", "distribution", "timeout", "backlog",
		"preconnect", "redis", "redis_auth", "redis_db", "server_connections",
		"client_connections", "auto_eject_hosts", "server_retry_timeout",
		"server_failure_limit", "tcpkeepalive", "servers", "mode",
		"cluster_refresh_interval", "read_from_replicas", "max_redirects",
		"sentinels", "sentinel_auth", "sentinel_username", "sentinel_tls", "replica_max_lag",
		"health_check_interval",
		"max_clients", "proto_max_bulk_len", "client_query_buffer_limit",
		"proto_inline_max_size", "client_idle_timeout", "shutdown_timeout",
		"tls_cert_file", "tls_key_file", "tls_ca_cert_file", "tls_auth_clients",
		"redis_tls", "redis_tls_ca_cert_file", "redis_tls_cert_file", "redis_tls_key_file", "redis_tls_server_name",
		"client_output_buffer_limit", "client_write_timeout", "pinned_connections",
		"max_blocking",
		"redis_username", "requirepass", "users", "deny_commands", "allow_commands",
	}
}

func boolField(p *Pool, key string) *bool {
	switch key {
	case "preconnect":
		return &p.Preconnect
	case "redis":
		return &p.Redis
	case "auto_eject_hosts":
		return &p.AutoEjectHosts
	case "tcpkeepalive":
		return &p.TCPKeepalive
	case "read_from_replicas":
		return &p.ReadFromReplicas
	case "redis_tls":
		return &p.RedisTLS
	case "sentinel_tls":
		return &p.SentinelTLS
	}
	return nil
}

func intField(p *Pool, key string) *int {
	switch key {
	case "backlog":
		return &p.Backlog
	case "redis_db":
		return &p.RedisDB
	case "server_connections":
		return &p.ServerConnections
	case "client_connections", "max_clients": // nutcracker's name, Redis's
		return &p.ClientConnections
	case "server_failure_limit":
		return &p.ServerFailureLimit
	case "max_redirects":
		return &p.MaxRedirects
	case "pinned_connections":
		return &p.PinnedConnections
	case "max_blocking":
		return &p.MaxBlocking
	}
	return nil
}

func msField(p *Pool, key string) *time.Duration {
	switch key {
	case "timeout":
		return &p.Timeout
	case "server_retry_timeout":
		return &p.ServerRetryTimeout
	case "cluster_refresh_interval":
		return &p.ClusterRefreshInterval
	case "health_check_interval":
		return &p.HealthCheckInterval
	case "client_idle_timeout":
		return &p.ClientIdleTimeout
	case "shutdown_timeout":
		return &p.ShutdownTimeout
	case "client_write_timeout":
		return &p.ClientWriteTimeout
	}
	return nil
}

func stringField(p *Pool, key string) *string {
	switch key {
	case "tls_cert_file":
		return &p.TLSCertFile
	case "tls_key_file":
		return &p.TLSKeyFile
	case "tls_ca_cert_file":
		return &p.TLSCACertFile
	case "tls_auth_clients":
		return &p.TLSAuthClients
	case "redis_tls_ca_cert_file":
		return &p.RedisTLSCACertFile
	case "redis_tls_cert_file":
		return &p.RedisTLSCertFile
	case "redis_tls_key_file":
		return &p.RedisTLSKeyFile
	case "redis_tls_server_name":
		return &p.RedisTLSServerName
	}
	return nil
}

func sizeField(p *Pool, key string) *int64 {
	switch key {
	case "proto_max_bulk_len":
		return &p.ProtoMaxBulkLen
	case "client_query_buffer_limit":
		return &p.ClientQueryBufferLimit
	case "proto_inline_max_size":
		return &p.ProtoInlineMaxSize
	}
	return nil
}

// parseSize reads a size as redis.conf writes it: bytes, or a number with
// one of Redis's units (k = 1000, kb = 1024, m, mb, g, gb; any case).
func parseSize(s string) (int64, bool) {
	units := []struct {
		suffix string
		mul    int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}}
	ls := strings.ToLower(s)
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(ls, u.suffix) {
			ls, mul = strings.TrimSuffix(ls, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(ls, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return 0, false
	}
	return n * mul, true
}

// keyName returns the text of a mapping key, or why it is not usable.
func keyName(k *yaml.Node) (string, string) {
	switch {
	case k.Kind == yaml.AliasNode:
		return "", "YAML aliases are not supported"
	case k.Tag == "!!merge":
		return "", "YAML merge keys (<<) are not supported"
	case k.Kind != yaml.ScalarNode:
		return "", "want a plain name, got " + describe(k)
	case k.Tag == "!!null" || k.Value == "":
		return "", "empty name"
	}
	return k.Value, ""
}

// scalar returns the text of a non-empty scalar, or a description of what
// v is instead.
func scalar(v *yaml.Node) (string, string) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		return "", describe(v)
	}
	return v.Value, ""
}

// integer decodes a decimal integer that fits in 32 bits (nutcracker's
// range); want describes the expected value for the message.
func integer(v *yaml.Node, want string) (int, string) {
	s, msg := scalar(v)
	if msg != "" {
		return 0, "want " + want + ", got " + msg
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Sprintf("%s is out of range", s)
		}
		return 0, fmt.Sprintf("want %s, got %q", want, s)
	}
	return int(n), ""
}

// describe names what a node is, for "want X, got Y" messages.
func describe(v *yaml.Node) string {
	switch v.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if v.Tag == "!!null" {
			return "an empty value"
		}
		return strconv.Quote(v.Value)
	}
	return "nothing"
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
