package config

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Validate checks every rule of the schema on p, which may have been built
// in code (start from Default) or by Parse. It does not apply defaults: a
// zero field is judged as written. Problems are *Error values joined in line
// order (lines are 0 for pools built in code).
func (p *Pool) Validate() error {
	return (&Config{Pools: []*Pool{p}}).Validate()
}

// Validate checks every pool of c (see Pool.Validate) and the rules across
// pools: at least one pool, unique pool names, no two pools on one listen
// address.
func (c *Config) Validate() error {
	return joinErrors(c.check(nil, nil))
}

// problem is one broken rule about one key of a pool.
type problem struct {
	key  string
	line int // line of a servers entry, or 0 for "the key's line"
	msg  string
}

// check runs every rule. keyLine(i, key), when non-nil, returns the line of
// key in pool i (0 when absent); otherwise lines come from Pool.Line and
// Server.Line. Problems about a key for which failed(i, key) is true are
// dropped: the parser already reported that key.
func (c *Config) check(keyLine func(i int, key string) int, failed func(i int, key string) bool) []*Error {
	var errs []*Error
	if len(c.Pools) == 0 {
		return append(errs, &Error{File: c.File, Msg: "no pools defined"})
	}
	report := func(i int, pr problem) {
		p := c.Pools[i]
		line := pr.line
		if line == 0 && failed != nil && failed(i, pr.key) {
			return
		}
		if line == 0 && keyLine != nil && pr.key != "" {
			line = keyLine(i, pr.key)
		}
		if line == 0 {
			line = p.Line
		}
		errs = append(errs, &Error{File: c.File, Line: line, Pool: p.Name, Key: pr.key, Msg: pr.msg})
	}
	for i, p := range c.Pools {
		for _, pr := range p.problems() {
			report(i, pr)
		}
	}
	for i, p := range c.Pools {
		for _, q := range c.Pools[:i] {
			if p.Name != "" && p.Name == q.Name {
				report(i, problem{msg: fmt.Sprintf("duplicate pool name (first at %s)", where(q.Line))})
				break
			}
		}
		for j, q := range c.Pools[:i] {
			if listenConflict(p.Listen, q.Listen) {
				line := q.Line
				if keyLine != nil && keyLine(j, "listen") != 0 {
					line = keyLine(j, "listen")
				}
				report(i, problem{key: "listen", msg: fmt.Sprintf("%s conflicts with the listen address %s of pool %s (%s)", p.Listen, q.Listen, q.Name, where(line))})
				break
			}
		}
	}
	return errs
}

// where names a line for a message: "line 7", or "built in code" for 0.
func where(line int) string {
	if line == 0 {
		return "built in code"
	}
	return "line " + strconv.Itoa(line)
}

// problems returns every rule p breaks, in a fixed order.
func (p *Pool) problems() []problem {
	var ps []problem
	add := func(key, format string, args ...any) {
		ps = append(ps, problem{key: key, msg: fmt.Sprintf(format, args...)})
	}
	if p.Name == "" {
		add("", "pool has no name")
	}
	if msg := checkListen(p.Listen); msg != "" {
		add("listen", "%s", msg)
	}
	p.outputProblems(add)
	if p.ListenPerm&^0o777 != 0 {
		add("listen", "socket permission %#o is not within 0777", uint32(p.ListenPerm))
	}
	cluster := false
	switch p.Mode {
	case ModeRing:
	case ModeCluster:
		cluster = true
	default:
		add("mode", "unknown mode %q; want %s or %s", p.Mode, ModeRing, ModeCluster)
	}
	hashOK := slices.Contains(Hashes(), p.Hash)
	if !hashOK {
		add("hash", "unknown hash %q; want one of %s", p.Hash, strings.Join(Hashes(), ", "))
	}
	if n := len(p.HashTag); n != 0 && n != 2 {
		add("hash_tag", "%q is not two characters (such as \"{}\"); \"\" disables hash tags", p.HashTag)
	}
	switch p.Distribution {
	case DistKetama, DistModula:
	case DistConsistent:
		if hashOK && p.Hash != "xxhash" && !cluster {
			add("hash", "%s needs distribution ketama or modula; consistent always hashes with xxhash "+
				"(nutcracker's default distribution is ketama: add \"distribution: ketama\" to keep twemproxy's key placement)", p.Hash)
		}
	case "random":
		add("distribution", "random is not supported: it sends each request to a random server, "+
			"so a read misses the server its write went to; use ketama (twemproxy's placement) or consistent")
	default:
		add("distribution", "unknown distribution %q; want %s, %s or %s", p.Distribution, DistConsistent, DistKetama, DistModula)
	}
	if p.Timeout <= 0 {
		add("timeout", "must be > 0, got %s (nutcracker waits forever without a timeout; this proxy always bounds a request)", ms(p.Timeout))
	}
	if p.Backlog < 0 {
		add("backlog", "must be >= 0, got %d", p.Backlog)
	}
	if !p.Redis {
		add("redis", "false: memcached pools are out of scope; this proxy speaks only the Redis protocol")
	}
	if p.RedisDB < 0 {
		add("redis_db", "must be >= 0, got %d", p.RedisDB)
	}
	if p.ServerConnections < 1 {
		add("server_connections", "must be >= 1, got %d", p.ServerConnections)
	}
	if p.ClientConnections < 0 {
		add("client_connections", "must be >= 0 (0 means no limit), got %d", p.ClientConnections)
	}
	const mb = 1 << 20
	if p.ProtoMaxBulkLen < mb {
		add("proto_max_bulk_len", "must be at least 1mb (as in Redis), got %d bytes", p.ProtoMaxBulkLen)
	}
	if p.ClientQueryBufferLimit < mb {
		add("client_query_buffer_limit", "must be at least 1mb (as in Redis), got %d bytes", p.ClientQueryBufferLimit)
	}
	if p.ProtoInlineMaxSize < 1<<10 || p.ProtoInlineMaxSize > p.ClientQueryBufferLimit {
		add("proto_inline_max_size", "must be 1kb..client_query_buffer_limit, got %d bytes", p.ProtoInlineMaxSize)
	}
	if p.ClientIdleTimeout < 0 {
		add("client_idle_timeout", "must be >= 0 (0 never closes idle clients), got %s", ms(p.ClientIdleTimeout))
	}
	// Of a pair, the key given names the error, so the error has its line.
	if p.TLSCertFile != "" && p.TLSKeyFile == "" {
		add("tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	if p.TLSKeyFile != "" && p.TLSCertFile == "" {
		add("tls_key_file", "tls_cert_file and tls_key_file go together")
	}
	if p.TLSCertFile == "" && (p.TLSCACertFile != "" || p.TLSAuthClients != "") {
		add("tls_ca_cert_file", "client TLS settings without tls_cert_file")
	}
	switch p.TLSAuthClients {
	case "", "yes", "no", "optional":
	default:
		add("tls_auth_clients", "want yes, no or optional (as Redis's tls-auth-clients), got %q", p.TLSAuthClients)
	}
	if p.RedisTLSCertFile != "" && p.RedisTLSKeyFile == "" {
		add("redis_tls_cert_file", "redis_tls_cert_file and redis_tls_key_file go together")
	}
	if p.RedisTLSKeyFile != "" && p.RedisTLSCertFile == "" {
		add("redis_tls_key_file", "redis_tls_cert_file and redis_tls_key_file go together")
	}
	if !p.RedisTLS && !p.SentinelTLS && (p.RedisTLSCACertFile != "" || p.RedisTLSCertFile != "" || p.RedisTLSServerName != "") {
		add("redis_tls", "redis_tls_* settings need redis_tls: true (or sentinel_tls: true)")
	}
	if p.ShutdownTimeout < 0 {
		add("shutdown_timeout", "must be >= 0, got %s", ms(p.ShutdownTimeout))
	}
	if p.ServerRetryTimeout < 0 {
		add("server_retry_timeout", "must be >= 0, got %s", ms(p.ServerRetryTimeout))
	}
	if p.ServerFailureLimit < 0 {
		add("server_failure_limit", "must be >= 0, got %d", p.ServerFailureLimit)
	}
	if cluster {
		if p.HashTag != "{}" {
			add("hash_tag", "must be \"{}\" in cluster mode: Redis Cluster hashes only {...} tags, got %q", p.HashTag)
		}
		if p.RedisDB != 0 {
			add("redis_db", "must be 0 in cluster mode: Redis Cluster has only database 0, got %d", p.RedisDB)
		}
		if p.ClusterRefreshInterval <= 0 {
			add("cluster_refresh_interval", "must be > 0, got %s", ms(p.ClusterRefreshInterval))
		}
		if p.MaxRedirects < 1 {
			add("max_redirects", "must be >= 1, got %d", p.MaxRedirects)
		}
	}
	ps = append(ps, p.Access.problems(p.RedisAuth)...)
	if p.HealthCheckInterval <= 0 {
		add("health_check_interval", "must be > 0, got %s", ms(p.HealthCheckInterval))
	}
	if p.ReplicaMaxLag < 0 && !cluster {
		add("replica_max_lag", "must be >= 0 seconds (0 disables the check), got %s", p.ReplicaMaxLag)
	}
	if p.AutoEjectHosts && p.ReadFromReplicas && !cluster && !p.SentinelManaged() {
		add("read_from_replicas", "does not apply with auto_eject_hosts: ejection re-hashes a cache pool's keys, "+
			"while replicas serve a data pool's reads (use one or the other)")
	}
	if p.SentinelManaged() {
		if cluster {
			add("sentinels", "applies only to mode ring: Redis Cluster fails over by itself")
		}
		for _, a := range p.Sentinels {
			if msg := checkHostPort(a, 1); msg != "" {
				add("sentinels", "%s", msg)
			}
		}
		if p.AutoEjectHosts {
			add("auto_eject_hosts", "does not apply to a pool with sentinels: Sentinel fails a shard over, "+
				"while ejecting it would move its keys to other shards (auto_eject_hosts is for cache pools)")
		}
		if !cluster {
			return append(ps, sentinelServerProblems(p.Servers)...)
		}
	}
	return append(ps, serverProblems(p.Servers)...)
}

// sentinelServerProblems checks the servers of a pool with sentinels:
// master names, unique, with valid weights.
func sentinelServerProblems(servers []Server) []problem {
	if len(servers) == 0 {
		return []problem{{key: "servers", msg: "no servers (with sentinels, list the Sentinel master names)"}}
	}
	var ps []problem
	names := map[string]Server{}
	for _, s := range servers {
		add := func(format string, args ...any) {
			ps = append(ps, problem{key: "servers", line: s.Line, msg: fmt.Sprintf(format, args...)})
		}
		switch {
		case s.Name == "":
			add("empty master name")
		case strings.ContainsFunc(s.Name, unicode.IsSpace):
			add("master name %q contains white space", s.Name)
		case s.Addr != "":
			add("%s: with sentinels, servers are master names; the address comes from Sentinel", s.Addr)
		}
		if s.Weight < 1 || s.Weight > MaxWeight {
			add("%s: weight must be 1..%d, got %d", s.Name, MaxWeight, s.Weight)
		}
		if first, dup := names[s.Name]; dup && s.Name != "" {
			add("master name %q listed twice (first at %s)", s.Name, where(first.Line))
		} else {
			names[s.Name] = s
		}
	}
	return ps
}

// serverProblems checks a servers list: not empty, every entry valid, names
// and addresses unique.
func serverProblems(servers []Server) []problem {
	if len(servers) == 0 {
		return []problem{{key: "servers", msg: "no servers"}}
	}
	var ps []problem
	add := func(s Server, format string, args ...any) {
		ps = append(ps, problem{key: "servers", line: s.Line, msg: fmt.Sprintf(format, args...)})
	}
	names := make(map[string]Server, len(servers))
	addrs := make(map[string]Server, len(servers))
	for _, s := range servers {
		switch {
		case isUnixPath(s.Addr):
			add(s, "%s: unix socket servers are not supported; use host:port", s.Addr)
		default:
			if msg := checkHostPort(s.Addr, 1); msg != "" {
				add(s, "%s", msg)
			}
		}
		if s.Weight < 1 || s.Weight > MaxWeight {
			add(s, "%s: weight must be 1..%d, got %d", s.Addr, MaxWeight, s.Weight)
		}
		switch {
		case s.Name == "":
			add(s, "%s: server has no name", s.Addr)
		case strings.ContainsFunc(s.Name, unicode.IsSpace):
			add(s, "%s: name %q contains white space", s.Addr, s.Name)
		}
		if first, dup := names[s.Name]; dup && s.Name != "" {
			add(s, "%s: name %q is already used by %s (%s); names must be unique in a pool", s.Addr, s.Name, first.Addr, where(first.Line))
		} else {
			names[s.Name] = s
		}
		if first, dup := addrs[s.Addr]; dup {
			add(s, "%s: address listed twice (first at %s)", s.Addr, where(first.Line))
		} else {
			addrs[s.Addr] = s
		}
	}
	return ps
}

// checkListen returns why s is not a listen address, or "".
func checkListen(s string) string {
	if isUnixPath(s) {
		switch {
		case strings.ContainsFunc(s, unicode.IsSpace) || strings.ContainsRune(s, 0):
			return fmt.Sprintf("unix socket path %q contains white space or NUL", s)
		case len(s) > 107:
			return fmt.Sprintf("unix socket path is %d bytes; the limit is 107", len(s))
		}
		return ""
	}
	return checkHostPort(s, 0)
}

// checkHostPort returns why s is not "host:port" with a host and a port in
// 1..65535, or "".
// minPort is 0 for listen addresses, where port 0 asks the kernel for a
// free port (tests and ephemeral setups), and 1 for servers.
func checkHostPort(s string, minPort int) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			return fmt.Sprintf("%q is not host:port (write IPv6 addresses in brackets, such as [::1]:6380)", s)
		}
		return fmt.Sprintf("%q is not host:port", s)
	}
	if host == "" {
		return fmt.Sprintf("%q has no host (write 127.0.0.1 for loopback, 0.0.0.0 for every interface)", s)
	}
	if strings.ContainsFunc(host, unicode.IsSpace) || strings.ContainsAny(host, "/[]\x00") {
		return fmt.Sprintf("%q has an invalid host %q", s, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < minPort || n > 65535 {
		return fmt.Sprintf("%q has an invalid port %q; want %d..65535", s, port, minPort)
	}
	return ""
}

// listenConflict reports whether two pools cannot both listen on a and b:
// the same unix path, or the same port on the same or a wildcard host.
// Invalid addresses are reported elsewhere and never conflict.
func listenConflict(a, b string) bool {
	if isUnixPath(a) || isUnixPath(b) {
		return a == b
	}
	ha, pa, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	hb, pb, err := net.SplitHostPort(b)
	if err != nil {
		return false
	}
	na, errA := strconv.Atoi(pa)
	nb, errB := strconv.Atoi(pb)
	if errA != nil || errB != nil || na != nb {
		return false
	}
	return ha == hb || isWildcard(ha) || isWildcard(hb)
}

func isWildcard(host string) bool { return host == "" || host == "0.0.0.0" || host == "::" }

// ms formats d as the file writes it: "400 ms", or d's own form when it is
// not a whole number of milliseconds.
func ms(d time.Duration) string {
	if d%time.Millisecond == 0 {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return d.String()
}
