package backend

import (
	"reflect"
	"testing"

	"github.com/shardproxy/shardproxy/resp"
)

// Replies recorded from redis-server 7.0.15 (3 masters, 1 replica each,
// trimmed to two shards), as resp.Decode returns them.
func TestParseShards(t *testing.T) {
	raw := "*2\r\n" +
		"*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n*2\r\n" +
		"*14\r\n$2\r\nid\r\n$3\r\naaa\r\n$4\r\nport\r\n:7001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:10\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
		"*14\r\n$2\r\nid\r\n$3\r\nbbb\r\n$4\r\nport\r\n:7004\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:10\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
		"*4\r\n$5\r\nslots\r\n*4\r\n:5461\r\n:10922\r\n:16000\r\n:16001\r\n$5\r\nnodes\r\n*2\r\n" +
		"*14\r\n$2\r\nid\r\n$3\r\nccc\r\n$4\r\nport\r\n:7002\r\n$2\r\nip\r\n$0\r\n\r\n$8\r\nendpoint\r\n$0\r\n\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\nreplication-offset\r\n:10\r\n$6\r\nhealth\r\n$6\r\nonline\r\n" +
		"*14\r\n$2\r\nid\r\n$3\r\nddd\r\n$4\r\nport\r\n:7005\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\nreplication-offset\r\n:0\r\n$6\r\nhealth\r\n$4\r\nfail\r\n"
	v, err := resp.Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseShards(v, "10.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	want := []shard{
		{ranges: [][2]int{{0, 5460}}, master: "127.0.0.1:7001", replicas: []string{"127.0.0.1:7004"}},
		// An empty ip means the host we asked; a failed replica is left out.
		{ranges: [][2]int{{5461, 10922}, {16000, 16001}}, master: "10.0.0.9:7002"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseShards = %+v, want %+v", got, want)
	}
}

func TestParseSlots(t *testing.T) {
	raw := "*3\r\n" +
		"*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$3\r\naaa\r\n*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$3\r\nbbb\r\n" +
		"*3\r\n:5461\r\n:10922\r\n*3\r\n$0\r\n\r\n:7002\r\n$3\r\nccc\r\n" +
		"*3\r\n:16000\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$3\r\naaa\r\n"
	v, err := resp.Decode([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSlots(v, "10.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	want := []shard{
		{ranges: [][2]int{{0, 5460}, {16000, 16383}}, master: "127.0.0.1:7001", replicas: []string{"127.0.0.1:7004"}},
		{ranges: [][2]int{{5461, 10922}}, master: "10.0.0.9:7002", replicas: []string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseSlots = %+v, want %+v", got, want)
	}
}
