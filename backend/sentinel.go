package backend

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardproxy/shardproxy/resp"
)

// SentinelOptions configure a Sentinel watcher. Zero values take the
// defaults documented on each field.
type SentinelOptions struct {
	// Addrs are the sentinels' "host:port" addresses. They are the
	// electorate: a master address is believed only when more than half
	// of them report it.
	Addrs []string
	// Username and Password authenticate to the sentinels (AUTH password,
	// or AUTH username password when Username is set); none when empty.
	Username, Password string
	// Masters are the master names to follow.
	Masters []string
	// TLS, when not nil, wraps every connection to a sentinel in TLS (its
	// ServerName defaults to the sentinel's host).
	TLS *tls.Config
	// TLSSource, when not nil and TLS is not nil, gives the configuration
	// of each new connection instead of TLS (certificates reloaded).
	TLSSource func() *tls.Config
	// Timeout bounds each dial and command to a sentinel; default 1s.
	Timeout time.Duration
	// PollInterval is the period of the background confirmation poll,
	// which catches what a lost subscription missed; default 1s.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the pause between reconnections of a
	// subscription; defaults 50ms and 2s.
	MinBackoff, MaxBackoff time.Duration
	// Changed, when set, is called from the watcher's goroutine with each
	// confirmed change of a master's view (address, epoch or replicas).
	// It must not block for long: confirmation of other masters waits.
	Changed func(name string, v MasterView)
	// Promoting, when set, is called from a subscription goroutine when a
	// sentinel announces that it selected or promoted replica (address)
	// of master name: the failover leader's word, not yet confirmed by a
	// majority. From the promotion on, writes the old master acknowledges
	// are lost; the caller may fence them until the switch.
	Promoting func(name, replica string)
	// Logger receives failovers and sentinel trouble; default slog.Default().
	Logger *slog.Logger
}

// MasterView is what a majority of the sentinels report about one master.
type MasterView struct {
	// Addr is the master's "host:port"; "" while no majority agrees.
	Addr string
	// Epoch is the highest config-epoch among the sentinels that agree.
	Epoch int64
	// Replicas are the replicas that the first agreeing sentinel sees up,
	// linked to Addr, in its order.
	Replicas []string
}

// Sentinel follows a set of master names through Redis Sentinel. It asks
// every sentinel at start, subscribes to the failover events of every
// sentinel (+switch-master, +odown, -odown, +sdown, -sdown, +failover-end,
// +config-update-from) and confirms each event, and every PollInterval, by
// polling all sentinels: a new address is believed only when a majority
// of the configured sentinels report it (with the highest config-epoch
// among them not older than the current one), so that one lying,
// stale or partitioned sentinel cannot move a shard. It is safe for
// concurrent use.
type Sentinel struct {
	opts  SentinelOptions
	log   *slog.Logger
	views map[string]*atomic.Pointer[MasterView] // fixed keys

	trigger chan struct{}
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Errors of the Sentinel watcher.
var (
	// ErrNoSentinels means SentinelOptions.Addrs is empty.
	ErrNoSentinels = errors.New("no sentinels configured")
	// ErrNoMajority means the sentinels do not agree on a master address.
	ErrNoMajority = errors.New("no majority of the sentinels agrees on the master address")
)

// sentinelEvents are the channels subscribed on every sentinel; any
// message on them triggers a confirmation poll.
var sentinelEvents = []string{
	"+switch-master", "+odown", "-odown", "+sdown", "-sdown",
	"+failover-end", "+config-update-from", "+slave", "+convert-to-slave",
	"+selected-slave", "+promoted-slave",
}

// NewSentinel asks every sentinel for every master, then follows them in
// the background until Close. A master that no majority agrees on yet has
// an empty view (see View); the watcher keeps asking. It fails only when
// no sentinel is configured.
func NewSentinel(opts SentinelOptions) (*Sentinel, error) {
	if len(opts.Addrs) == 0 {
		return nil, ErrNoSentinels
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sentinel{
		opts:    opts,
		log:     opts.Logger,
		views:   make(map[string]*atomic.Pointer[MasterView], len(opts.Masters)),
		trigger: make(chan struct{}, 1),
		ctx:     ctx,
		stop:    cancel,
	}
	for _, name := range opts.Masters {
		p := &atomic.Pointer[MasterView]{}
		p.Store(&MasterView{})
		s.views[name] = p
	}
	s.poll()
	for _, addr := range opts.Addrs {
		s.wg.Add(1)
		go s.subscribe(addr)
	}
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

// View returns the confirmed view of master name (the zero view for a
// name not followed or not resolved yet).
func (s *Sentinel) View(name string) MasterView {
	if p, ok := s.views[name]; ok {
		return *p.Load()
	}
	return MasterView{}
}

// Refresh asks for a confirmation poll soon, without waiting for it; many
// calls coalesce into one poll. A server calls it when its master turns
// out not to be one (ROLE, -READONLY).
func (s *Sentinel) Refresh() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Close stops the subscriptions and the poll and waits for them. It is
// idempotent.
func (s *Sentinel) Close() {
	s.once.Do(func() {
		s.stop()
		s.wg.Wait()
	})
}

// loop polls on every trigger and every PollInterval. While the sentinels
// disagree (a failover in progress) it polls again quickly.
func (s *Sentinel) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	var again <-chan time.Time
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.trigger:
		case <-t.C:
		case <-again:
		}
		again = nil
		if !s.poll() {
			again = time.After(50 * time.Millisecond)
		}
	}
}

// report is one sentinel's answer about one master.
type report struct {
	addr     string
	epoch    int64
	replicas []string
}

// poll asks every sentinel about every master and applies what a majority
// agrees on. It reports whether every master had a majority.
func (s *Sentinel) poll() bool {
	answers := make([]map[string]report, len(s.opts.Addrs))
	var wg sync.WaitGroup
	for i, addr := range s.opts.Addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.ask(addr)
			if err != nil {
				s.log.Debug("sentinel poll failed", "sentinel", addr, "err", err)
				return
			}
			answers[i] = r
		}()
	}
	wg.Wait()
	all := true
	for _, name := range s.opts.Masters {
		var reps []report
		for _, a := range answers {
			if r, ok := a[name]; ok {
				reps = append(reps, r)
			}
		}
		v, err := decideMaster(reps, len(s.opts.Addrs))
		if err != nil {
			all = false
			continue
		}
		cur := s.views[name].Load()
		if v.Epoch < cur.Epoch {
			// A majority reporting an older config than we acted on is
			// sentinels that restarted from an old file: never go back.
			s.log.Warn("sentinels report an older master config; ignored",
				"master", name, "addr", v.Addr, "epoch", v.Epoch, "current", cur.Addr, "current_epoch", cur.Epoch)
			continue
		}
		if v.Addr == cur.Addr && v.Epoch == cur.Epoch && equalStrings(v.Replicas, cur.Replicas) {
			continue
		}
		s.views[name].Store(&v)
		if v.Addr != cur.Addr {
			s.log.Info("sentinel master confirmed", "master", name, "addr", v.Addr, "previous", cur.Addr, "epoch", v.Epoch)
		}
		if s.opts.Changed != nil {
			s.opts.Changed(name, v)
		}
	}
	return all
}

// decideMaster returns the address that more than half of n sentinels
// report, with the highest config-epoch among those reports, and the
// replicas of the first report that agrees. Reports of unreachable
// sentinels are simply missing: they count against the majority.
func decideMaster(reps []report, n int) (MasterView, error) {
	count := map[string]int{}
	for _, r := range reps {
		if r.addr != "" {
			count[r.addr]++
		}
	}
	for addr, c := range count {
		if 2*c <= n {
			continue
		}
		v := MasterView{Addr: addr, Epoch: -1}
		for _, r := range reps {
			if r.addr != addr {
				continue
			}
			if r.epoch > v.Epoch {
				v.Epoch = r.epoch
			}
			if v.Replicas == nil {
				v.Replicas = r.replicas
			}
		}
		return v, nil
	}
	return MasterView{}, ErrNoMajority
}

// ask opens a connection to one sentinel and asks, for every master,
// GET-MASTER-ADDR-BY-NAME (the address, which switches as soon as the
// promoted replica is being announced), SENTINEL MASTER (its config-epoch)
// and SENTINEL REPLICAS, pipelined.
func (s *Sentinel) ask(addr string) (map[string]report, error) {
	nc, br, bw, err := s.dial(addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	var wire []byte
	for _, name := range s.opts.Masters {
		wire = resp.AppendCommand(wire, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		wire = resp.AppendCommand(wire, "SENTINEL", "MASTER", name)
		wire = resp.AppendCommand(wire, "SENTINEL", "REPLICAS", name)
	}
	if _, err := bw.Write(wire); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	out := make(map[string]report, len(s.opts.Masters))
	var raw []byte
	for _, name := range s.opts.Masters {
		var vals [3]any
		for i := range vals {
			raw, err = resp.ReadReply(br, raw[:0])
			if err != nil {
				return nil, err
			}
			if vals[i], err = resp.Decode(raw); err != nil {
				return nil, err
			}
		}
		ap, _ := vals[0].([]any)
		if len(ap) != 2 {
			continue // unknown master name, or an error reply
		}
		r := report{addr: net.JoinHostPort(str(ap[0]), str(ap[1]))}
		m := flatMap(vals[1])
		if r.epoch, err = strconv.ParseInt(str(m["config-epoch"]), 10, 64); err != nil {
			r.epoch = 0
		}
		reps, _ := vals[2].([]any)
		for _, rv := range reps {
			rm := flatMap(rv)
			flags := str(rm["flags"])
			if strings.Contains(flags, "s_down") || strings.Contains(flags, "o_down") ||
				strings.Contains(flags, "disconnected") || str(rm["master-link-status"]) != "ok" {
				continue
			}
			if net.JoinHostPort(str(rm["master-host"]), str(rm["master-port"])) != r.addr {
				continue
			}
			r.replicas = append(r.replicas, net.JoinHostPort(str(rm["ip"]), str(rm["port"])))
		}
		out[name] = r
	}
	return out, nil
}

// dial connects to a sentinel and authenticates.
func (s *Sentinel) dial(addr string) (net.Conn, *bufio.Reader, *bufio.Writer, error) {
	d := net.Dialer{Timeout: s.opts.Timeout, KeepAlive: 5 * time.Second}
	nc, err := d.DialContext(s.ctx, "tcp", addr)
	if err != nil {
		return nil, nil, nil, trimDialError(err)
	}
	if cfg := s.opts.TLS; cfg != nil {
		if s.opts.TLSSource != nil {
			if c := s.opts.TLSSource(); c != nil {
				cfg = c
			}
		}
		tc, err := tlsClient(s.ctx, nc, cfg, addr, s.opts.Timeout)
		if err != nil {
			return nil, nil, nil, err
		}
		nc = tc
	}
	nc.SetDeadline(time.Now().Add(s.opts.Timeout))
	br, bw := bufio.NewReader(nc), bufio.NewWriter(nc)
	if s.opts.Password != "" {
		args := []string{"AUTH", s.opts.Password}
		if s.opts.Username != "" {
			args = []string{"AUTH", s.opts.Username, s.opts.Password}
		}
		v, err := roundTrip(bw, br, args...)
		if err == nil {
			if e, ok := v.(resp.Error); ok {
				err = fmt.Errorf("AUTH: %s", string(e))
			}
		}
		if err != nil {
			nc.Close()
			return nil, nil, nil, err
		}
	}
	return nc, br, bw, nil
}

// subscribe keeps a subscription to the failover events of one sentinel,
// reconnecting with capped exponential backoff, and triggers a poll on
// every event and on every (re)connection, since events may have been
// missed meanwhile.
func (s *Sentinel) subscribe(addr string) {
	defer s.wg.Done()
	backoff := s.opts.MinBackoff
	for s.ctx.Err() == nil {
		start := time.Now()
		err := s.listen(addr)
		if s.ctx.Err() != nil {
			return
		}
		s.log.Debug("sentinel subscription lost", "sentinel", addr, "err", err)
		if time.Since(start) > s.opts.MaxBackoff {
			backoff = s.opts.MinBackoff
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// listen runs one subscription until it fails or the watcher closes.
func (s *Sentinel) listen(addr string) error {
	nc, br, bw, err := s.dial(addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	// Close the connection when the watcher stops: that ends the read.
	defer context.AfterFunc(s.ctx, func() { nc.Close() })()
	args := append([]string{"SUBSCRIBE"}, sentinelEvents...)
	if _, err := bw.Write(resp.AppendCommand(nil, args...)); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	var raw []byte
	for range sentinelEvents {
		if raw, err = resp.ReadReply(br, raw[:0]); err != nil {
			return err
		}
		if raw[0] == '-' {
			return errors.New(trimCRLF(raw[1:]))
		}
	}
	nc.SetDeadline(time.Time{})
	s.Refresh() // whatever happened while we were not listening
	for {
		if raw, err = resp.ReadReply(br, raw[:0]); err != nil {
			return err
		}
		v, err := resp.Decode(raw)
		if err != nil {
			return err
		}
		if msg, _ := v.([]any); len(msg) == 3 && str(msg[0]) == "message" {
			s.log.Debug("sentinel event", "sentinel", addr, "event", str(msg[1]), "detail", str(msg[2]))
			if ch := str(msg[1]); (ch == "+selected-slave" || ch == "+promoted-slave") && s.opts.Promoting != nil {
				if name, replica, ok := parsePromotion(str(msg[2])); ok {
					s.opts.Promoting(name, replica)
				}
			}
			s.Refresh()
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// parsePromotion reads "+selected-slave" and "+promoted-slave" payloads:
// "slave 127.0.0.1:6380 127.0.0.1 6380 @ mymaster 127.0.0.1 6379".
func parsePromotion(detail string) (name, replica string, ok bool) {
	f := strings.Fields(detail)
	if len(f) < 8 || f[0] != "slave" || f[4] != "@" {
		return "", "", false
	}
	return f[5], net.JoinHostPort(f[2], f[3]), true
}
