package backend

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// DiscoveryOptions configure ReplicaDiscovery. Zero values take the
// defaults documented on each field.
type DiscoveryOptions struct {
	// Server is the template of every replica's Server; Name and Addr are
	// set per replica.
	Server Options
	// ReplicaMaxLag is the largest replication lag (the master's INFO
	// replication "lag", whole seconds) of a replica that Replica still
	// picks; 0 means no lag check.
	ReplicaMaxLag time.Duration
	// Interval is the period of the INFO replication poll on each master;
	// default 1s.
	Interval time.Duration
	// NewObserver, when set, returns the Observer of the Server of a
	// replica (address) of master name.
	NewObserver func(name, replica string) Observer
	// Dropped, when set, is called after a replica's Server was closed.
	Dropped func(name, replica string)
	// Logger receives replicas found and lost; default slog.Default().
	Logger *slog.Logger
}

// ReplicaDiscovery finds the replicas of standalone masters (a ring pool
// without Sentinel) by asking each master INFO replication every
// Interval: the replicas it lists online are its replicas, with their lag.
// It keeps one Server per replica, so that Replica can route read-only
// commands to them. It is safe for concurrent use.
type ReplicaDiscovery struct {
	opts    DiscoveryOptions
	log     *slog.Logger
	masters []*Server // fixed
	names   []string  // fixed

	mu       sync.Mutex
	replicas map[string]*Server // guarded by mu: replica address -> server
	retiring retiring           // guarded by mu: replicas gone, not closed yet
	shards   []shardState       // by master index

	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once
}

// NewReplicaDiscovery asks every master (names[i] is masters[i]'s name)
// for its replicas once, then again every Interval until Close. It does
// not own the masters.
func NewReplicaDiscovery(masters []*Server, names []string, opts DiscoveryOptions) *ReplicaDiscovery {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &ReplicaDiscovery{
		opts:     opts,
		log:      opts.Logger,
		masters:  masters,
		names:    names,
		replicas: map[string]*Server{},
		retiring: retiring{},
		shards:   make([]shardState, len(masters)),
		ctx:      ctx,
		stop:     cancel,
	}
	for i := range d.shards {
		d.shards[i].replicas.Store(&[]*Server{})
	}
	// One loop per master: a master that hangs (a paused process, a
	// partition without resets) holds its own poll for the timeout, and
	// the lag samples of the other masters must not age out meanwhile.
	var first sync.WaitGroup
	first.Add(len(masters))
	for i := range masters {
		d.wg.Add(1)
		go d.loop(i, &first)
	}
	first.Wait()
	return d
}

// Replica returns a replica of master i for a read-only command, chosen by
// hint among those the master lists online, that are reachable and, when
// ReplicaMaxLag is set, lag no more than it in a fresh sample; the master
// when there is none.
func (d *ReplicaDiscovery) Replica(i, hint int) *Server {
	return pickReplica(d.masters[i], *d.shards[i].replicas.Load(), d.shards[i].lag.Load(),
		hint, d.opts.ReplicaMaxLag, d.opts.Interval)
}

// Replicas returns the replicas currently known for master i.
func (d *ReplicaDiscovery) Replicas(i int) []*Server { return *d.shards[i].replicas.Load() }

// Close stops the poll and closes every replica's Server (not the
// masters). It is idempotent.
func (d *ReplicaDiscovery) Close() {
	d.once.Do(func() {
		d.stop()
		d.wg.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, r := range d.replicas {
			r.Close()
		}
		d.replicas = map[string]*Server{}
	})
}

// loop polls master i at once, signals first, then polls it every
// Interval until Close.
func (d *ReplicaDiscovery) loop(i int, first *sync.WaitGroup) {
	defer d.wg.Done()
	req := NewRequest()
	d.poll(i, req)
	first.Done()
	t := time.NewTicker(d.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		}
		d.poll(i, req)
	}
}

// poll samples master i's INFO replication and applies it. A master that
// does not answer keeps its replicas, but its lag sample ages out, so with
// ReplicaMaxLag they stop being read.
func (d *ReplicaDiscovery) poll(i int, req *Request) {
	if d.ctx.Err() != nil {
		return
	}
	lag, ok := sampleLag(d.masters[i], req)
	if !ok {
		return
	}
	d.apply(i, lag)
	d.shards[i].lag.Store(&lagView{at: time.Now(), lag: lag})
}

// apply makes the online replicas in lag master i's replicas.
func (d *ReplicaDiscovery) apply(i int, lag map[string]int64) {
	addrs := make([]string, 0, len(lag))
	for a := range lag {
		if a != d.masters[i].Addr() {
			addrs = append(addrs, a)
		}
	}
	slices.Sort(addrs)
	cur := *d.shards[i].replicas.Load()
	if len(cur) == len(addrs) && slices.EqualFunc(cur, addrs, func(s *Server, a string) bool { return s.Addr() == a }) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		return // closed: no new Servers
	}
	name := d.names[i]
	rs := make([]*Server, 0, len(addrs))
	for _, a := range addrs {
		r := d.replicas[a]
		if r == nil {
			r = d.retiring.revive(a)
			if r != nil {
				d.replicas[a] = r
				d.log.Info("replica back", "master", name, "replica", a)
			}
		}
		if r == nil {
			o := d.opts.Server
			o.Name, o.Addr = name+"/"+a, a
			if d.opts.NewObserver != nil {
				o.Observer = d.opts.NewObserver(name, a)
			}
			r = NewServer(o)
			d.replicas[a] = r
			d.log.Info("replica found", "master", name, "replica", a)
		}
		rs = append(rs, r)
	}
	d.shards[i].replicas.Store(&rs)
	for _, r := range cur {
		if containsServer(rs, r) || d.usedLocked(r) {
			continue
		}
		d.log.Info("replica gone", "master", name, "replica", r.Addr())
		delete(d.replicas, r.Addr())
		d.retiring.retire(d.ctx, &d.wg, &d.mu, r, 2*r.Timeout(), dropReplica(d.opts.Dropped, name, r.Addr()))
	}
}

// usedLocked reports whether any master still lists r.
func (d *ReplicaDiscovery) usedLocked(r *Server) bool {
	for i := range d.shards {
		if containsServer(*d.shards[i].replicas.Load(), r) {
			return true
		}
	}
	return false
}

// pickReplica returns, among rs, starting at hint, the first replica that
// is up and within maxLag in the sample lv (taken every interval); master
// when none is.
func pickReplica(master *Server, rs []*Server, lv *lagView, hint int, maxLag, interval time.Duration) *Server {
	if len(rs) == 0 {
		return master
	}
	if hint < 0 {
		hint = -hint
	}
	for j := range rs {
		r := rs[(hint+j)%len(rs)]
		if r.Up() && lagOK(lv, r.Addr(), maxLag, interval) {
			return r
		}
	}
	return master
}

// lagOK reports whether the replica at addr lags at most maxLag in the
// sample lv, and the sample is fresh (at most maxLag + two intervals old).
func lagOK(lv *lagView, addr string, maxLag, interval time.Duration) bool {
	if maxLag <= 0 {
		return true
	}
	if lv == nil || time.Since(lv.at) > maxLag+2*interval {
		return false // the master has not told us lately
	}
	lag, ok := lv.lag[addr]
	return ok && time.Duration(lag)*time.Second <= maxLag
}
