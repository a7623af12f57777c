package config

import "time"

// Pool modes.
const (
	ModeRing    = "ring"    // standalone servers placed by a hash ring
	ModeCluster = "cluster" // seed addresses of a Redis Cluster
)

// Distributions of a ring pool.
const (
	DistConsistent = "consistent" // buraksezer/consistent over xxhash
	DistKetama     = "ketama"     // nutcracker-compatible ketama continuum
	DistModula     = "modula"     // nutcracker-compatible hash modulo weight
)

// Defaults of every pool key; Default and Parse apply them, and nowhere else
// holds a default.
const (
	DefaultListen       = "127.0.0.1:6380" // loopback: exposing the proxy is explicit
	DefaultMode         = ModeRing
	DefaultHash         = "xxhash"
	DefaultHashTag      = "{}"
	DefaultDistribution = DistConsistent
	// DefaultNutcrackerHash is the hash of a ketama or modula pool whose file
	// names no hash: nutcracker's default, so that a nutcracker.yml keeps
	// its key placement.
	DefaultNutcrackerHash = "fnv1a_64"
	// DefaultTimeout bounds each backend request. nutcracker waits forever
	// by default; a proxy that never answers is worse than an error.
	DefaultTimeout                = 1000 * time.Millisecond
	DefaultBacklog                = 512
	DefaultServerRetryTimeout     = 30000 * time.Millisecond
	DefaultServerFailureLimit     = 2
	DefaultClusterRefreshInterval = 5000 * time.Millisecond
	DefaultMaxRedirects           = 5
	DefaultReplicaMaxLag          = 10 * time.Second
	DefaultHealthCheckInterval    = 1000 * time.Millisecond
	// Redis's defaults for the client protocol limits.
	DefaultProtoMaxBulkLen        = 512 << 20
	DefaultClientQueryBufferLimit = 1 << 30
	DefaultProtoInlineMaxSize     = 64 << 10
	DefaultShutdownTimeout        = 10 * time.Second
)

// DefaultServerConnections is the default number of multiplexed connections
// per backend server, nutcracker's default. One connection per server
// batches every client's requests into the fewest writes and wake-ups;
// bench/results/2026-12-01-conns/ has the measurements behind it.
const DefaultServerConnections = 1

// MaxWeight is the largest server weight, the hashring package's limit.
const MaxWeight = 1 << 16

// Hashes returns the accepted `hash` names: every hash nutcracker 0.5
// offers, then xxhash. The slice is new on each call.
func Hashes() []string {
	return []string{
		"fnv1a_64", "fnv1a_32", "fnv1_64", "fnv1_32", "md5", "crc16", "crc32",
		"crc32a", "murmur", "one_at_a_time", "jenkins", "hsieh", "xxhash",
	}
}

// Default returns a pool named name with every default applied: listen
// 127.0.0.1:6380, mode ring, distribution consistent, hash xxhash, hash tag
// "{}", redis true, timeout 1s, and the rest as the Default constants say.
// It has no servers, so it is not valid until some are added.
func Default(name string) *Pool {
	return &Pool{
		Name:                   name,
		Listen:                 DefaultListen,
		Mode:                   DefaultMode,
		Hash:                   DefaultHash,
		HashTag:                DefaultHashTag,
		Distribution:           DefaultDistribution,
		Timeout:                DefaultTimeout,
		Backlog:                DefaultBacklog,
		Redis:                  true,
		ServerConnections:      DefaultServerConnections,
		ServerRetryTimeout:     DefaultServerRetryTimeout,
		ServerFailureLimit:     DefaultServerFailureLimit,
		ClusterRefreshInterval: DefaultClusterRefreshInterval,
		MaxRedirects:           DefaultMaxRedirects,
		ReplicaMaxLag:          DefaultReplicaMaxLag,
		HealthCheckInterval:    DefaultHealthCheckInterval,
		ProtoMaxBulkLen:        DefaultProtoMaxBulkLen,
		ClientQueryBufferLimit: DefaultClientQueryBufferLimit,
		ProtoInlineMaxSize:     DefaultProtoInlineMaxSize,
		ShutdownTimeout:        DefaultShutdownTimeout,
		OutputLimitNormal:      DefaultOutputLimitNormal,
		OutputLimitPubsub:      DefaultOutputLimitPubsub,
		ClientWriteTimeout:     DefaultClientWriteTimeout,
		PinnedConnections:      DefaultPinnedConnections,
		MaxBlocking:            DefaultMaxBlocking,
		Access:                 Access{DenyCommands: DefaultDenyCommands()},
	}
}
