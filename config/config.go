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
	// Addr is "host:port"; an IPv6 host is bracketed ("[::1]:7001"). It is
	// empty in a pool with sentinels, whose entries are master names that
	// Sentinel resolves.
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
	// The file names it client_connections (nutcracker) or max_clients
	// (Redis); a client over the cap gets "-ERR max number of clients
	// reached", as from Redis.
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
	// ReadFromReplicas lets a pool send read-only commands to replicas: a
	// cluster's, a Sentinel ring's (as Sentinel reports them), or a plain
	// ring's (as each master's INFO replication lists them, polled every
	// HealthCheckInterval). Reads go to the master when no replica is
	// healthy (see ReplicaMaxLag).
	ReadFromReplicas bool
	// OutputLimitNormal and OutputLimitPubsub are the pool's
	// client_output_buffer_limit for ordinary and for subscribed clients
	// (see OutputLimit); defaults DefaultOutputLimitNormal and
	// DefaultOutputLimitPubsub.
	OutputLimitNormal, OutputLimitPubsub OutputLimit
	// ClientWriteTimeout is how long a write to a client may make no
	// progress before the client is disconnected; 0 turns it off. Default
	// DefaultClientWriteTimeout.
	ClientWriteTimeout time.Duration
	// PinnedConnections bounds the dedicated backend connections one client
	// may hold at once (transactions, blocking commands); default
	// DefaultPinnedConnections.
	PinnedConnections int
	// MaxBlocking bounds the clients of the pool blocked at once in a
	// blocking command (BLPOP, XREAD BLOCK, ...), each holding a backend connection (>= 1);
	// default DefaultMaxBlocking. Beyond it a blocking command gets an
	// error.
	MaxBlocking int

	// MaxRedirects bounds the MOVED/ASK redirections followed for one
	// command (>= 1); default 5. Cluster mode only.
	MaxRedirects int

	// Sentinels are the "host:port" addresses of the Redis Sentinels that
	// manage a ring pool's shards. With sentinels, each servers entry is
	// "master-name[:weight]": the ring hashes the stable name and Sentinel
	// gives the address, so a failover moves no key. Ring mode only.
	Sentinels []string
	// SentinelAuth is the password for the sentinels (their requirepass);
	// SentinelUsername, when set, sends AUTH username password.
	SentinelAuth     string
	SentinelUsername string
	// SentinelTLS makes the connections to the sentinels speak TLS, with
	// the redis_tls_* CA, client certificate and server name (the masters
	// and replicas they name use TLS when RedisTLS is on).
	SentinelTLS bool
	// ReplicaMaxLag is the largest replication lag (whole seconds, as the
	// master's INFO replication reports it) of a replica that still
	// serves reads with read_from_replicas in a ring pool; 0 disables the
	// check. Default 10s.
	ReplicaMaxLag time.Duration
	// HealthCheckInterval is the period of the PING health check of every
	// backend connection, which feeds /readyz and auto_eject_hosts;
	// default 1s.
	HealthCheckInterval time.Duration

	// Access holds client authentication, ACL users, the command policy
	// and the backend user (see auth.go).
	Access

	// Client limits, with Redis's names in parentheses. Sizes are in bytes;
	// the file takes Redis's units ("512mb", "64kb").

	// ProtoMaxBulkLen is the largest bulk string a client may send
	// (proto-max-bulk-len); default 512 MB, at least 1 MB.
	ProtoMaxBulkLen int64
	// ClientQueryBufferLimit bounds the bytes of one client command that
	// the proxy holds while it arrives (client-query-buffer-limit); a
	// client crossing it is disconnected. Default 1 GB, at least 1 MB.
	ClientQueryBufferLimit int64
	// ProtoInlineMaxSize bounds an inline command, and a length line of a
	// multibulk command, that has not ended when a read ends (Redis's
	// compiled-in PROTO_INLINE_MAX_SIZE); default 64 KB.
	ProtoInlineMaxSize int64
	// ClientIdleTimeout closes a client connection that sent nothing for
	// this long (Redis's timeout); 0, the default, never does.
	ClientIdleTimeout time.Duration
	// TLS towards clients: the listener speaks TLS when TLSCertFile is
	// set. TLSCAcertFile names the CAs that sign client certificates;
	// TLSAuthClients ("yes", the default, "optional" or "no", as Redis's
	// tls-auth-clients) says whether clients must present one. The files
	// are read again on SIGHUP, so certificates rotate without dropping
	// clients.
	TLSCertFile, TLSKeyFile, TLSCACertFile string
	TLSAuthClients                         string
	// TLS towards the Redis servers (and cluster discovery): RedisTLS
	// turns it on; RedisTLSCACertFile verifies the servers (default: the
	// system's CAs), RedisTLSServerName is the name checked in their
	// certificates (default: the host of each address), and
	// RedisTLSCertFile/RedisTLSKeyFile are a client certificate to
	// present.
	RedisTLS                                              bool
	RedisTLSCACertFile, RedisTLSCertFile, RedisTLSKeyFile string
	RedisTLSServerName                                    string
	// ShutdownTimeout is how long a stopping proxy lets busy clients
	// finish before it closes them; default 10s.
	ShutdownTimeout time.Duration
}

// SentinelManaged reports whether the pool's servers are Sentinel master
// names.
func (p *Pool) SentinelManaged() bool { return len(p.Sentinels) > 0 }

// ListenNetwork returns the network of p.Listen for net.Listen: "unix" for
// an absolute path, otherwise "tcp".
func (p *Pool) ListenNetwork() string {
	if isUnixPath(p.Listen) {
		return "unix"
	}
	return "tcp"
}

func isUnixPath(s string) bool { return len(s) > 0 && s[0] == '/' }
