package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Sentinel is a redis-sentinel process started by StartSentinel. The
// embedded Redis gives its address and Kill, Restart, Pause and Resume.
type Sentinel struct {
	*Redis
	// MasterName is the name the sentinel monitors the master under.
	MasterName string
	// ConfigPath is the sentinel's config file; sentinel rewrites it as it
	// learns replicas, other sentinels and failovers.
	ConfigPath string
}

// StartSentinel starts redis-sentinel on a free 127.0.0.1 port monitoring
// the master at masterAddr ("host:port") as masterName with the given
// quorum, down-after-milliseconds 1000 and failover-timeout 5000. It
// returns once the sentinel answers PING; it is killed in t.Cleanup.
// Several sentinels monitoring the same master find each other through it.
func StartSentinel(t testing.TB, masterName, masterAddr string, quorum int) *Sentinel {
	t.Helper()
	bin := RequireBinary(t, "redis-sentinel")
	host, port, err := net.SplitHostPort(masterAddr)
	if err != nil {
		t.Fatalf("testenv: StartSentinel: master address %q: %v", masterAddr, err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sentinel.conf")
	var lastErr error
	for range startAttempts {
		p := FreePort(t)
		cfg := fmt.Sprintf(`port %d
bind 127.0.0.1
daemonize no
dir %s
sentinel monitor %s %s %s %d
sentinel down-after-milliseconds %[3]s 1000
sentinel failover-timeout %[3]s 5000
sentinel parallel-syncs %[3]s 1
`, p, dir, masterName, host, port, quorum)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatalf("testenv: write sentinel config: %v", err)
		}
		r := newRedis(t, "redis-sentinel", bin, p, dir, []string{cfgPath})
		lastErr = r.proc.start()
		if lastErr == nil {
			return &Sentinel{Redis: r, MasterName: masterName, ConfigPath: cfgPath}
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

// SentinelClient returns a go-redis Sentinel API client for this sentinel,
// closed in t.Cleanup.
func (s *Sentinel) SentinelClient(t testing.TB) *redis.SentinelClient {
	t.Helper()
	c := redis.NewSentinelClient(ClientOptions(s.Addr))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// MasterAddr asks the sentinel which address it currently considers the
// master (SENTINEL GET-MASTER-ADDR-BY-NAME); it changes after a failover.
func (s *Sentinel) MasterAddr() (string, error) {
	v, err := Do(s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("unexpected reply %v", v)
	}
	h, _ := a[0].(string)
	p, _ := a[1].(string)
	if _, err := strconv.Atoi(p); err != nil {
		return "", fmt.Errorf("unexpected port in reply %v", v)
	}
	return net.JoinHostPort(h, p), nil
}
