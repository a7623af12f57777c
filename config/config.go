package config

import (
	"os"
	"time"
)

// Config is a whole configuration file: one entry per pool, in file order.
type Config struct {
	// File is the path the configuration was read from ("" when parsed from memory).
	File string
	// Pools are the file's top-level keys, in file order.
	Pools []*Pool
}

// Server is one entry of a pool's `servers` list.
type Server struct {
	// Addr is "host:port"; an IPv6 host is bracketed ("[::1]:7001").
	Addr string
	// Weight is the configured weight (1..MaxWeight; 1 when omitted). Cluster
	// pools ignore it.
	Weight int
	// Name is the configured name, or, when the entry has none, nutcracker's
	// default: Addr, except that a server on port 11211 is named by its host
	// alone (nutcracker keeps that rule for libmemcached compatibility). It is
	// the node name ketama hashes (as nutcracker does) and the <name> in error
	// texts.
	Name string
	// Line is the line of the entry in the file, for error messages (0 when
	// built in code).
	Line int
}

// Pool is one named pool: a listen address fronting a set of servers.
//
// A Pool built in code should start from Default, which fills every field
// with its default; Validate checks it. Parse applies the same defaults and
// the same checks.
type Pool struct {
	// Name is the pool's top-level key in the file.
	Name string
	// Line is where the pool's key stands in the file.
	Line int

	Listen string // "host:port" (or a unix socket path); default 127.0.0.1:6380
	// ListenPerm is the file mode of a unix listen socket ("/path 0600" in
	// the file); 0 means the process umask decides. Unused for TCP.
	ListenPerm   os.FileMode
	Mode         string        // "ring" (default) or "cluster"
	Hash         string        // default "xxhash" ("fnv1a_64" when a file picks ketama or modula without a hash)
	HashTag      string        // two characters, default "{}"; "" only if explicitly set to ""
	Distribution string        // "consistent" (default), "ketama", "modula"
	Timeout      time.Duration // per-request backend timeout (> 0); default 1s
	Backlog      int           // listen backlog; default 512
	Preconnect   bool
	Redis        bool // must be true
	RedisAuth    string
	RedisDB      int
	// ServerConnections is the number of multiplexed connections per server.
	ServerConnections int
	// ClientConnections caps concurrent client connections; 0 means no cap.
	ClientConnections  int
	AutoEjectHosts     bool
	ServerRetryTimeout time.Duration // default 30s
	ServerFailureLimit int           // default 2
	// TCPKeepalive is nutcracker's `tcpkeepalive` (default false): TCP
	// keep-alive on the connections to the servers.
	TCPKeepalive bool
	Servers      []Server

	// ClusterRefreshInterval is how often a cluster pool reloads the slot
	// map (besides on MOVED); default 5s. Cluster mode only.
	ClusterRefreshInterval time.Duration
	// ReadFromReplicas lets a cluster pool send read-only commands to
	// replicas. Cluster mode only.
	ReadFromReplicas bool
	// MaxRedirects bounds the MOVED/ASK redirections followed for one
	// command (>= 1); default 5. Cluster mode only.
	MaxRedirects int
}

// ListenNetwork returns the network of p.Listen for net.Listen: "unix" for
// an absolute path, otherwise "tcp".
func (p *Pool) ListenNetwork() string {
	if isUnixPath(p.Listen) {
		return "unix"
	}
	return "tcp"
}

func isUnixPath(s string) bool { return len(s) > 0 && s[0] == '/' }
