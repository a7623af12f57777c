// Package config owns the proxy's configuration: the YAML schema, its
// defaults (all in defaults.go), and validation whose every error names the
// file, the line and the key ("conf/x.yml:7: alpha.hash: unknown hash ...").
//
// The schema is nutcracker's (twemproxy 0.5): each top-level key is a pool,
// kept in file order, holding these keys (durations are integer
// milliseconds):
//
//	listen                 host:port, or /unix/path [octal perm] (the socket's mode); default 127.0.0.1:6380
//	redis                  must be true; required (nutcracker's default, false, means memcached)
//	servers                list of "host:port:weight [name]"; ":weight" may be left out (1);
//	                       IPv6 as "[::1]:7001:1"; names and addresses unique in a pool
//	hash                   xxhash (default), or any nutcracker 0.5 hash: fnv1a_64, fnv1a_32,
//	                       fnv1_64, fnv1_32, md5, crc16, crc32, crc32a, murmur, one_at_a_time,
//	                       jenkins, hsieh
//	hash_tag               two characters, default "{}"; "" disables hash tags
//	distribution           consistent (default), ketama, modula; nutcracker's random is refused
//	timeout                per-request backend timeout, > 0; default 1000
//	backlog                default 512
//	preconnect             bool; accepted, but connections are always opened at start
//	                       (nutcracker opens them at the first request when false)
//	redis_auth, redis_db   password, database (>= 0)
//	server_connections     connections per server, >= 1; default DefaultServerConnections
//	client_connections     cap on client connections; 0 (default) = none
//	auto_eject_hosts       bool
//	server_retry_timeout   default 30000
//	server_failure_limit   default 2
//	tcpkeepalive           bool: TCP keep-alive on server connections
//	mode                   ring (default) or cluster
//	cluster_refresh_interval, max_redirects
//	                       cluster mode only; defaults 5000, 5
//	read_from_replicas     read-only commands to replicas (cluster, Sentinel ring, or a
//	                       ring whose masters list them in INFO replication); default false
//	client_output_buffer_limit
//	                       mapping of class (normal, pubsub) to Redis's "<hard> <soft> <seconds>"
//	                       (sizes as 32mb, 64kb, bytes); defaults normal "1gb 0 0" (Redis's
//	                       unlimited default is refused: a client that stops reading must not
//	                       grow the proxy without bound), pubsub "32mb 8mb 60" (Redis's)
//	client_write_timeout   a write to a client making no progress this long disconnects it;
//	                       0 = off; default 30000
//	pinned_connections     dedicated backend connections one client may hold (transactions,
//	                       blocking commands), >= 1; default 8
//	max_blocking           clients of the pool blocked at once (BLPOP, XREAD BLOCK, ...), each
//	                       on a backend connection of its own, >= 1; default 1000
//	redis_username         ACL user of redis_auth on the backends (AUTH user pass)
//	requirepass            the clients' default-user password
//	users                  list of Redis ACL users for clients ("alice on #<sha256> ~k:* +@read")
//	deny_commands          list of commands or @categories refused; default flushall, flushdb, keys
//	allow_commands         list re-enabling denied commands
//
// Access (auth.go) explains how client and backend credentials relate; the
// ACL rules themselves are compiled, and reported with file:line, by the
// router, which owns the command table.
//
// Compatibility trade-off: a nutcracker.yml keeps its key placement because
// a ketama or modula pool without `hash` gets nutcracker's fnv1a_64, and a
// hash other than xxhash without `distribution` is an error that asks for
// "distribution: ketama" (nutcracker's default) instead of silently moving
// every key to consistent hashing. Where this proxy is stricter than
// nutcracker it says so in the error: `redis` must be true, a timeout is
// always set (nutcracker waits forever by default), random distribution
// and unix socket servers are refused, server addresses must be unique,
// and weights stop at MaxWeight. YAML anchors, aliases and merge keys are
// refused, as nutcracker does.
//
// Parse and Load report every problem, not just the first, as *Error values
// joined with errors.Join in line order. Pools built in code start from
// Default and are checked with Pool.Validate, which applies the same rules.
// Nothing here is mutable package state; a Config is plain data, and
// callers must not share one between goroutines while modifying it.
package config
