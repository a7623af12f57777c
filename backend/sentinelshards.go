package backend

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// ShardsOptions configure SentinelShards. Zero values take the defaults
// documented on each field.
type ShardsOptions struct {
	// Sentinel configures the watcher; its Masters are the shard names, in
	// ring order, and its Changed is set by NewSentinelShards.
	Sentinel SentinelOptions
	// Server is the template of every master's and replica's Server; Name
	// and Addr are set per server, and masters get RequireMaster.
	Server Options
	// ReadFromReplicas creates Servers for the replicas Sentinel reports,
	// so that Replica can route read-only commands to them.
	ReadFromReplicas bool
	// ReplicaMaxLag is the largest replication lag (the master's INFO
	// replication "lag", whole seconds) of a replica that Replica still
	// picks; 0 means no lag check.
	ReplicaMaxLag time.Duration
	// LagInterval is the period of the INFO replication poll on each
	// master; default 1s.
	LagInterval time.Duration
	// NewObserver, when set, returns the Observer of a new Server: the
	// master of shard name (replica "") or one of its replicas.
	NewObserver func(name, replica string) Observer
	// Dropped, when set, is called after a replica's Server was closed.
	Dropped func(name, replica string)
	// Switched, when set, is called after a shard's master moved.
	Switched func(name, from, to string)
	// Logger receives failovers; default slog.Default().
	Logger *slog.Logger
}

// SentinelShards is a set of Sentinel-managed shards: one master Server per
// master name, whose address follows Sentinel's confirmed view in place
// (Server.SetAddr), plus, with ReadFromReplicas, one Server per replica.
// The master Servers never change, so a hash ring over the shard names
// moves no key on a failover. It is safe for concurrent use.
type SentinelShards struct {
	opts     ShardsOptions
	log      *slog.Logger
	sentinel *Sentinel
	idx      map[string]int // shard name -> index; fixed

	mu       sync.Mutex
	masters  []*Server          // fixed once built; guarded by mu while building
	replicas map[string]*Server // guarded by mu: replica address -> server
	retiring retiring           // guarded by mu: replicas gone, not closed yet

	shards []shardState // by index

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once
}

// shardState is what Replica reads about one shard, lock-free.
type shardState struct {
	replicas atomic.Pointer[[]*Server] // Sentinel's healthy replicas
	lag      atomic.Pointer[lagView]   // from the master's INFO replication
}

// lagView is one INFO replication sample of a master: replica address ->
// lag in seconds, for the replicas whose state is online.
type lagView struct {
	at  time.Time
	lag map[string]int64
}

// NewSentinelShards asks the sentinels for every master, connects to the
// masters (and replicas) they agree on, and follows them until Close.
func NewSentinelShards(opts ShardsOptions) (*SentinelShards, error) {
	if opts.LagInterval <= 0 {
		opts.LagInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ss := &SentinelShards{
		opts:     opts,
		log:      opts.Logger,
		idx:      make(map[string]int, len(opts.Sentinel.Masters)),
		replicas: map[string]*Server{},
		retiring: retiring{},
		shards:   make([]shardState, len(opts.Sentinel.Masters)),
		ctx:      ctx,
		stop:     cancel,
	}
	for i, name := range opts.Sentinel.Masters {
		ss.idx[name] = i
		ss.shards[i].replicas.Store(&[]*Server{})
	}
	so := opts.Sentinel
	so.Logger = opts.Logger
	so.Changed = ss.changed
	so.Promoting = ss.promoting
	sent, err := NewSentinel(so)
	if err != nil {
		cancel()
		return nil, err
	}
	ss.sentinel = sent
	ss.mu.Lock()
	ss.masters = make([]*Server, len(so.Masters))
	var wg sync.WaitGroup
	for i, name := range so.Masters {
		v := sent.View(name)
		if v.Addr == "" {
			ss.log.Error("sentinels do not agree on a master yet; its keys fail until they do", "master", name)
		}
		o := opts.Server
		o.Name, o.Addr = name, v.Addr
		o.RequireMaster = true
		o.NotMaster = sent.Refresh
		if opts.NewObserver != nil {
			o.Observer = opts.NewObserver(name, "")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss.masters[i] = NewServer(o)
		}()
	}
	wg.Wait()
	ss.mu.Unlock()
	for _, name := range so.Masters {
		ss.changed(name, sent.View(name)) // replicas
	}
	if opts.ReadFromReplicas && opts.ReplicaMaxLag > 0 {
		// One loop per master: a master that hangs holds its own sample
		// for the timeout, and the others must not age out meanwhile.
		for i := range ss.masters {
			ss.wg.Add(1)
			go ss.lagLoop(i)
		}
	}
	return ss, nil
}

// Masters returns the master Server of every shard, in the order of the
// configured names. The slice and its Servers never change.
func (ss *SentinelShards) Masters() []*Server { return ss.masters }

// Sentinel returns the watcher.
func (ss *SentinelShards) Sentinel() *Sentinel { return ss.sentinel }

// Replica returns a replica of shard i for a read-only command, chosen by
// hint among those Sentinel sees up and linked, that are reachable and,
// when ReplicaMaxLag is set, lag no more than it; the master when there is
// none.
func (ss *SentinelShards) Replica(i, hint int) *Server {
	return pickReplica(ss.masters[i], *ss.shards[i].replicas.Load(), ss.shards[i].lag.Load(),
		hint, ss.opts.ReplicaMaxLag, ss.opts.LagInterval)
}

// Close stops the watcher and every server. It is idempotent.
func (ss *SentinelShards) Close() {
	ss.once.Do(func() {
		ss.stop()
		ss.sentinel.Close()
		ss.wg.Wait()
		ss.mu.Lock()
		defer ss.mu.Unlock()
		for _, m := range ss.masters {
			if m != nil {
				m.Close()
			}
		}
		for _, r := range ss.replicas {
			r.Close()
		}
	})
}

// changed applies a confirmed view: the master's address, then the
// replicas.
func (ss *SentinelShards) changed(name string, v MasterView) {
	i, ok := ss.idx[name]
	if !ok {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.masters == nil || ss.masters[i] == nil {
		return // NewSentinelShards reads the view once the masters exist
	}
	m := ss.masters[i]
	if from := m.Addr(); v.Addr != "" && m.SetAddr(v.Addr) {
		ss.log.Warn("shard master switched", "master", name, "from", from, "to", v.Addr, "epoch", v.Epoch)
		if ss.opts.Switched != nil {
			ss.opts.Switched(name, from, v.Addr)
		}
	}
	if !ss.opts.ReadFromReplicas {
		return
	}
	var rs []*Server
	for _, addr := range v.Replicas {
		if addr == v.Addr {
			continue
		}
		r := ss.replicas[addr]
		if r == nil {
			if r = ss.retiring.revive(addr); r != nil {
				ss.replicas[addr] = r
			}
		}
		if r == nil {
			o := ss.opts.Server
			o.Name, o.Addr = name+"/"+addr, addr
			if ss.opts.NewObserver != nil {
				o.Observer = ss.opts.NewObserver(name, addr)
			}
			r = NewServer(o)
			ss.replicas[addr] = r
		}
		rs = append(rs, r)
	}
	old := *ss.shards[i].replicas.Swap(&rs)
	for _, r := range old {
		if !containsServer(rs, r) && !ss.usedLocked(r) {
			ss.retireReplica(name, r)
		}
	}
}

// fenceTimeout bounds how long writes to a shard stay fenced after a
// sentinel announced a promotion that the majority has not confirmed: a
// failover aborted (or a lying sentinel) costs write errors for at most
// this long.
const fenceTimeout = 3 * time.Second

// promoting fences the writes of shard name when a sentinel announces the
// promotion of one of its replicas (as the majority last confirmed them):
// from the promotion on, the old master acknowledges writes that the new
// master will not have. The fence ends with the switch (SetAddr) or after
// fenceTimeout.
func (ss *SentinelShards) promoting(name, replica string) {
	i, ok := ss.idx[name]
	if !ok {
		return
	}
	v := ss.sentinel.View(name)
	if replica == v.Addr || !slices.Contains(v.Replicas, replica) {
		return // not a replica of this shard: nothing a real failover does
	}
	ss.mu.Lock()
	m := ss.masters[i]
	ss.mu.Unlock()
	if m != nil && m.Fence(fenceTimeout) {
		ss.log.Warn("writes fenced: a sentinel is promoting a replica", "master", name, "replica", replica)
	}
}

// usedLocked reports whether any shard still lists r.
func (ss *SentinelShards) usedLocked(r *Server) bool {
	for i := range ss.shards {
		if containsServer(*ss.shards[i].replicas.Load(), r) {
			return true
		}
	}
	return false
}

// retireReplica forgets r now and closes it once requests already routed
// to it have had time to finish (twice the request timeout), unless
// Sentinel lists it again first.
func (ss *SentinelShards) retireReplica(name string, r *Server) {
	delete(ss.replicas, r.Addr())
	ss.retiring.retire(ss.ctx, &ss.wg, &ss.mu, r, 2*r.Timeout(), dropReplica(ss.opts.Dropped, name, r.Addr()))
}

func containsServer(list []*Server, s *Server) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// infoReplicationWire asks a master which replicas it has and their lag.
var infoReplicationWire = resp.AppendCommand(nil, "INFO", "replication")

// lagLoop samples master i's INFO replication each LagInterval.
func (ss *SentinelShards) lagLoop(i int) {
	defer ss.wg.Done()
	t := time.NewTicker(ss.opts.LagInterval)
	defer t.Stop()
	req := NewRequest()
	m := ss.masters[i]
	for {
		select {
		case <-ss.ctx.Done():
			return
		case <-t.C:
		}
		if len(*ss.shards[i].replicas.Load()) == 0 {
			continue
		}
		lag, ok := sampleLag(m, req)
		if !ok {
			continue // the sample ages out: replicas stop being read
		}
		ss.shards[i].lag.Store(&lagView{at: time.Now(), lag: lag})
	}
}

// sampleLag asks master m for its INFO replication on req and returns the
// lag of the replicas it lists online; false when m gives no such reply.
func sampleLag(m *Server, req *Request) (map[string]int64, bool) {
	c, err := m.Pick(0)
	if err != nil {
		return nil, false
	}
	req.Reset()
	req.Wire = infoReplicationWire
	c.Enqueue(req)
	req.Wait()
	if req.Err != nil || len(req.Reply) == 0 || req.Reply[0] != '$' {
		return nil, false
	}
	return parseReplicaLag(req.Reply), true
}

// parseReplicaLag reads the slaveN lines of a raw INFO replication bulk
// reply: "slave0:ip=127.0.0.1,port=6380,state=online,offset=1,lag=0".
// Replicas whose state is not online are left out.
func parseReplicaLag(raw []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if !strings.HasPrefix(line, "slave") {
			continue
		}
		_, fields, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kv := map[string]string{}
		for f := range strings.SplitSeq(fields, ",") {
			if k, v, ok := strings.Cut(f, "="); ok {
				kv[k] = v
			}
		}
		lag, err := strconv.ParseInt(kv["lag"], 10, 64)
		if err != nil || kv["state"] != "online" || kv["ip"] == "" || kv["port"] == "" {
			continue
		}
		out[net.JoinHostPort(kv["ip"], kv["port"])] = lag
	}
	return out
}
