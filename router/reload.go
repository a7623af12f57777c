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
// hash, hash_tag and distribution. Sessions switch to the new placement at
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
		if pool.cluster == nil && pool.ringChanged(pc) {
			changes = append(changes, change{pool, pc})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Build every new topology before swapping any, so that a failure
	// leaves the proxy as it was.
	topos := make([]*ringTopo, len(changes))
	for i, c := range changes {
		t, err := c.pool.buildRing(c.pc, c.pool.fullRing())
		if err != nil {
			for j, built := range topos[:i] {
				changes[j].pool.dropUnused(built, changes[j].pool.fullRing())
			}
			return fmt.Errorf("pool %s: %w", c.pc.Name, err)
		}
		topos[i] = t
	}
	for i, c := range changes {
		c.pool.swapRing(c.pc, topos[i])
	}
	if len(changes) == 0 {
		p.log.Info("config reloaded: nothing changed")
	}
	return nil
}

// swapRing installs t and retires the servers of the old topology that t
// does not use.
func (p *Pool) swapRing(pc *config.Pool, t *ringTopo) {
	old := p.installRing(t)
	removed := 0
	for _, s := range old.servers {
		if !slices.Contains(t.servers, s) {
			removed++
		}
	}
	p.log.Info("config reloaded", "servers", len(t.servers), "added", len(t.servers)-(len(old.servers)-removed),
		"removed", removed, "distribution", pc.Distribution, "hash", pc.Hash)
	// Sessions that loaded the old topology may still have requests on
	// the removed servers: give them the request timeout, twice, first.
	go func() {
		time.Sleep(2*p.cfg.Timeout + time.Second)
		p.dropUnused(old, t)
	}()
}

// dropUnused closes the servers of old that keep is not using, and forgets
// their metrics.
func (p *Pool) dropUnused(old, keep *ringTopo) {
	for i, s := range old.servers {
		if slices.Contains(keep.servers, s) {
			continue
		}
		s.Close()
		p.metrics.RemoveBackend(p.cfg.Name, old.conf[i].Name)
	}
}

// ringChanged reports whether next places keys differently from the
// pool's current topology.
func (p *Pool) ringChanged(next *config.Pool) bool {
	t := p.fullRing()
	if t.hash != next.Hash || t.hashTag != next.HashTag || t.distribution != next.Distribution {
		return true
	}
	return !slices.EqualFunc(t.conf, next.Servers, func(a, b config.Server) bool {
		return a.Addr == b.Addr && a.Name == b.Name && a.Weight == b.Weight
	})
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
	add("sentinels", !slices.Equal(cur.Sentinels, next.Sentinels))
	add("sentinel_auth", cur.SentinelAuth != next.SentinelAuth)
	add("sentinel_username", cur.SentinelUsername != next.SentinelUsername)
	add("replica_max_lag", cur.ReplicaMaxLag != next.ReplicaMaxLag)
	add("health_check_interval", cur.HealthCheckInterval != next.HealthCheckInterval)
	add("client_output_buffer_limit", cur.OutputLimitNormal != next.OutputLimitNormal || cur.OutputLimitPubsub != next.OutputLimitPubsub)
	add("client_write_timeout", cur.ClientWriteTimeout != next.ClientWriteTimeout)
	add("pinned_connections", cur.PinnedConnections != next.PinnedConnections)
	if cur.Mode == config.ModeCluster || cur.SentinelManaged() {
		// A Sentinel ring's master Servers live as long as the pool.
		sentinel := cur.SentinelManaged()
		add("servers", !slices.EqualFunc(cur.Servers, next.Servers, func(a, b config.Server) bool {
			return a.Addr == b.Addr && (!sentinel || a.Name == b.Name && a.Weight == b.Weight)
		}))
	}
	return keys
}
