package testenv

import (
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

const (
	// clusterSlots is the number of hash slots in a Redis Cluster.
	clusterSlots = 16384
	// clusterReadyTimeout bounds the wait for a cluster to converge.
	clusterReadyTimeout = 30 * time.Second
)

// Cluster is a Redis Cluster of redis-server processes started by
// StartCluster. Nodes and Addrs list the nodes in start order (AddNode
// appends); roles can change through failover, so ask a node for its role
// rather than relying on its index.
type Cluster struct {
	// Nodes are the cluster's servers.
	Nodes []*Redis
	// Addrs are the nodes' addresses, Addrs[i] == Nodes[i].Addr.
	Addrs []string

	bin   string // redis-server
	cli   string // redis-cli
	extra []string
}

// StartCluster starts masters*(1+replicasPerMaster) cluster-enabled
// redis-server nodes (cluster-node-timeout 2000 ms unless extraArgs override
// it; repl-ping-replica-period 1 so replicas show up in CLUSTER SLOTS
// quickly), joins them into one cluster covering all 16384 slots with
// replicasPerMaster replicas per master, and waits until WaitReady holds
// (every node cluster_state:ok, membership and roles agreed, replica links
// up, every replica listed in every node's CLUSTER SLOTS). With three or
// more masters the cluster is built by redis-cli --cluster create; with
// fewer (which redis-cli refuses) by CLUSTER ADDSLOTSRANGE, MEET and
// REPLICATE. All nodes are killed in t.Cleanup. A 3+3 cluster takes about
// 3-5 s to become ready.
func StartCluster(t testing.TB, masters, replicasPerMaster int, extraArgs ...string) *Cluster {
	t.Helper()
	if masters < 1 || replicasPerMaster < 0 {
		t.Fatalf("testenv: StartCluster(%d masters, %d replicas per master): need masters >= 1 and replicas >= 0",
			masters, replicasPerMaster)
	}
	c := &Cluster{
		bin:   RequireBinary(t, "redis-server"),
		cli:   RequireBinary(t, "redis-cli"),
		extra: extraArgs,
	}
	for range masters * (1 + replicasPerMaster) {
		c.startNode(t)
	}
	if masters >= 3 {
		args := append([]string{"--cluster", "create"}, c.Addrs...)
		args = append(args, "--cluster-replicas", strconv.Itoa(replicasPerMaster), "--cluster-yes")
		c.redisCLI(t, args...)
	} else {
		c.joinManually(t, masters, replicasPerMaster)
	}
	c.WaitReady(t)
	return c
}

// startNode starts one cluster-enabled node and appends it to the cluster.
func (c *Cluster) startNode(t testing.TB) *Redis {
	t.Helper()
	args := append([]string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "2000",
		// Redis 7 hides a replica from CLUSTER SLOTS until its replication
		// offset is non-zero; the master's first PING to it makes it so.
		"--repl-ping-replica-period", "1",
	}, c.extra...)
	r := startRedisServer(t, c.bin, true, args)
	c.Nodes = append(c.Nodes, r)
	c.Addrs = append(c.Addrs, r.Addr)
	return r
}

// joinManually builds the cluster without redis-cli: the first masters
// nodes split the slots evenly, the rest replicate them round-robin.
func (c *Cluster) joinManually(t testing.TB, masters, replicasPerMaster int) {
	t.Helper()
	for i := range masters {
		lo, hi := i*clusterSlots/masters, (i+1)*clusterSlots/masters-1
		c.mustOK(t, c.Addrs[i], "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi))
	}
	for _, n := range c.Nodes[1:] {
		c.mustOK(t, c.Addrs[0], "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.Port))
	}
	if replicasPerMaster == 0 {
		return
	}
	ids := make([]string, masters)
	for i := range masters {
		ids[i] = c.nodeID(t, c.Addrs[i])
	}
	for j, n := range c.Nodes[masters:] {
		master := ids[j%masters]
		// REPLICATE needs the master to be known to the replica first.
		WaitFor(t, clusterReadyTimeout, func() bool {
			nodes, err := commandString(n.Addr, "CLUSTER", "NODES")
			return err == nil && strings.Contains(nodes, master)
		}, "%s to learn master %s", n.Addr, master)
		c.mustOK(t, n.Addr, "CLUSTER", "REPLICATE", master)
	}
}

// AddNode starts a new cluster-enabled node and joins it with redis-cli
// --cluster add-node: as an empty master when asReplicaOf is "", otherwise
// as a replica of the master at address asReplicaOf. It waits until the
// cluster has converged again and returns the node, which is also appended
// to Nodes and Addrs; it is killed in the cleanup of this t.
func (c *Cluster) AddNode(t testing.TB, asReplicaOf string) *Redis {
	t.Helper()
	var existing string
	for _, n := range c.Nodes {
		if n.Running() {
			existing = n.Addr
			break
		}
	}
	if existing == "" {
		t.Fatalf("testenv: AddNode: no running node in the cluster")
	}
	args := []string{"--cluster", "add-node"}
	node := c.startNode(t)
	args = append(args, node.Addr, existing)
	if asReplicaOf != "" {
		args = append(args, "--cluster-slave", "--cluster-master-id", c.nodeID(t, asReplicaOf))
	}
	c.redisCLI(t, args...)
	c.WaitReady(t)
	return node
}

// Client returns a go-redis cluster client seeded with all node addresses,
// closed in t.Cleanup.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                    append([]string(nil), c.Addrs...),
		Protocol:                 2,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// WaitReady waits (up to 30 s) until the running nodes have converged: each
// reports cluster_state:ok with all 16384 slots assigned and ok, each sees
// every other running node connected with the role that node reports
// itself, every running replica's link to its master is up, and CLUSTER
// SLOTS on each lists every running replica. Killed
// nodes are ignored, so this also waits out a failover.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		err := c.converged()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: cluster %v not converged after %v: %v", c.Addrs, clusterReadyTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Masters returns the running nodes whose role is master.
func (c *Cluster) Masters(t testing.TB) []*Redis { t.Helper(); return c.byRole(t, "master") }

// Replicas returns the running nodes whose role is slave.
func (c *Cluster) Replicas(t testing.TB) []*Redis { t.Helper(); return c.byRole(t, "slave") }

func (c *Cluster) byRole(t testing.TB, role string) []*Redis {
	t.Helper()
	var out []*Redis
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info, err := commandString(n.Addr, "INFO", "replication")
		if err != nil {
			t.Fatalf("testenv: INFO replication on %s: %v", n.Addr, err)
		}
		if infoField(info, "role") == role {
			out = append(out, n)
		}
	}
	return out
}

// self is what a cluster node reports about itself.
type self struct {
	id   string
	role string // "master" or "slave"
}

// converged returns nil when the running nodes agree, else the first
// problem found.
func (c *Cluster) converged() error {
	selves := map[string]self{} // addr -> what the node says about itself
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		id, err := commandString(n.Addr, "CLUSTER", "MYID")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER MYID: %w", n.Addr, err)
		}
		info, err := commandString(n.Addr, "INFO", "replication")
		if err != nil {
			return fmt.Errorf("%s: INFO replication: %w", n.Addr, err)
		}
		role := infoField(info, "role")
		if role == "slave" && infoField(info, "master_link_status") != "up" {
			return fmt.Errorf("%s: replica link to master is %q", n.Addr, infoField(info, "master_link_status"))
		}
		ci, err := commandString(n.Addr, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER INFO: %w", n.Addr, err)
		}
		want := strconv.Itoa(clusterSlots)
		if infoField(ci, "cluster_state") != "ok" || infoField(ci, "cluster_slots_assigned") != want ||
			infoField(ci, "cluster_slots_ok") != want {
			return fmt.Errorf("%s: cluster_state:%s slots_assigned:%s slots_ok:%s", n.Addr,
				infoField(ci, "cluster_state"), infoField(ci, "cluster_slots_assigned"), infoField(ci, "cluster_slots_ok"))
		}
		selves[n.Addr] = self{id: id, role: role}
	}
	if len(selves) == 0 {
		return errors.New("no running node")
	}
	for addr := range selves {
		nodes, err := commandString(addr, "CLUSTER", "NODES")
		if err != nil {
			return fmt.Errorf("%s: CLUSTER NODES: %w", addr, err)
		}
		view := map[string]string{} // id -> flags
		for line := range strings.SplitSeq(strings.TrimSpace(nodes), "\n") {
			// <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots...>
			f := strings.Fields(line)
			if len(f) < 8 {
				continue
			}
			if f[7] != "connected" && !strings.Contains(f[2], "myself") {
				f[2] += ",disconnected"
			}
			view[f[0]] = f[2]
		}
		for other, s := range selves {
			flags, ok := view[s.id]
			switch {
			case !ok:
				return fmt.Errorf("%s does not know %s yet", addr, other)
			case strings.Contains(flags, "fail") || strings.Contains(flags, "handshake") ||
				strings.Contains(flags, "noaddr") || strings.Contains(flags, "disconnected"):
				return fmt.Errorf("%s sees %s as %s", addr, other, flags)
			case !strings.Contains(flags, s.role):
				return fmt.Errorf("%s sees %s as %s, but it is a %s", addr, other, flags, s.role)
			}
		}
		if err := slotsListReplicas(addr, selves); err != nil {
			return err
		}
	}
	return nil
}

// slotsListReplicas checks that CLUSTER SLOTS on addr covers every slot and
// lists every running replica, so slot-map consumers see the full topology.
func slotsListReplicas(addr string, selves map[string]self) error {
	v, err := Do(addr, "CLUSTER", "SLOTS")
	if err != nil {
		return fmt.Errorf("%s: CLUSTER SLOTS: %w", addr, err)
	}
	ranges, _ := v.([]any)
	covered := 0
	listed := map[string]bool{}
	for _, r := range ranges {
		e, _ := r.([]any) // start, end, master, replicas...
		if len(e) < 3 {
			return fmt.Errorf("%s: malformed CLUSTER SLOTS entry %v", addr, r)
		}
		lo, _ := e[0].(int64)
		hi, _ := e[1].(int64)
		covered += int(hi-lo) + 1
		for _, n := range e[3:] {
			if nf, _ := n.([]any); len(nf) >= 2 {
				host, _ := nf[0].(string)
				port, _ := nf[1].(int64)
				listed[hostPort(int(port))] = host == "127.0.0.1"
			}
		}
	}
	if covered != clusterSlots {
		return fmt.Errorf("%s: CLUSTER SLOTS covers %d slots", addr, covered)
	}
	for other, s := range selves {
		if s.role == "slave" && !listed[other] {
			return fmt.Errorf("%s: CLUSTER SLOTS does not list replica %s yet", addr, other)
		}
	}
	return nil
}

// nodeID returns the cluster node id of the node at addr.
func (c *Cluster) nodeID(t testing.TB, addr string) string {
	t.Helper()
	id, err := commandString(addr, "CLUSTER", "MYID")
	if err != nil {
		t.Fatalf("testenv: CLUSTER MYID on %s: %v", addr, err)
	}
	return id
}

// mustOK sends a command that must answer OK.
func (c *Cluster) mustOK(t testing.TB, addr string, args ...string) {
	t.Helper()
	if s, err := commandString(addr, args...); err != nil || s != "OK" {
		t.Fatalf("testenv: %s on %s: %q %v", strings.Join(args, " "), addr, s, err)
	}
}

// redisCLI runs redis-cli with args and fails the test with its output on
// error.
func (c *Cluster) redisCLI(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(c.cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}
