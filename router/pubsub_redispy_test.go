package router

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestPubsubRedisPy runs redis-py (Debian python3-redis) subscribers
// through the proxy on 3 shards: 1,000 channels, messages published through
// the proxy and directly on the owning shard, each delivered exactly once
// and in publish order per channel, and a PSUBSCRIBE receiving every
// matching message once (testdata/pubsub/redispy_pubsub.py). The go-redis
// twin is TestPubsubManyChannelsExactlyOnce.
func TestPubsubRedisPy(t *testing.T) {
	if _, err := exec.Command("/usr/bin/python3", "-c", "import redis").Output(); err != nil {
		requireRuntime(t, "redis-py for /usr/bin/python3 (apt-get install -y python3-redis)")
	}
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 2 * time.Second })
	owners := map[string]string{}
	perShard := map[string]int{}
	for i := range 1000 {
		ch := fmt.Sprintf("py:%d", i)
		owners[ch] = ownerAddr(p, ch)
		perShard[owners[ch]]++
	}
	if len(perShard) != 3 {
		t.Fatalf("channels on %d shards, want 3: %v", len(perShard), perShard)
	}
	b, err := json.Marshal(owners)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "owners.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "pubsub", "redispy_pubsub.py"))
	if err != nil {
		t.Fatal(err)
	}
	got := runClient(t, "/usr/bin/python3", script, "127.0.0.1", strconv.Itoa(p.Port()), path)
	compareLines(t, got, []string{
		"channels 1000 messages 4000 once in order",
		"pattern py:1* matching 111 messages 444 once in order",
		"unsubscribed 1001",
	})
	// The proxy let go of every subscription on the shards.
	for _, r := range rs {
		testenv.WaitFor(t, 3*time.Second, func() bool {
			chs, err := r.Client(t).PubSubChannels(ctx(), "*").Result()
			return err == nil && len(chs) == 0
		}, "%s still holds channels after every client left", r.Addr)
	}
}
