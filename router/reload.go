package router

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shardproxy/shardproxy/config"
)

// Reload applies a new configuration to the running proxy. What a ring pool
// can change in place: its servers (added, removed, reweighted, renamed),
// hash, hash_tag and distribution; a Sentinel ring's sentinels,
// sentinel_auth, sentinel_username and master names (a new watcher
// resolves them first, and a reload whose sentinels name no master for
// one of them is refused; the old watcher and its connections are closed
// after the grace below, so pinned clients of an unchanged master see
// their connection close). Sessions switch to the new placement at
// their next batch; connections to servers that stay carry on, and removed
// servers are closed once requests sent to them have had time to finish.
// Everything else (pools added or removed, listen, mode, timeouts, auth,
// connections, cluster settings) needs a restart: Reload then returns an
// error naming each such change and changes nothing. It is safe to call
// concurrently with serving; reloads are serialised.
func (p *Proxy) Reload(cfg *config.Config) error {
	if err := p.reload(cfg); err != nil {
		p.ReloadFailed(err)
		return err
	}
	p.metrics.ConfigReload(nil)
	return nil
}

// ReloadFailed records a reload that failed before Reload could run (the
// file did not load): it is logged and counted like any failed reload.
func (p *Proxy) ReloadFailed(err error) {
	p.metrics.ConfigReload(err)
	p.log.Error("config reload failed; running configuration kept", "err", err)
}

func (p *Proxy) reload(cfg *config.Config) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := CheckConfig(cfg); err != nil { // ACL rules, command names: file:line
		return err
	}
	var errs []error
	byName := map[string]*config.Pool{}
	for _, pc := range cfg.Pools {
		byName[pc.Name] = pc
	}
	for _, pool := range p.pools {
		if _, ok := byName[pool.cfg.Name]; !ok {
			errs = append(errs, fmt.Errorf("pool %s removed: needs a restart", pool.cfg.Name))
		}
	}
	type change struct {
		pool *Pool
		pc   *config.Pool
		next topology
	}
	var changes []change
	for _, pc := range cfg.Pools {
		i := slices.IndexFunc(p.pools, func(pool *Pool) bool { return pool.cfg.Name == pc.Name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("pool %s added: needs a restart", pc.Name))
			continue
		}
		pool := p.pools[i]
		if keys := restartKeys(pool.cfg, pc); len(keys) > 0 {
			errs = append(errs, fmt.Errorf("pool %s: %v changed: needs a restart", pc.Name, keys))
			continue
		}
		changes = append(changes, change{pool: pool, pc: pc})
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, c := range cfg.Pools {
		i := slices.IndexFunc(p.pools, func(pool *Pool) bool { return pool.cfg.Name == c.Name })
		if err := p.pools[i].reloadTLS(c); err != nil {
			return err
		}
	}
	// Build every new topology before swapping any, so that a failure
	// leaves the proxy as it was.
	var built []change
	for _, c := range changes {
		next, err := c.pool.topology().rebuild(c.pc)
		if err != nil {
			for _, b := range built {
				b.next.retire(b.pool.topology())
			}
			return fmt.Errorf("pool %s: %w", c.pc.Name, err)
		}
		if next != nil {
			c.next = next
			built = append(built, c)
		}
	}
	for _, c := range built {
		c.pool.swapTopology(c.pc, c.next)
	}
	if len(built) == 0 {
		p.log.Info("config reloaded: nothing changed")
	}
	return nil
}

// swapTopology installs t and retires the servers of the old topology that
// t does not use.
func (p *Pool) swapTopology(pc *config.Pool, t topology) {
	var old topology
	if rt, ok := t.(*ringTopo); ok {
		old = p.installRing(rt) // the whole ring, even while servers are ejected
	} else {
		old = p.setTopology(t)
	}
	removed := 0
	for _, s := range old.servers() {
		if !slices.Contains(t.servers(), s) {
			removed++
		}
	}
	n := len(t.servers())
	p.log.Info("config reloaded", "servers", n, "added", n-(len(old.servers())-removed),
		"removed", removed, "distribution", pc.Distribution, "hash", pc.Hash)
	// Sessions that loaded the old topology may still have requests on
	// the removed servers: give them the request timeout, twice, first. A
	// pool closing meanwhile retires them at once; one already closed
	// retires them here.
	grace := 2*p.cfg.Timeout + time.Second
	if !p.spawn(func() {
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-p.stop:
		}
		old.retire(t)
	}) {
		old.retire(t)
	}
}

// restartKeys lists the keys whose change a reload cannot apply.
func restartKeys(cur, next *config.Pool) []string {
	var keys []string
	add := func(key string, changed bool) {
		if changed {
			keys = append(keys, key)
		}
	}
	add("listen", cur.Listen != next.Listen || cur.ListenPerm != next.ListenPerm)
	add("mode", cur.Mode != next.Mode)
	add("timeout", cur.Timeout != next.Timeout)
	add("backlog", cur.Backlog != next.Backlog)
	add("preconnect", cur.Preconnect != next.Preconnect)
	add("redis_auth", cur.RedisAuth != next.RedisAuth)
	add("redis_db", cur.RedisDB != next.RedisDB)
	add("server_connections", cur.ServerConnections != next.ServerConnections)
	add("client_connections", cur.ClientConnections != next.ClientConnections)
	add("auto_eject_hosts", cur.AutoEjectHosts != next.AutoEjectHosts)
	add("server_retry_timeout", cur.ServerRetryTimeout != next.ServerRetryTimeout)
	add("server_failure_limit", cur.ServerFailureLimit != next.ServerFailureLimit)
	add("tcpkeepalive", cur.TCPKeepalive != next.TCPKeepalive)
	add("cluster_refresh_interval", cur.ClusterRefreshInterval != next.ClusterRefreshInterval)
	add("read_from_replicas", cur.ReadFromReplicas != next.ReadFromReplicas)
	add("max_redirects", cur.MaxRedirects != next.MaxRedirects)
	add("proto_max_bulk_len", cur.ProtoMaxBulkLen != next.ProtoMaxBulkLen)
	add("client_query_buffer_limit", cur.ClientQueryBufferLimit != next.ClientQueryBufferLimit)
	add("proto_inline_max_size", cur.ProtoInlineMaxSize != next.ProtoInlineMaxSize)
	add("client_idle_timeout", cur.ClientIdleTimeout != next.ClientIdleTimeout)
	add("shutdown_timeout", cur.ShutdownTimeout != next.ShutdownTimeout)
	// Certificate files are read again on every reload; their names and
	// the TLS switches need a restart.
	add("tls_cert_file", cur.TLSCertFile != next.TLSCertFile || cur.TLSKeyFile != next.TLSKeyFile)
	add("tls_ca_cert_file", cur.TLSCACertFile != next.TLSCACertFile || cur.TLSAuthClients != next.TLSAuthClients)
	add("redis_tls", cur.RedisTLS != next.RedisTLS || cur.RedisTLSCACertFile != next.RedisTLSCACertFile ||
		cur.RedisTLSCertFile != next.RedisTLSCertFile || cur.RedisTLSKeyFile != next.RedisTLSKeyFile ||
		cur.RedisTLSServerName != next.RedisTLSServerName)
	add("client_output_buffer_limit", cur.OutputLimitNormal != next.OutputLimitNormal || cur.OutputLimitPubsub != next.OutputLimitPubsub)
	add("client_write_timeout", cur.ClientWriteTimeout != next.ClientWriteTimeout)
	add("pinned_connections", cur.PinnedConnections != next.PinnedConnections)
	add("redis_username", cur.RedisUsername != next.RedisUsername)
	add("requirepass/users/deny_commands/allow_commands", !cur.Access.SameClientPolicy(&next.Access))
	// A Sentinel ring's sentinels, their credentials and its master names
	// change by a reload (a new watcher); turning Sentinel on or off needs
	// a restart.
	add("sentinels", cur.SentinelManaged() != next.SentinelManaged())
	add("sentinel_tls", cur.SentinelTLS != next.SentinelTLS)
	add("replica_max_lag", cur.ReplicaMaxLag != next.ReplicaMaxLag)
	add("health_check_interval", cur.HealthCheckInterval != next.HealthCheckInterval)
	if cur.Mode == config.ModeCluster {
		add("servers", !slices.EqualFunc(cur.Servers, next.Servers, func(a, b config.Server) bool {
			return a.Addr == b.Addr
		}))
	}
	return keys
}
