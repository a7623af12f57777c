package config

import (
	"errors"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

// poolYAML returns a file with one pool "p" whose first lines (from line 2)
// are extra, followed by "redis: true" and one server unless extra sets them.
func poolYAML(extra ...string) string {
	var b strings.Builder
	b.WriteString("p:\n")
	hasRedis, hasServers := false, false
	for _, l := range extra {
		b.WriteString("  " + l + "\n")
		hasRedis = hasRedis || strings.HasPrefix(l, "redis:")
		hasServers = hasServers || strings.HasPrefix(l, "servers:")
	}
	if !hasRedis {
		b.WriteString("  redis: true\n")
	}
	if !hasServers {
		b.WriteString("  servers:\n    - 127.0.0.1:7001:1\n")
	}
	return b.String()
}

// errText returns err's text, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		got  func(p *Pool) any
		want any
	}{
		{"listen", poolYAML("listen: 0.0.0.0:22121"), func(p *Pool) any { return p.Listen }, "0.0.0.0:22121"},
		{"listen hostname", poolYAML("listen: localhost:6390"), func(p *Pool) any { return p.Listen }, "localhost:6390"},
		{"listen ipv6", poolYAML(`listen: "[::1]:6390"`), func(p *Pool) any { return p.Listen }, "[::1]:6390"},
		{"listen unix", poolYAML("listen: /tmp/proxy.sock"), func(p *Pool) any { return []any{p.Listen, p.ListenNetwork(), p.ListenPerm} }, []any{"/tmp/proxy.sock", "unix", os.FileMode(0)}},
		{"listen unix perm", poolYAML("listen: /tmp/gamma 0666"), func(p *Pool) any { return []any{p.Listen, p.ListenPerm} }, []any{"/tmp/gamma", os.FileMode(0o666)}},
		{"listen network tcp", poolYAML(), func(p *Pool) any { return p.ListenNetwork() }, "tcp"},
		{"hash fnv1a_32", poolYAML("hash: fnv1a_32", "distribution: ketama"), func(p *Pool) any { return p.Hash }, "fnv1a_32"},
		{"hash xxhash ketama", poolYAML("hash: xxhash", "distribution: ketama"), func(p *Pool) any { return p.Hash }, "xxhash"},
		{"hash xxhash consistent", poolYAML("hash: xxhash"), func(p *Pool) any { return p.Hash }, "xxhash"},
		{"hash default ketama", poolYAML("distribution: ketama"), func(p *Pool) any { return p.Hash }, "fnv1a_64"},
		{"hash default modula", poolYAML("distribution: modula"), func(p *Pool) any { return p.Hash }, "fnv1a_64"},
		{"hash default consistent", poolYAML("distribution: consistent"), func(p *Pool) any { return p.Hash }, "xxhash"},
		{"hash_tag", poolYAML(`hash_tag: "$$"`), func(p *Pool) any { return p.HashTag }, "$$"},
		{"sentinel pool", poolYAML("servers: [shard1:2, shard2]", "sentinels: [127.0.0.1:26379, 127.0.0.1:26380]",
			"sentinel_auth: pw", "sentinel_username: proxy", "read_from_replicas: true", "replica_max_lag: 3", "health_check_interval: 250"),
			func(p *Pool) any {
				return []any{p.Servers[0].Name, p.Servers[0].Weight, p.Servers[0].Addr, p.Servers[1].Name, p.Servers[1].Weight,
					p.Sentinels, p.SentinelAuth, p.SentinelUsername, p.ReadFromReplicas, p.ReplicaMaxLag, p.HealthCheckInterval, p.SentinelManaged()}
			},
			[]any{"shard1", 2, "", "shard2", 1, []string{"127.0.0.1:26379", "127.0.0.1:26380"}, "pw", "proxy", true,
				3 * time.Second, 250 * time.Millisecond, true}},
		{"hash_tag empty", poolYAML(`hash_tag: ""`), func(p *Pool) any { return p.HashTag }, ""},
		{"distribution modula", poolYAML("distribution: modula"), func(p *Pool) any { return p.Distribution }, "modula"},
		{"timeout", poolYAML("timeout: 400"), func(p *Pool) any { return p.Timeout }, 400 * time.Millisecond},
		{"timeout quoted", poolYAML(`timeout: "250"`), func(p *Pool) any { return p.Timeout }, 250 * time.Millisecond},
		{"backlog", poolYAML("backlog: 1024"), func(p *Pool) any { return p.Backlog }, 1024},
		{"preconnect", poolYAML("preconnect: true"), func(p *Pool) any { return p.Preconnect }, true},
		{"preconnect False", poolYAML("preconnect: False"), func(p *Pool) any { return p.Preconnect }, false},
		{"redis", poolYAML("redis: true"), func(p *Pool) any { return p.Redis }, true},
		{"redis_auth", poolYAML("redis_auth: s3cret"), func(p *Pool) any { return p.RedisAuth }, "s3cret"},
		{"redis_auth number", poolYAML("redis_auth: 01234"), func(p *Pool) any { return p.RedisAuth }, "01234"},
		{"redis_db", poolYAML("redis_db: 3"), func(p *Pool) any { return p.RedisDB }, 3},
		{"server_connections", poolYAML("server_connections: 4"), func(p *Pool) any { return p.ServerConnections }, 4},
		{"client_connections", poolYAML("client_connections: 1000"), func(p *Pool) any { return p.ClientConnections }, 1000},
		{"client_connections unlimited", poolYAML("client_connections: 0"), func(p *Pool) any { return p.ClientConnections }, 0},
		{"max_clients", poolYAML("max_clients: 10000"), func(p *Pool) any { return p.ClientConnections }, 10000},
		{"client limits", poolYAML("proto_max_bulk_len: 64mb", "client_query_buffer_limit: 2GB", "proto_inline_max_size: 65536", "client_idle_timeout: 30000", "shutdown_timeout: 0"),
			func(p *Pool) any {
				return []any{p.ProtoMaxBulkLen, p.ClientQueryBufferLimit, p.ProtoInlineMaxSize, p.ClientIdleTimeout, p.ShutdownTimeout}
			}, []any{int64(64 << 20), int64(2 << 30), int64(65536), 30 * time.Second, time.Duration(0)}},
		{"client limits defaults", poolYAML(),
			func(p *Pool) any {
				return []any{p.ProtoMaxBulkLen, p.ClientQueryBufferLimit, p.ProtoInlineMaxSize, p.ClientIdleTimeout, p.ShutdownTimeout}
			}, []any{int64(512 << 20), int64(1 << 30), int64(64 << 10), time.Duration(0), 10 * time.Second}},
		{"size units", poolYAML("proto_max_bulk_len: 2000k", "client_query_buffer_limit: 3m"),
			func(p *Pool) any { return []any{p.ProtoMaxBulkLen, p.ClientQueryBufferLimit} }, []any{int64(2e6), int64(3e6)}},
		{"auto_eject_hosts", poolYAML("auto_eject_hosts: true"), func(p *Pool) any { return p.AutoEjectHosts }, true},
		{"server_retry_timeout", poolYAML("server_retry_timeout: 2000"), func(p *Pool) any { return p.ServerRetryTimeout }, 2 * time.Second},
		{"server_retry_timeout zero", poolYAML("server_retry_timeout: 0"), func(p *Pool) any { return p.ServerRetryTimeout }, time.Duration(0)},
		{"server_failure_limit", poolYAML("server_failure_limit: 5"), func(p *Pool) any { return p.ServerFailureLimit }, 5},
		{"tcpkeepalive", poolYAML("tcpkeepalive: true"), func(p *Pool) any { return p.TCPKeepalive }, true},
		{"mode ring", poolYAML("mode: ring"), func(p *Pool) any { return p.Mode }, "ring"},
		{"mode cluster", poolYAML("mode: cluster", "cluster_refresh_interval: 1500", "read_from_replicas: true", "max_redirects: 3"),
			func(p *Pool) any {
				return []any{p.Mode, p.ClusterRefreshInterval, p.ReadFromReplicas, p.MaxRedirects}
			}, []any{"cluster", 1500 * time.Millisecond, true, 3}},
		{"mode cluster defaults", poolYAML("mode: cluster"),
			func(p *Pool) any {
				return []any{p.ClusterRefreshInterval, p.ReadFromReplicas, p.MaxRedirects, p.HashTag}
			}, []any{5 * time.Second, false, 5, "{}"}},
		{"servers", poolYAML("servers:", "  - 127.0.0.1:7001:1", "  - 127.0.0.1:7002:3 b", "  - 10.0.0.1:7003", `  - "[::1]:7004:2"`, "  - cache.local:11211:1"),
			func(p *Pool) any { return p.Servers }, []Server{
				{Addr: "127.0.0.1:7001", Weight: 1, Name: "127.0.0.1:7001", Line: 3},
				{Addr: "127.0.0.1:7002", Weight: 3, Name: "b", Line: 4},
				{Addr: "10.0.0.1:7003", Weight: 1, Name: "10.0.0.1:7003", Line: 5},
				{Addr: "[::1]:7004", Weight: 2, Name: "[::1]:7004", Line: 6},
				{Addr: "cache.local:11211", Weight: 1, Name: "cache.local", Line: 7},
			}},
		{"servers flow list", poolYAML("servers: [127.0.0.1:7001:1, 127.0.0.1:7002:1]"),
			func(p *Pool) any { return len(p.Servers) }, 2},
		// Every bound is inclusive: the value at the bound is accepted (the
		// value one past it is refused in TestParseKeyErrors).
		{"listen unix perm 0777", poolYAML("listen: /tmp/s.sock 0777"), func(p *Pool) any { return p.ListenPerm }, os.FileMode(0o777)},
		{"listen port 0 (kernel's choice)", poolYAML("listen: 127.0.0.1:0"), func(p *Pool) any { return p.Listen }, "127.0.0.1:0"},
		{"listen port 65535", poolYAML("listen: 127.0.0.1:65535"), func(p *Pool) any { return p.Listen }, "127.0.0.1:65535"},
		{"server ports 1 and 65535", poolYAML("servers: [127.0.0.1:1:1, 127.0.0.1:65535:1]"),
			func(p *Pool) any { return []string{p.Servers[0].Addr, p.Servers[1].Addr} }, []string{"127.0.0.1:1", "127.0.0.1:65535"}},
		{"server weight 65536", poolYAML("servers: [127.0.0.1:7001:65536]"), func(p *Pool) any { return p.Servers[0].Weight }, MaxWeight},
		{"sentinel master weight 65536", poolYAML("sentinels: [127.0.0.1:26379]", "servers: [m1:65536]"),
			func(p *Pool) any { return p.Servers[0] }, Server{Name: "m1", Weight: 65536, Line: 3}},
		{"backlog 0", poolYAML("backlog: 0"), func(p *Pool) any { return p.Backlog }, 0},
		{"server_connections 1", poolYAML("server_connections: 1"), func(p *Pool) any { return p.ServerConnections }, 1},
		{"server_failure_limit 0", poolYAML("server_failure_limit: 0"), func(p *Pool) any { return p.ServerFailureLimit }, 0},
		{"max_redirects 1", poolYAML("mode: cluster", "max_redirects: 1"), func(p *Pool) any { return p.MaxRedirects }, 1},
		{"replica_max_lag 0 (no check)", poolYAML("read_from_replicas: true", "replica_max_lag: 0"), func(p *Pool) any { return p.ReplicaMaxLag }, time.Duration(0)},
		{"max_blocking 1", poolYAML("max_blocking: 1"), func(p *Pool) any { return p.MaxBlocking }, 1},
		{"client limits at their minimum", poolYAML("proto_max_bulk_len: 1mb", "client_query_buffer_limit: 1048576", "proto_inline_max_size: 1kb"),
			func(p *Pool) any { return []int64{p.ProtoMaxBulkLen, p.ClientQueryBufferLimit, p.ProtoInlineMaxSize} }, []int64{1 << 20, 1 << 20, 1 << 10}},
		{"proto_inline_max_size up to client_query_buffer_limit", poolYAML("client_query_buffer_limit: 2mb", "proto_inline_max_size: 2097152"),
			func(p *Pool) any { return p.ProtoInlineMaxSize }, int64(2 << 20)},
		{"largest size", poolYAML("client_query_buffer_limit: 4294967296gb", "proto_max_bulk_len: 4611686018427387904"),
			func(p *Pool) any { return []int64{p.ClientQueryBufferLimit, p.ProtoMaxBulkLen} }, []int64{1 << 62, 1 << 62}},
		{"output limits off but the normal hard limit", poolYAML("client_output_buffer_limit:", "  normal: 0 1mb 10", "  pubsub: 0 0 0"),
			func(p *Pool) any { return []OutputLimit{p.OutputLimitNormal, p.OutputLimitPubsub} },
			[]OutputLimit{{Soft: 1 << 20, SoftSeconds: 10 * time.Second}, {}}},
		{"client tls", poolYAML("tls_cert_file: c.pem", "tls_key_file: k.pem", "tls_ca_cert_file: ca.pem", "tls_auth_clients: optional"),
			func(p *Pool) any { return []string{p.TLSCertFile, p.TLSKeyFile, p.TLSCACertFile, p.TLSAuthClients} },
			[]string{"c.pem", "k.pem", "ca.pem", "optional"}},
		{"redis tls", poolYAML("redis_tls: true", "redis_tls_ca_cert_file: ca.pem", "redis_tls_cert_file: c.pem", "redis_tls_key_file: k.pem", "redis_tls_server_name: r.local"),
			func(p *Pool) any {
				return []any{p.RedisTLS, p.RedisTLSCACertFile, p.RedisTLSCertFile, p.RedisTLSKeyFile, p.RedisTLSServerName}
			}, []any{true, "ca.pem", "c.pem", "k.pem", "r.local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse:\n%s\nerror: %v", tt.yaml, err)
			}
			if len(c.Pools) != 1 {
				t.Fatalf("got %d pools, want 1", len(c.Pools))
			}
			if got := tt.got(c.Pools[0]); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate of a parsed config: %v", err)
			}
		})
	}
}

func TestParseKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string // the whole joined error text
	}{
		{"max_clients and client_connections", poolYAML("client_connections: 10", "max_clients: 20"),
			`f.yml:3: p.max_clients: client_connections (line 2) sets the same limit; keep one`},
		{"proto_max_bulk_len unit", poolYAML("proto_max_bulk_len: 5 mb"),
			`f.yml:2: p.proto_max_bulk_len: want a size in bytes or with a unit (kb, mb, gb), got "5 mb"`},
		{"proto_max_bulk_len small", poolYAML("proto_max_bulk_len: 1000"),
			`f.yml:2: p.proto_max_bulk_len: must be at least 1mb (as in Redis), got 1000 bytes`},
		{"client_query_buffer_limit negative", poolYAML("client_query_buffer_limit: -1"),
			`f.yml:2: p.client_query_buffer_limit: want a size in bytes or with a unit (kb, mb, gb), got "-1"`},
		{"proto_inline_max_size small", poolYAML("proto_inline_max_size: 10"),
			`f.yml:2: p.proto_inline_max_size: must be 1kb..client_query_buffer_limit, got 10 bytes`},
		{"client_idle_timeout negative", poolYAML("client_idle_timeout: -5"),
			`f.yml:2: p.client_idle_timeout: must be >= 0 (0 never closes idle clients), got -5 ms`},
		{"shutdown_timeout list", poolYAML("shutdown_timeout: [1]"),
			`f.yml:2: p.shutdown_timeout: want an integer number of milliseconds, got a list`},
		{"listen no port", poolYAML("listen: 127.0.0.1"),
			`f.yml:2: p.listen: "127.0.0.1" is not host:port`},
		{"listen no host", poolYAML("listen: :6380"),
			`f.yml:2: p.listen: ":6380" has no host (write 127.0.0.1 for loopback, 0.0.0.0 for every interface)`},
		{"listen bad port", poolYAML("listen: 127.0.0.1:70000"),
			`f.yml:2: p.listen: "127.0.0.1:70000" has an invalid port "70000"; want 0..65535`},
		{"listen ipv6 unbracketed", poolYAML("listen: ::1:6380"),
			`f.yml:2: p.listen: "::1:6380" is not host:port (write IPv6 addresses in brackets, such as [::1]:6380)`},
		{"listen list", poolYAML("listen: [a, b]"),
			`f.yml:2: p.listen: want a string, got a list`},
		{"listen empty", poolYAML("listen:"),
			`f.yml:2: p.listen: want a string, got an empty value`},
		{"listen bad perm", poolYAML("listen: /tmp/s.sock 0999"),
			`f.yml:2: p.listen: invalid socket permission "0999"; want octal such as 0600`},
		{"listen unix fields", poolYAML("listen: /tmp/s.sock 0600 x"),
			`f.yml:2: p.listen: "/tmp/s.sock 0600 x": want "/socket/path [permissions]"`},
		{"hash unknown", poolYAML("hash: fnv9", "distribution: ketama"),
			`f.yml:2: p.hash: unknown hash "fnv9"; want one of fnv1a_64, fnv1a_32, fnv1_64, fnv1_32, md5, crc16, crc32, crc32a, murmur, one_at_a_time, jenkins, hsieh, xxhash`},
		{"hash with consistent", poolYAML("hash: fnv1a_64\n  distribution: consistent"),
			`f.yml:2: p.hash: fnv1a_64 needs distribution ketama or modula; consistent always hashes with xxhash (nutcracker's default distribution is ketama: add "distribution: ketama" to keep twemproxy's key placement)`},
		{"hash_tag three", poolYAML(`hash_tag: "{{}"`),
			`f.yml:2: p.hash_tag: "{{}" is not two characters (such as "{}"); "" disables hash tags`},
		{"hash_tag one", poolYAML(`hash_tag: "{"`),
			`f.yml:2: p.hash_tag: "{" is not two characters (such as "{}"); "" disables hash tags`},
		{"hash_tag unquoted", poolYAML("hash_tag: {}"),
			`f.yml:2: p.hash_tag: write the tag in quotes, such as hash_tag: "{}" (unquoted, YAML reads an empty a mapping)`},
		{"hash_tag null", poolYAML("hash_tag:"),
			`f.yml:2: p.hash_tag: want a two-character string, got an empty value`},
		{"distribution random", poolYAML("distribution: random"),
			`f.yml:2: p.distribution: random is not supported: it sends each request to a random server, so a read misses the server its write went to; use ketama (twemproxy's placement) or consistent`},
		{"distribution unknown", poolYAML("distribution: rendezvous"),
			`f.yml:2: p.distribution: unknown distribution "rendezvous"; want consistent, ketama or modula`},
		{"timeout zero", poolYAML("timeout: 0"),
			`f.yml:2: p.timeout: must be > 0, got 0 ms (nutcracker waits forever without a timeout; this proxy always bounds a request)`},
		{"timeout negative", poolYAML("timeout: -5"),
			`f.yml:2: p.timeout: must be > 0, got -5 ms (nutcracker waits forever without a timeout; this proxy always bounds a request)`},
		{"timeout unit", poolYAML("timeout: 1s"),
			`f.yml:2: p.timeout: want an integer number of milliseconds, got "1s"`},
		{"timeout float", poolYAML("timeout: 1.5"),
			`f.yml:2: p.timeout: want an integer number of milliseconds, got "1.5"`},
		{"timeout hex", poolYAML("timeout: 0x10"),
			`f.yml:2: p.timeout: want an integer number of milliseconds, got "0x10"`},
		{"timeout huge", poolYAML("timeout: 99999999999"),
			`f.yml:2: p.timeout: 99999999999 is out of range`},
		{"timeout mapping", poolYAML("timeout: {a: 1}"),
			`f.yml:2: p.timeout: want an integer number of milliseconds, got a mapping`},
		{"backlog negative", poolYAML("backlog: -1"),
			`f.yml:2: p.backlog: must be >= 0, got -1`},
		{"backlog word", poolYAML("backlog: many"),
			`f.yml:2: p.backlog: want an integer, got "many"`},
		{"preconnect yes", poolYAML("preconnect: yes"),
			`f.yml:2: p.preconnect: want true or false, got "yes"`},
		{"preconnect number", poolYAML("preconnect: 1"),
			`f.yml:2: p.preconnect: want true or false, got "1"`},
		{"preconnect list", poolYAML("preconnect: [true]"),
			`f.yml:2: p.preconnect: want true or false, got a list`},
		{"redis false", poolYAML("redis: false"),
			`f.yml:2: p.redis: false: memcached pools are out of scope; this proxy speaks only the Redis protocol`},
		{"redis missing", "p:\n  listen: 127.0.0.1:6390\n  servers:\n    - 127.0.0.1:7001:1\n",
			`f.yml:1: p.redis: missing: this proxy serves only Redis pools; add "redis: true" (without it nutcracker treats the pool as memcached, which is out of scope)`},
		{"redis string", poolYAML("redis: redis"),
			`f.yml:2: p.redis: want true or false, got "redis"`},
		{"redis_auth empty", poolYAML("redis_auth:"),
			`f.yml:2: p.redis_auth: want a string, got an empty value`},
		{"redis_db negative", poolYAML("redis_db: -1"),
			`f.yml:2: p.redis_db: must be >= 0, got -1`},
		{"server_connections zero", poolYAML("server_connections: 0"),
			`f.yml:2: p.server_connections: must be >= 1, got 0`},
		{"client_connections negative", poolYAML("client_connections: -3"),
			`f.yml:2: p.client_connections: must be >= 0 (0 means no limit), got -3`},
		{"auto_eject_hosts", poolYAML("auto_eject_hosts: maybe"),
			`f.yml:2: p.auto_eject_hosts: want true or false, got "maybe"`},
		{"server_retry_timeout negative", poolYAML("server_retry_timeout: -1"),
			`f.yml:2: p.server_retry_timeout: must be >= 0, got -1 ms`},
		{"server_failure_limit negative", poolYAML("server_failure_limit: -2"),
			`f.yml:2: p.server_failure_limit: must be >= 0, got -2`},
		{"tcpkeepalive", poolYAML("tcpkeepalive: on"),
			`f.yml:2: p.tcpkeepalive: want true or false, got "on"`},
		{"mode unknown", poolYAML("mode: sentinel"),
			`f.yml:2: p.mode: unknown mode "sentinel"; want ring or cluster`},
		{"cluster key in ring", poolYAML("max_redirects: 3"),
			`f.yml:2: p.max_redirects: applies only to mode cluster`},
		{"cluster keys in ring", poolYAML("read_from_replicas: true", "cluster_refresh_interval: 100"),
			"f.yml:3: p.cluster_refresh_interval: applies only to mode cluster"},
		{"sentinels not a list", poolYAML("sentinels: 127.0.0.1:26379", "servers: [m1]"),
			`f.yml:2: p.sentinels: want a list of "host:port" addresses, got "127.0.0.1:26379"`},
		{"sentinel not a string", poolYAML("sentinels: [[127.0.0.1:26379]]", "servers: [m1]"),
			`f.yml:2: p.sentinels: want "host:port", got a list`},
		{"sentinel bad address", poolYAML("sentinels: [127.0.0.1]", "servers: [m1]"),
			`f.yml:2: p.sentinels: "127.0.0.1" is not host:port`},
		{"sentinel twice", "p:\n  redis: true\n  sentinels:\n    - 127.0.0.1:26379\n    - 127.0.0.1:26379\n  servers: [m1]\n",
			`f.yml:5: p.sentinels: 127.0.0.1:26379 listed twice`},
		{"sentinel server is an address", "p:\n  redis: true\n  servers:\n    - 127.0.0.1:7001:1\n  sentinels: [127.0.0.1:26379]\n",
			`f.yml:4: p.servers: "127.0.0.1:7001:1" has an invalid weight "7001:1"; want "master-name:weight" (with sentinels, servers are Sentinel master names, not addresses)`},
		{"sentinel master twice", "p:\n  redis: true\n  sentinels: [127.0.0.1:26379]\n  servers:\n    - m1:1\n    - m1:2\n",
			`f.yml:6: p.servers: master name "m1" listed twice (first at line 5)`},
		{"sentinel weight", "p:\n  redis: true\n  sentinels: [127.0.0.1:26379]\n  servers:\n    - m1:0\n",
			`f.yml:5: p.servers: m1: weight must be 1..65536, got 0`},
		{"sentinels in cluster", poolYAML("mode: cluster", "sentinels: [127.0.0.1:26379]"),
			`f.yml:3: p.sentinels: applies only to mode ring: Redis Cluster fails over by itself`},
		{"sentinel auth without sentinels", poolYAML("sentinel_auth: pw"),
			`f.yml:2: p.sentinel_auth: applies only to a ring pool with sentinels`},
		{"replicas with eject", poolYAML("read_from_replicas: true", "auto_eject_hosts: true"),
			`f.yml:2: p.read_from_replicas: does not apply with auto_eject_hosts: ejection re-hashes a cache pool's keys, while replicas serve a data pool's reads (use one or the other)`},
		{"replica lag negative without sentinels", poolYAML("read_from_replicas: true", "replica_max_lag: -1"),
			`f.yml:3: p.replica_max_lag: must be >= 0 seconds (0 disables the check), got -1s`},
		{"replica lag negative", poolYAML("sentinels: [127.0.0.1:26379]", "servers: [m1]", "read_from_replicas: true", "replica_max_lag: -1"),
			`f.yml:5: p.replica_max_lag: must be >= 0 seconds (0 disables the check), got -1s`},
		{"eject with sentinels", poolYAML("sentinels: [127.0.0.1:26379]", "servers: [m1]", "auto_eject_hosts: true"),
			`f.yml:4: p.auto_eject_hosts: does not apply to a pool with sentinels: Sentinel fails a shard over, while ejecting it would move its keys to other shards (auto_eject_hosts is for cache pools)`},
		{"health check interval", poolYAML("health_check_interval: 0"),
			`f.yml:2: p.health_check_interval: must be > 0, got 0 ms`},
		{"cluster hash", poolYAML("mode: cluster", "hash: crc16"),
			`f.yml:3: p.hash: does not apply to mode cluster: Redis Cluster places keys by CRC16 slot; remove it`},
		{"cluster distribution", poolYAML("mode: cluster", "distribution: ketama"),
			`f.yml:3: p.distribution: does not apply to mode cluster: Redis Cluster places keys by CRC16 slot; remove it`},
		{"cluster hash_tag", poolYAML("mode: cluster", `hash_tag: "$$"`),
			`f.yml:3: p.hash_tag: must be "{}" in cluster mode: Redis Cluster hashes only {...} tags, got "$$"`},
		{"cluster redis_db", poolYAML("redis_db: 2", "mode: cluster"),
			`f.yml:2: p.redis_db: must be 0 in cluster mode: Redis Cluster has only database 0, got 2`},
		{"cluster_refresh_interval zero", poolYAML("mode: cluster", "cluster_refresh_interval: 0"),
			`f.yml:3: p.cluster_refresh_interval: must be > 0, got 0 ms`},
		{"max_redirects zero", poolYAML("mode: cluster", "max_redirects: 0"),
			`f.yml:3: p.max_redirects: must be >= 1, got 0`},
		{"servers empty", poolYAML("servers: []"),
			`f.yml:2: p.servers: no servers`},
		{"servers null", poolYAML("servers:"),
			`f.yml:2: p.servers: want a list of "host:port:weight [name]" entries, got an empty value`},
		{"servers scalar", poolYAML("servers: 127.0.0.1:7001:1"),
			`f.yml:2: p.servers: want a list of "host:port:weight [name]" entries, got "127.0.0.1:7001:1"`},
		{"servers entry errors", poolYAML("servers:",
			"  - 127.0.0.1:7001:1 a",
			"  - 127.0.0.1:7002:0",
			"  - 127.0.0.1:70000:1",
			"  - 127.0.0.1:7003:x",
			"  - 127.0.0.1:7004:1 a",
			"  - 127.0.0.1:7001:1 c",
			"  - ::1:7005:1",
			"  - /tmp/redis.sock:1",
			"  - 127.0.0.1:7006:1 n extra",
			"  - host",
			"  - [a, b]",
			"  - 127.0.0.1:7007:70000",
		),
			"f.yml:4: p.servers: 127.0.0.1:7002: weight must be 1..65536, got 0\n" +
				`f.yml:5: p.servers: "127.0.0.1:70000" has an invalid port "70000"; want 1..65535` + "\n" +
				`f.yml:6: p.servers: "127.0.0.1:7003:x" has an invalid weight "x"` + "\n" +
				`f.yml:7: p.servers: 127.0.0.1:7004: name "a" is already used by 127.0.0.1:7001 (line 3); names must be unique in a pool` + "\n" +
				`f.yml:8: p.servers: 127.0.0.1:7001: address listed twice (first at line 3)` + "\n" +
				`f.yml:9: p.servers: "::1:7005:1" has too many colons (write IPv6 addresses in brackets, such as [::1]:6379:1)` + "\n" +
				`f.yml:10: p.servers: "/tmp/redis.sock:1": unix socket servers are not supported; use host:port` + "\n" +
				`f.yml:11: p.servers: "127.0.0.1:7006:1 n extra" has 3 fields; want "host:port:weight [name]"` + "\n" +
				`f.yml:12: p.servers: "host" is not "host:port:weight [name]"` + "\n" +
				`f.yml:13: p.servers: want "host:port:weight [name]", got a list` + "\n" +
				`f.yml:14: p.servers: 127.0.0.1:7007: weight must be 1..65536, got 70000`},
		{"servers all bad", poolYAML("servers:", "  - nope"),
			`f.yml:3: p.servers: "nope" is not "host:port:weight [name]"`},
		// One past each inclusive bound of TestParseKeys.
		{"listen perm 01000", poolYAML("listen: /tmp/s.sock 01000"),
			`f.yml:2: p.listen: invalid socket permission "01000"; want octal such as 0600`},
		{"listen port 65536", poolYAML("listen: 127.0.0.1:65536"),
			`f.yml:2: p.listen: "127.0.0.1:65536" has an invalid port "65536"; want 0..65535`},
		{"listen port -1", poolYAML("listen: 127.0.0.1:-1"),
			`f.yml:2: p.listen: "127.0.0.1:-1" has an invalid port "-1"; want 0..65535`},
		{"listen stray bracket", poolYAML("listen: localhost]:6380"),
			`f.yml:2: p.listen: "localhost]:6380" is not host:port`},
		{"server ports 0 and 65536", poolYAML("servers: [127.0.0.1:0:1, 127.0.0.1:65536:1]"),
			`f.yml:2: p.servers: "127.0.0.1:0" has an invalid port "0"; want 1..65535` + "\n" +
				`f.yml:2: p.servers: "127.0.0.1:65536" has an invalid port "65536"; want 1..65535`},
		{"server weight 65537", poolYAML("servers: [127.0.0.1:7001:65537]"),
			`f.yml:2: p.servers: 127.0.0.1:7001: weight must be 1..65536, got 65537`},
		{"sentinel master weight 65537", poolYAML("sentinels: [127.0.0.1:26379]", "servers: [m1:65537]"),
			`f.yml:3: p.servers: m1: weight must be 1..65536, got 65537`},
		{"client limits below their minimum", poolYAML("proto_max_bulk_len: 1048575", "client_query_buffer_limit: 1048575", "proto_inline_max_size: 1023"),
			"f.yml:2: p.proto_max_bulk_len: must be at least 1mb (as in Redis), got 1048575 bytes\n" +
				"f.yml:3: p.client_query_buffer_limit: must be at least 1mb (as in Redis), got 1048575 bytes\n" +
				"f.yml:4: p.proto_inline_max_size: must be 1kb..client_query_buffer_limit, got 1023 bytes"},
		{"proto_inline_max_size over client_query_buffer_limit", poolYAML("client_query_buffer_limit: 2mb", "proto_inline_max_size: 2097153"),
			`f.yml:3: p.proto_inline_max_size: must be 1kb..client_query_buffer_limit, got 2097153 bytes`},
		{"size over 2^62", poolYAML("client_query_buffer_limit: 4294967297gb", "proto_max_bulk_len: 4611686018427387905"),
			`f.yml:2: p.client_query_buffer_limit: want a size in bytes or with a unit (kb, mb, gb), got "4294967297gb"` + "\n" +
				`f.yml:3: p.proto_max_bulk_len: want a size in bytes or with a unit (kb, mb, gb), got "4611686018427387905"`},
		{"max_blocking zero", poolYAML("max_blocking: 0"),
			`f.yml:2: p.max_blocking: must be >= 1, got 0`},
		{"client tls without a certificate", poolYAML("tls_ca_cert_file: ca.pem"),
			`f.yml:2: p.tls_ca_cert_file: client TLS settings without tls_cert_file`},
		{"client tls certificate without key", poolYAML("tls_cert_file: c.pem"),
			`f.yml:2: p.tls_cert_file: tls_cert_file and tls_key_file go together`},
		{"client tls key without certificate", poolYAML("tls_key_file: k.pem"),
			`f.yml:2: p.tls_key_file: tls_cert_file and tls_key_file go together`},
		{"redis tls certificate without key", poolYAML("redis_tls: true", "redis_tls_cert_file: c.pem"),
			`f.yml:3: p.redis_tls_cert_file: redis_tls_cert_file and redis_tls_key_file go together`},
		{"redis tls key without certificate", poolYAML("redis_tls: true", "redis_tls_key_file: k.pem"),
			`f.yml:3: p.redis_tls_key_file: redis_tls_cert_file and redis_tls_key_file go together`},
		{"redis tls settings without redis_tls", poolYAML("redis_tls_server_name: r.local"),
			`f.yml:1: p.redis_tls: redis_tls_* settings need redis_tls: true (or sentinel_tls: true)`},
		{"unknown key three edits away", poolYAML("timeoutxyz: 400"),
			`f.yml:2: p.timeoutxyz: unknown key`},
		{"unknown key suggestion", poolYAML("tiemout: 400"),
			`f.yml:2: p.tiemout: unknown key; did you mean "timeout"?`},
		{"unknown key", poolYAML("command: [redis_module_get]"),
			`f.yml:2: p.command: unknown key`},
		{"duplicate key", poolYAML("timeout: 100", "hash: xxhash", "timeout: 200"),
			`f.yml:4: p.timeout: duplicate key (first at line 2)`},
		{"alias value", "x: &t 100\np:\n  timeout: *t\n  redis: true\n  servers: [127.0.0.1:7001]\n",
			"f.yml:1: x: want a mapping of pool keys, got \"100\"\n" +
				"f.yml:3: p.timeout: YAML aliases are not supported; write the value out"},
		{"merge key", "p:\n  <<: {timeout: 100}\n  redis: true\n  servers: [127.0.0.1:7001]\n",
			`f.yml:2: p: key: YAML merge keys (<<) are not supported`},
		{"non-scalar key", "p:\n  [a]: 1\n  redis: true\n  servers: [127.0.0.1:7001]\n",
			`f.yml:2: p: key: want a plain name, got a list`},
		{"several errors in line order", poolYAML("timeout: x", "hash: nope", "backlog: -1", "bogus: 1"),
			"f.yml:2: p.timeout: want an integer number of milliseconds, got \"x\"\n" +
				"f.yml:3: p.hash: unknown hash \"nope\"; want one of fnv1a_64, fnv1a_32, fnv1_64, fnv1_32, md5, crc16, crc32, crc32a, murmur, one_at_a_time, jenkins, hsieh, xxhash\n" +
				"f.yml:4: p.backlog: must be >= 0, got -1\n" +
				"f.yml:5: p.bogus: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("f.yml", []byte(tt.yaml))
			if got := errText(err); got != tt.want {
				t.Errorf("Parse:\n%s\ngot error:\n%s\nwant:\n%s", tt.yaml, got, tt.want)
			}
			if c != nil {
				t.Errorf("got a Config along with the error")
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yml" || e.Line == 0 {
				t.Errorf("errors.As(*Error) = %+v, want an *Error with file and line", e)
			}
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		yaml string
		want string
	}{
		{"empty", "f.yml", "", "f.yml: no pools defined"},
		{"comment only", "f.yml", "# nothing\n", "f.yml: no pools defined"},
		{"null document", "f.yml", "---\n", "f.yml: no pools defined"},
		{"from memory", "", "p:\n  timeout: x\n  redis: true\n  servers: [127.0.0.1:7001]\n",
			`line 2: p.timeout: want an integer number of milliseconds, got "x"`},
		// For parser errors yaml.v3 names the line of the enclosing block.
		{"syntax", "f.yml", "p:\n  listen: a\n bad: [\n", "f.yml:2: invalid YAML: did not find expected key"},
		{"unterminated quote", "f.yml", "p:\n  redis: true\n  listen: \"a\n", "f.yml:3: invalid YAML: found unexpected end of stream"},
		{"bad indent", "f.yml", "p:\n  redis: true\n    listen: a\n", "f.yml:3: invalid YAML: mapping values are not allowed in this context"},
		{"tab indent", "f.yml", "p:\n\tlisten: a\n", "f.yml:2: invalid YAML: found character that cannot start any token"},
		{"two documents", "f.yml", poolYAML() + "---\nq:\n  redis: true\n", "f.yml:5: a second YAML document; want exactly one"},
		{"root scalar", "f.yml", "hello\n", `f.yml:1: want a mapping of pool names to pool keys, got "hello"`},
		{"root list", "f.yml", "- a\n- b\n", "f.yml:1: want a mapping of pool names to pool keys, got a list"},
		{"pool not mapping", "f.yml", "p: 1\n", `f.yml:1: p: want a mapping of pool keys, got "1"`},
		{"pool null", "f.yml", "p:\n", `f.yml:1: p: want a mapping of pool keys, got an empty value`},
		{"empty pool name", "f.yml", `"": {redis: true}` + "\n", `f.yml:1: pool name: empty name`},
		{"unknown anchor", "f.yml", "p: *nope\n", "f.yml: invalid YAML: unknown anchor 'nope' referenced"},
		{"duplicate pool", "f.yml", poolYAML("listen: 127.0.0.1:7100") + poolYAML("listen: 127.0.0.1:7101"),
			"f.yml:6: p: duplicate pool name (first at line 1)"},
		{"duplicate listen", "f.yml",
			"a:\n  listen: 127.0.0.1:7100\n  redis: true\n  servers: [127.0.0.1:7001]\n" +
				"b:\n  redis: true\n  listen: 127.0.0.1:7100\n  servers: [127.0.0.1:7001]\n",
			"f.yml:7: b.listen: 127.0.0.1:7100 conflicts with the listen address 127.0.0.1:7100 of pool a (line 2)"},
		{"wildcard listen conflict", "f.yml",
			"a:\n  listen: 0.0.0.0:7100\n  redis: true\n  servers: [127.0.0.1:7001]\n" +
				"b:\n  listen: 127.0.0.1:7100\n  redis: true\n  servers: [127.0.0.1:7001]\n",
			"f.yml:6: b.listen: 127.0.0.1:7100 conflicts with the listen address 0.0.0.0:7100 of pool a (line 2)"},
		{"default listen twice", "f.yml",
			"a:\n  redis: true\n  servers: [127.0.0.1:7001]\n" +
				"b:\n  redis: true\n  servers: [127.0.0.1:7001]\n",
			"f.yml:4: b.listen: 127.0.0.1:6380 conflicts with the listen address 127.0.0.1:6380 of pool a (line 1)"},
		{"same unix path", "f.yml",
			"a:\n  listen: /tmp/s\n  redis: true\n  servers: [127.0.0.1:7001]\n" +
				"b:\n  listen: /tmp/s 0600\n  redis: true\n  servers: [127.0.0.1:7001]\n",
			"f.yml:6: b.listen: /tmp/s conflicts with the listen address /tmp/s of pool a (line 2)"},
		{"errors of several pools in line order", "f.yml",
			"a:\n  redis: true\n  timeout: 0\n  servers: []\n" +
				"b:\n  hash: bad\n  redis: true\n  listen: 127.0.0.1:7200\n  servers: [127.0.0.1:7001]\n",
			"f.yml:3: a.timeout: must be > 0, got 0 ms (nutcracker waits forever without a timeout; this proxy always bounds a request)\n" +
				"f.yml:4: a.servers: no servers\n" +
				"f.yml:6: b.hash: unknown hash \"bad\"; want one of fnv1a_64, fnv1a_32, fnv1_64, fnv1_32, md5, crc16, crc32, crc32a, murmur, one_at_a_time, jenkins, hsieh, xxhash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.file, []byte(tt.yaml))
			if got := errText(err); got != tt.want {
				t.Errorf("Parse:\n%s\ngot error:\n%s\nwant:\n%s", tt.yaml, got, tt.want)
			}
			if c != nil {
				t.Errorf("got a Config along with the error")
			}
		})
	}
}

func TestParseOrderAndDefaults(t *testing.T) {
	src := "zeta:\n  listen: 127.0.0.1:7301\n  redis: true\n  servers: [127.0.0.1:7001]\n" +
		"alpha:\n  listen: 127.0.0.1:7302\n  redis: true\n  servers: [127.0.0.1:7001]\n" +
		"mid:\n  redis: true\n  servers: [127.0.0.1:7001]\n"
	c, err := Parse("order.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.File != "order.yml" {
		t.Errorf("File = %q", c.File)
	}
	var names []string
	for _, p := range c.Pools {
		names = append(names, p.Name)
	}
	if want := []string{"zeta", "alpha", "mid"}; !reflect.DeepEqual(names, want) {
		t.Errorf("pools in order %v, want %v", names, want)
	}
	// A pool that sets nothing but redis and servers is Default plus those.
	want := Default("mid")
	want.Line = 9
	want.Servers = []Server{{Addr: "127.0.0.1:7001", Weight: 1, Name: "127.0.0.1:7001", Line: 11}}
	if got := c.Pools[2]; !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestDefault(t *testing.T) {
	p := Default("d")
	want := &Pool{
		Name:                   "d",
		Listen:                 "127.0.0.1:6380",
		Mode:                   "ring",
		Hash:                   "xxhash",
		HashTag:                "{}",
		Distribution:           "consistent",
		Timeout:                time.Second,
		Backlog:                512,
		Redis:                  true,
		ServerConnections:      DefaultServerConnections,
		ServerRetryTimeout:     30 * time.Second,
		ServerFailureLimit:     2,
		ClusterRefreshInterval: 5 * time.Second,
		MaxRedirects:           5,
		ReplicaMaxLag:          10 * time.Second,
		HealthCheckInterval:    time.Second,
		ProtoMaxBulkLen:        512 << 20,
		ClientQueryBufferLimit: 1 << 30,
		ProtoInlineMaxSize:     64 << 10,
		ShutdownTimeout:        10 * time.Second,
		OutputLimitNormal:      OutputLimit{Hard: 1 << 30},
		OutputLimitPubsub:      OutputLimit{Hard: 32 << 20, Soft: 8 << 20, SoftSeconds: time.Minute},
		ClientWriteTimeout:     30 * time.Second,
		PinnedConnections:      8,
		MaxBlocking:            1000,
		Access:                 Access{DenyCommands: DefaultDenyCommands()},
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Default:\ngot  %+v\nwant %+v", p, want)
	}
	if Default("d") == Default("d") {
		t.Error("Default returns a shared pool")
	}
	// Without servers, a default pool has exactly one problem.
	if got, want := errText(p.Validate()), "d.servers: no servers"; got != want {
		t.Errorf("Validate = %q, want %q", got, want)
	}
	p.Servers = []Server{{Addr: "127.0.0.1:7001", Weight: 1, Name: "a"}}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestValidate(t *testing.T) {
	valid := func() *Pool {
		p := Default("v")
		p.Servers = []Server{{Addr: "127.0.0.1:7001", Weight: 1, Name: "a"}, {Addr: "127.0.0.1:7002", Weight: 1, Name: "b"}}
		return p
	}
	tests := []struct {
		name   string
		change func(p *Pool)
		want   string
	}{
		{"valid", func(*Pool) {}, ""},
		{"valid cluster", func(p *Pool) { p.Mode = ModeCluster }, ""},
		{"valid ketama fnv", func(p *Pool) { p.Distribution, p.Hash = DistKetama, "fnv1a_64" }, ""},
		{"valid unix", func(p *Pool) { p.Listen, p.ListenPerm = "/run/proxy.sock", 0o600 }, ""},
		{"no name", func(p *Pool) { p.Name = "" }, "pool has no name"},
		{"zero mode", func(p *Pool) { p.Mode = "" }, `v.mode: unknown mode ""; want ring or cluster`},
		{"zero timeout", func(p *Pool) { p.Timeout = 0 }, "v.timeout: must be > 0, got 0 ms (nutcracker waits forever without a timeout; this proxy always bounds a request)"},
		{"sub-ms timeout", func(p *Pool) { p.Timeout = -1500 * time.Microsecond }, "v.timeout: must be > 0, got -1.5ms (nutcracker waits forever without a timeout; this proxy always bounds a request)"},
		{"redis false", func(p *Pool) { p.Redis = false }, "v.redis: false: memcached pools are out of scope; this proxy speaks only the Redis protocol"},
		{"bad perm", func(p *Pool) { p.Listen, p.ListenPerm = "/run/p.sock", 0o1777 }, "v.listen: socket permission 01777 is not within 0777"},
		{"unix path of 107 bytes", func(p *Pool) { p.Listen = "/" + strings.Repeat("x", 106) }, ""},
		{"long unix path", func(p *Pool) { p.Listen = "/" + strings.Repeat("x", 107) }, "v.listen: unix socket path is 108 bytes; the limit is 107"},
		{"server no name", func(p *Pool) { p.Servers[1].Name = "" }, "v.servers: 127.0.0.1:7002: server has no name"},
		{"server name space", func(p *Pool) { p.Servers[1].Name = "a b" }, `v.servers: 127.0.0.1:7002: name "a b" contains white space`},
		{"server dup name", func(p *Pool) { p.Servers[1].Name = "a" }, `v.servers: 127.0.0.1:7002: name "a" is already used by 127.0.0.1:7001 (built in code); names must be unique in a pool`},
		{"server dup addr", func(p *Pool) { p.Servers[1].Addr = "127.0.0.1:7001" }, "v.servers: 127.0.0.1:7001: address listed twice (first at built in code)"},
		{"server zero weight", func(p *Pool) { p.Servers[0].Weight = 0 }, "v.servers: 127.0.0.1:7001: weight must be 1..65536, got 0"},
		{"server no port", func(p *Pool) { p.Servers[0].Addr = "127.0.0.1" }, `v.servers: "127.0.0.1" is not host:port`},
		{"server unix", func(p *Pool) { p.Servers[0].Addr = "/tmp/r.sock" }, "v.servers: /tmp/r.sock: unix socket servers are not supported; use host:port"},
		{"cluster consistent ignores hash", func(p *Pool) { p.Mode, p.Hash = ModeCluster, "md5" }, ""},
		{"cluster no redirects", func(p *Pool) { p.Mode, p.MaxRedirects = ModeCluster, 0 }, "v.max_redirects: must be >= 1, got 0"},
		{"ring ignores cluster fields", func(p *Pool) { p.MaxRedirects, p.ClusterRefreshInterval = 0, 0 }, ""},
		{"two problems", func(p *Pool) { p.Backlog, p.RedisDB = -1, -1 }, "v.backlog: must be >= 0, got -1\nv.redis_db: must be >= 0, got -1"},
		{"negative output limit", func(p *Pool) {
			p.OutputLimitPubsub = OutputLimit{Hard: 32 << 20, Soft: -1, SoftSeconds: 90 * time.Second}
		},
			"v.client_output_buffer_limit: pubsub: negative limit 33554432 -1 90"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := valid()
			tt.change(p)
			if got := errText(p.Validate()); got != tt.want {
				t.Errorf("Validate:\ngot  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	pool := func(name, listen string) *Pool {
		p := Default(name)
		p.Listen = listen
		p.Servers = []Server{{Addr: "127.0.0.1:7001", Weight: 1, Name: "a"}}
		return p
	}
	tests := []struct {
		name string
		c    *Config
		want string
	}{
		{"ok", &Config{Pools: []*Pool{pool("a", "127.0.0.1:7100"), pool("b", "127.0.0.1:7101")}}, ""},
		{"no pools", &Config{File: "x.yml"}, "x.yml: no pools defined"},
		{"dup name", &Config{Pools: []*Pool{pool("a", "127.0.0.1:7100"), pool("a", "127.0.0.1:7101")}},
			"a: duplicate pool name (first at built in code)"},
		{"dup listen", &Config{Pools: []*Pool{pool("a", "[::]:7100"), pool("b", "[::1]:7100")}},
			"b.listen: [::1]:7100 conflicts with the listen address [::]:7100 of pool a (built in code)"},
		{"different ports", &Config{Pools: []*Pool{pool("a", "0.0.0.0:7100"), pool("b", "127.0.0.1:7101")}}, ""},
		{"different hosts", &Config{Pools: []*Pool{pool("a", "127.0.0.1:7100"), pool("b", "127.0.0.2:7100"), pool("c", "[::1]:7100")}}, ""},
		{"wildcard after", &Config{Pools: []*Pool{pool("a", "127.0.0.1:7100"), pool("b", "0.0.0.0:7100")}},
			"b.listen: 0.0.0.0:7100 conflicts with the listen address 127.0.0.1:7100 of pool a (built in code)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errText(tt.c.Validate()); got != tt.want {
				t.Errorf("Validate:\ngot  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct {
		entry string
		want  Server
		err   string
	}{
		{entry: "127.0.0.1:6379:1", want: Server{Addr: "127.0.0.1:6379", Weight: 1, Name: "127.0.0.1:6379"}},
		{entry: "127.0.0.1:6379", want: Server{Addr: "127.0.0.1:6379", Weight: 1, Name: "127.0.0.1:6379"}},
		{entry: "redis-1.svc:6379:10 shard1", want: Server{Addr: "redis-1.svc:6379", Weight: 10, Name: "shard1"}},
		{entry: "  10.0.0.1:6379   s  ", want: Server{Addr: "10.0.0.1:6379", Weight: 1, Name: "s"}},
		{entry: "[::1]:7001:1", want: Server{Addr: "[::1]:7001", Weight: 1, Name: "[::1]:7001"}},
		{entry: "[::1]:7001", want: Server{Addr: "[::1]:7001", Weight: 1, Name: "[::1]:7001"}},
		{entry: "[fe80::1]:11211:1", want: Server{Addr: "[fe80::1]:11211", Weight: 1, Name: "[fe80::1]"}},
		{entry: "127.0.0.1:11211:1", want: Server{Addr: "127.0.0.1:11211", Weight: 1, Name: "127.0.0.1"}},
		{entry: "127.0.0.1:11211:1 named", want: Server{Addr: "127.0.0.1:11211", Weight: 1, Name: "named"}},
		{entry: "", err: `servers: empty entry; want "host:port:weight [name]"`},
		{entry: "[::1:7001:1", err: `servers: "[::1:7001:1" is not "[ipv6]:port:weight"`},
		{entry: "[::1]7001", err: `servers: "[::1]7001" is not "[ipv6]:port:weight"`},
		{entry: "[]:6379:1", err: `servers: ":6379" has no host (write 127.0.0.1 for loopback, 0.0.0.0 for every interface)`},
		{entry: ":6379:1", err: `servers: ":6379" has no host (write 127.0.0.1 for loopback, 0.0.0.0 for every interface)`},
		{entry: "127.0.0.1::1", err: `servers: "127.0.0.1:" has an invalid port ""; want 1..65535`},
		{entry: "127.0.0.1:6379:-1", err: `servers: 127.0.0.1:6379: weight must be 1..65536, got -1`},
		{entry: "127.0.0.1:6379:1:2", err: `servers: "127.0.0.1:6379:1:2" has too many colons (write IPv6 addresses in brackets, such as [::1]:6379:1)`},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			got, err := ParseServer(tt.entry)
			if errText(err) != tt.err {
				t.Fatalf("error = %q, want %q", errText(err), tt.err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yml", Line: 7, Pool: "alpha", Key: "hash", Msg: "m"}, "a.yml:7: alpha.hash: m"},
		{Error{File: "a.yml", Line: 7, Pool: "alpha", Msg: "m"}, "a.yml:7: alpha: m"},
		{Error{File: "a.yml", Msg: "m"}, "a.yml: m"},
		{Error{Line: 3, Key: "servers", Msg: "m"}, "line 3: servers: m"},
		{Error{Pool: "p", Key: "k", Msg: "m"}, "p.k: m"},
		{Error{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.e.Error(); got != tt.want {
				t.Errorf("got %q", got)
			}
		})
	}
}

// TestEveryKnownKeyIsDecoded makes sure the key list used for suggestions
// and the decoder agree: a wrong-typed value is a type error, never
// "unknown key".
func TestEveryKnownKeyIsDecoded(t *testing.T) {
	for _, key := range knownKeys() {
		t.Run(key, func(t *testing.T) {
			wrong := "{x: 1}"
			if key == "client_output_buffer_limit" { // a mapping is its type
				wrong = "[x]"
			}
			src := "p:\n  " + key + ": " + wrong + "\n"
			_, err := Parse("f.yml", []byte(src))
			var found *Error
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				if e := e.(*Error); e.Key == key {
					found = e
				}
			}
			if found == nil || found.Line != 2 || !strings.HasPrefix(found.Msg, "want ") {
				t.Errorf("error for %s = %v; want a type error on line 2 in:\n%v", key, found, err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.yml"); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "testdata/does-not-exist.yml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}

// TestNutcrackerExample loads twemproxy 0.5's conf/nutcracker.yml as
// shipped: its memcached pools are refused, each at its own line.
func TestNutcrackerExample(t *testing.T) {
	_, err := Load("testdata/nutcracker.yml")
	const missing = `redis: missing: this proxy serves only Redis pools; add "redis: true" (without it nutcracker treats the pool as memcached, which is out of scope)`
	want := "testdata/nutcracker.yml:26: gamma." + missing + "\n" +
		"testdata/nutcracker.yml:40: delta." + missing + "\n" +
		"testdata/nutcracker.yml:60: omega." + missing + "\n" +
		"testdata/nutcracker.yml:66: omega.servers: 127.0.0.1:11214: weight must be 1..65536, got 100000"
	if got := errText(err); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestNutcrackerRedisPools loads the example's redis pools (alpha, beta)
// as-is and checks every value.
func TestNutcrackerRedisPools(t *testing.T) {
	c, err := Load("testdata/nutcracker-redis.yml")
	if err != nil {
		t.Fatal(err)
	}
	alpha := Default("alpha")
	alpha.Line = 1
	alpha.Listen = "127.0.0.1:22121"
	alpha.Hash = "fnv1a_64"
	alpha.Distribution = DistKetama
	alpha.AutoEjectHosts = true
	alpha.ServerRetryTimeout = 2 * time.Second
	alpha.ServerFailureLimit = 1
	alpha.Servers = []Server{{Addr: "127.0.0.1:6379", Weight: 1, Name: "127.0.0.1:6379", Line: 10}}

	beta := Default("beta")
	beta.Line = 12
	beta.Listen = "127.0.0.1:22122"
	beta.Hash = "fnv1a_64"
	beta.HashTag = "{}"
	beta.Distribution = DistKetama
	beta.Timeout = 400 * time.Millisecond
	beta.Servers = []Server{
		{Addr: "127.0.0.1:6380", Weight: 1, Name: "server1", Line: 21},
		{Addr: "127.0.0.1:6381", Weight: 1, Name: "server2", Line: 22},
		{Addr: "127.0.0.1:6382", Weight: 1, Name: "server3", Line: 23},
		{Addr: "127.0.0.1:6383", Weight: 1, Name: "server4", Line: 24},
	}
	want := &Config{File: "testdata/nutcracker-redis.yml", Pools: []*Pool{alpha, beta}}
	if !reflect.DeepEqual(c, want) {
		for i := range c.Pools {
			t.Logf("got pool %+v", *c.Pools[i])
		}
		t.Errorf("config differs from the expected alpha and beta pools")
	}
}

// TestNutcrackerAcceptsTestdata checks, with the real nutcracker 0.5, that
// the testdata files are valid nutcracker configurations.
func TestNutcrackerAcceptsTestdata(t *testing.T) {
	bin, err := exec.LookPath("nutcracker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("nutcracker not installed")
		}
		t.Skip("nutcracker not installed")
	}
	for _, f := range []string{"testdata/nutcracker.yml", "testdata/nutcracker-redis.yml"} {
		t.Run(f, func(t *testing.T) {
			out, err := exec.Command(bin, "-t", "-c", f).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "syntax is ok") {
				t.Errorf("nutcracker -t -c %s: %v\n%s", f, err, out)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/nutcracker.yml", "testdata/nutcracker-redis.yml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		poolYAML(),
		poolYAML("mode: cluster", "max_redirects: 2", "read_from_replicas: true"),
		poolYAML("listen: /tmp/s 0600", `hash_tag: "$$"`, "distribution: modula", "hash: murmur"),
		poolYAML("servers:", `  - "[::1]:7001:2 a"`, "  - 127.0.0.1:11211"),
		"p: *a\n",
		"a: &x {redis: true}\nb: *x\n",
		"p:\n  <<: {timeout: 1}\n",
		"---\n---\n",
		"p: [1, 2]\n",
		"\"\": {}\n",
		"p:\n  servers: [\"\", \" \", \"[\", \"[]:\", \":::\"]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yml", data)
		if err != nil {
			if c != nil {
				t.Fatal("Config returned with an error")
			}
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				if _, ok := e.(*Error); !ok {
					t.Fatalf("error %T %q is not an *Error", e, e)
				}
			}
			return
		}
		if len(c.Pools) == 0 {
			t.Fatal("no error and no pools")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		for _, p := range c.Pools {
			if !p.Redis || len(p.Servers) == 0 {
				t.Fatalf("invalid pool accepted: %+v", p)
			}
		}
	})
}

// A nutcracker.yml that names a hash but no distribution relies on
// nutcracker's default distribution, ketama; it must keep that placement.
func TestNutcrackerHashImpliesKetama(t *testing.T) {
	cfg, err := Parse("f.yml", []byte(poolYAML("hash: md5")))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Pools[0]; p.Distribution != DistKetama || p.Hash != "md5" {
		t.Fatalf("distribution %q hash %q, want ketama md5", p.Distribution, p.Hash)
	}
	cfg, err = Parse("f.yml", []byte(poolYAML("hash: xxhash")))
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Pools[0]; p.Distribution != DistConsistent {
		t.Fatalf("xxhash pool got distribution %q, want consistent", p.Distribution)
	}
}

// TestSentinelSandboxConfig: the `make run-sentinel` pool loads as a
// Sentinel-managed ring.
func TestSentinelSandboxConfig(t *testing.T) {
	c, err := Load("../deploy/local/shardproxy-sentinel.yml")
	if err != nil {
		t.Fatal(err)
	}
	p := c.Pools[0]
	if !p.SentinelManaged() || len(p.Sentinels) != 3 || len(p.Servers) != 3 || p.Servers[0].Name != "shard1" || p.Servers[0].Addr != "" {
		t.Fatalf("sandbox pool: %+v", p)
	}
}
