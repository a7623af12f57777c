package backend

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/internal/testenv"
	"github.com/shardproxy/shardproxy/resp"
)

func TestDecideMaster(t *testing.T) {
	tests := []struct {
		name     string
		reps     []report
		n        int
		want     string
		epoch    int64
		majority bool
	}{
		{"all agree", []report{{addr: "a", epoch: 1}, {addr: "a", epoch: 1}, {addr: "a", epoch: 1}}, 3, "a", 1, true},
		{"one stale", []report{{addr: "b", epoch: 2}, {addr: "a", epoch: 1}, {addr: "b", epoch: 2}}, 3, "b", 2, true},
		{"one liar with a higher epoch", []report{{addr: "x", epoch: 9}, {addr: "a", epoch: 1}, {addr: "a", epoch: 1}}, 3, "a", 1, true},
		{"one down, two agree", []report{{addr: "a", epoch: 1}, {addr: "a", epoch: 3}}, 3, "a", 3, true},
		{"one down, two disagree", []report{{addr: "a", epoch: 1}, {addr: "b", epoch: 2}}, 3, "", 0, false},
		{"two down", []report{{addr: "a", epoch: 1}}, 3, "", 0, false},
		{"half is not a majority", []report{{addr: "a"}, {addr: "a"}, {addr: "b"}, {addr: "b"}}, 4, "", 0, false},
		{"single sentinel", []report{{addr: "a", epoch: 0}}, 1, "a", 0, true},
		{"unknown master", []report{{}, {}, {}}, 3, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decideMaster(tt.reps, tt.n)
			if (err == nil) != tt.majority {
				t.Fatalf("decideMaster: err %v, want majority %v", err, tt.majority)
			}
			if v.Addr != tt.want || (tt.majority && v.Epoch != tt.epoch) {
				t.Fatalf("decideMaster = %+v, want addr %q epoch %d", v, tt.want, tt.epoch)
			}
		})
	}
}

func TestParseReplicaLag(t *testing.T) {
	info := "$200\r\n# Replication\r\nrole:master\r\nconnected_slaves:3\r\n" +
		"slave0:ip=127.0.0.1,port=7001,state=online,offset=10,lag=0\r\n" +
		"slave1:ip=127.0.0.1,port=7002,state=online,offset=10,lag=5\r\n" +
		"slave2:ip=127.0.0.1,port=7003,state=wait_bgsave,offset=0,lag=0\r\n" +
		"master_repl_offset:10\r\n\r\n"
	got := parseReplicaLag([]byte(info))
	want := map[string]int64{"127.0.0.1:7001": 0, "127.0.0.1:7002": 5}
	if len(got) != len(want) || got["127.0.0.1:7001"] != 0 || got["127.0.0.1:7002"] != 5 {
		t.Fatalf("parseReplicaLag = %v, want %v", got, want)
	}
}

// TestSentinelShardsFollowPlannedFailover runs a real Sentinel group and
// a fourth, isolated sentinel that monitors an unrelated server under the
// same name: it always reports a wrong master. With it in the electorate
// of three (it plus two real sentinels), the shard must start on the real
// master, follow SENTINEL FAILOVER, and ignore the liar throughout.
func TestSentinelShardsFollowPlannedFailover(t *testing.T) {
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{Masters: 1, ReplicasPerMaster: 1, Sentinels: 3})
	decoy := testenv.StartRedis(t)
	liar := testenv.StartSentinel(t, g.Names[0], decoy.Addr, 1)
	ss, err := NewSentinelShards(ShardsOptions{
		Sentinel: SentinelOptions{
			Addrs:   []string{liar.Addr, g.SentinelAddrs[0], g.SentinelAddrs[1]},
			Masters: g.Names,
		},
		Server:           Options{Timeout: time.Second},
		ReadFromReplicas: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	m := ss.Masters()[0]
	if m.Addr() != g.Masters[0].Addr {
		t.Fatalf("master address %q, want %q (the liar says %q)", m.Addr(), g.Masters[0].Addr, decoy.Addr)
	}
	do := func(srv *Server, args ...string) (string, *Error) {
		c, e := srv.Pick(0)
		if e != nil {
			return "", e
		}
		r := NewRequest()
		r.Wire = resp.AppendCommand(nil, args...)
		c.Enqueue(r)
		r.Wait()
		return string(r.Reply), r.Err
	}
	if reply, e := do(m, "SET", "k", "v1"); e != nil || reply != "+OK\r\n" {
		t.Fatalf("SET before failover: %q %v", reply, e)
	}
	testenv.WaitFor(t, 5*time.Second, func() bool { return ss.Replica(0, 0) != m }, "the replica to be listed")
	if got := ss.Replica(0, 0).Addr(); got != g.Replicas[0][0].Addr {
		t.Fatalf("replica %s, want %s", got, g.Replicas[0][0].Addr)
	}
	t0 := time.Now()
	// A replica is never used as a master: a server pointed at one with
	// RequireMaster refuses it (so is the old master once demoted).
	rep := NewServer(Options{Addr: g.Replicas[0][0].Addr, RequireMaster: true, Timeout: time.Second})
	if _, e := do(rep, "PING"); e == nil || !strings.Contains(e.Error(), "not a master") {
		t.Fatalf("PING through a RequireMaster server on a replica: %v, want a not-a-master error", e)
	}
	rep.Close()
	if _, err := testenv.Do(g.SentinelAddrs[2], "SENTINEL", "FAILOVER", g.Names[0]); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	testenv.WaitFor(t, 15*time.Second, func() bool { return m.Addr() == g.Replicas[0][0].Addr },
		"the shard to follow the failover to %s (now %s)", g.Replicas[0][0].Addr, m.Addr())
	t.Logf("followed after %v", time.Since(t0))
	testenv.WaitFor(t, 5*time.Second, func() bool {
		reply, e := do(m, "SET", "k", "v2")
		return e == nil && reply == "+OK\r\n"
	}, "a write to succeed on the new master")
	if reply, e := do(m, "GET", "k"); e != nil || reply != "$2\r\nv2\r\n" {
		t.Fatalf("GET after failover: %q %v", reply, e)
	}
	if got, _ := testenv.Do(decoy.Addr, "GET", "k"); got != nil {
		t.Fatalf("the decoy got a write: %v", got)
	}
}

// TestSentinelAuth: sentinels with requirepass answer only with the right
// password; a wrong one leaves the master unresolved (and says so in View)
// rather than failing the watcher.
func TestSentinelAuth(t *testing.T) {
	g := testenv.StartSentinelGroup(t, testenv.SentinelGroupOptions{
		Masters: 1, Sentinels: 1, SentinelPassword: "s3cret",
	})
	before := runtime.NumGoroutine()
	for _, tc := range []struct {
		password string
		want     string
	}{
		{"s3cret", g.Masters[0].Addr},
		{"wrong", ""},
		{"", ""},
	} {
		s, err := NewSentinel(SentinelOptions{Addrs: g.SentinelAddrs, Password: tc.password, Masters: g.Names})
		if err != nil {
			t.Fatal(err)
		}
		got := s.View(g.Names[0]).Addr
		s.Close()
		if got != tc.want {
			t.Errorf("password %q: master %q, want %q", tc.password, got, tc.want)
		}
	}
	// Close stops every subscription and the poll loop.
	testenv.WaitFor(t, 5*time.Second, func() bool { return runtime.NumGoroutine() <= before },
		"goroutines to end after Close (%d, before %d)", runtime.NumGoroutine(), before)
	if _, err := NewSentinel(SentinelOptions{Masters: g.Names}); err != ErrNoSentinels {
		t.Errorf("no sentinels: %v, want ErrNoSentinels", err)
	}
}

func TestParsePromotion(t *testing.T) {
	for _, tc := range []struct {
		in, name, replica string
		ok                bool
	}{
		{"slave 127.0.0.1:6380 127.0.0.1 6380 @ shard1 127.0.0.1 6379", "shard1", "127.0.0.1:6380", true},
		{"master shard1 127.0.0.1 6379", "", "", false},
		{"slave 127.0.0.1:6380 127.0.0.1 6380 # shard1 127.0.0.1 6379", "", "", false},
		{"", "", "", false},
	} {
		name, replica, ok := parsePromotion(tc.in)
		if name != tc.name || replica != tc.replica || ok != tc.ok {
			t.Errorf("parsePromotion(%q) = %q %q %v, want %q %q %v", tc.in, name, replica, ok, tc.name, tc.replica, tc.ok)
		}
	}
}
