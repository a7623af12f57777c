package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelGroup is a set of Sentinel-managed shards started by
// StartSentinelGroup: masters named shard1, shard2, ..., each with its
// replicas, and sentinels that all monitor every master.
type SentinelGroup struct {
	// Names are the master names, Names[i] for Masters[i].
	Names []string
	// Masters are the initial masters; roles change through failover, so
	// ask Sentinel (MasterAddr) for the current one.
	Masters []*Redis
	// Replicas[i] are the initial replicas of Masters[i].
	Replicas [][]*Redis
	// Sentinels monitor every master.
	Sentinels []*Sentinel
	// SentinelAddrs are the sentinels' addresses.
	SentinelAddrs []string
	// Password, when set, is required by the sentinels (requirepass, or
	// the password of Username).
	Password string
	// Username, when set, is the sentinels' only ACL user (the default
	// user is off).
	Username string
	// With SentinelGroupOptions.TLS, every node also listens for TLS:
	// TLSAddr maps a node's plain address to its TLS address (the one
	// Sentinel monitors and reports), and SentinelTLSAddrs are the
	// sentinels' TLS addresses.
	TLSAddr          map[string]string
	SentinelTLSAddrs []string
}

// GroupTLS names the PEM files of a TLS Sentinel group: every server and
// sentinel presents Cert/Key, trusts CACert and requires client
// certificates signed by it.
type GroupTLS struct {
	CACert, Cert, Key string
}

func (g *GroupTLS) args(port int) []string {
	return []string{"--tls-port", strconv.Itoa(port), "--tls-cert-file", g.Cert, "--tls-key-file", g.Key,
		"--tls-ca-cert-file", g.CACert, "--tls-auth-clients", "yes", "--tls-replication", "yes"}
}

// SentinelGroupOptions configure StartSentinelGroup.
type SentinelGroupOptions struct {
	Masters, ReplicasPerMaster, Sentinels int
	// SentinelPassword makes the sentinels require a password.
	SentinelPassword string
	// SentinelUsername, with SentinelPassword, makes the sentinels accept
	// only this ACL user (default user off); they authenticate to each
	// other as it (sentinel-user, sentinel-pass).
	SentinelUsername string
	// DownAfter is down-after-milliseconds; default 1000 ms.
	DownAfter time.Duration
	// TLS, when set, adds a TLS port to every server and sentinel; masters
	// are monitored, replicate and are reported on their TLS ports (the
	// plain ports stay for the test's own checks).
	TLS *GroupTLS
}

// StartSentinelGroup starts the masters, their replicas and the sentinels
// (quorum: a majority of them; down-after-milliseconds 1000, failover-timeout
// 5000 unless opts say otherwise) and waits until every sentinel sees every
// other sentinel and every replica (up to 30 s). Everything is killed in
// t.Cleanup. A 3 masters + 3 replicas + 3 sentinels group takes 2-4 s.
func StartSentinelGroup(t testing.TB, opts SentinelGroupOptions) *SentinelGroup {
	t.Helper()
	if opts.Masters < 1 || opts.Sentinels < 1 || opts.ReplicasPerMaster < 0 {
		t.Fatalf("testenv: StartSentinelGroup(%+v): need masters >= 1, sentinels >= 1", opts)
	}
	if opts.DownAfter <= 0 {
		opts.DownAfter = time.Second
	}
	g := &SentinelGroup{Password: opts.SentinelPassword, Username: opts.SentinelUsername, TLSAddr: map[string]string{}}
	// start starts a server; with TLS it listens on a TLS port too.
	start := func(args ...string) *Redis {
		if opts.TLS == nil {
			return StartRedis(t, args...)
		}
		tp := FreePort(t)
		r := StartRedis(t, append(args, opts.TLS.args(tp)...)...)
		g.TLSAddr[r.Addr] = hostPort(tp)
		return r
	}
	// monitored is the port Sentinel and the replicas use for m.
	monitored := func(m *Redis) int {
		if a, ok := g.TLSAddr[m.Addr]; ok {
			_, p, _ := net.SplitHostPort(a)
			n, _ := strconv.Atoi(p)
			return n
		}
		return m.Port
	}
	for i := range opts.Masters {
		m := start("--repl-ping-replica-period", "1")
		g.Masters = append(g.Masters, m)
		g.Names = append(g.Names, "shard"+strconv.Itoa(i+1))
		var reps []*Redis
		for range opts.ReplicasPerMaster {
			reps = append(reps, start("--replicaof", "127.0.0.1", strconv.Itoa(monitored(m)), "--repl-ping-replica-period", "1"))
		}
		g.Replicas = append(g.Replicas, reps)
	}
	quorum := opts.Sentinels/2 + 1
	bin := RequireBinary(t, "redis-sentinel")
	for range opts.Sentinels {
		g.Sentinels = append(g.Sentinels, g.startSentinel(t, bin, quorum, opts, monitored))
	}
	for _, s := range g.Sentinels {
		g.SentinelAddrs = append(g.SentinelAddrs, s.Addr)
		if a, ok := g.TLSAddr[s.Addr]; ok {
			g.SentinelTLSAddrs = append(g.SentinelTLSAddrs, a)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := g.converged(opts)
		if err == nil {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: sentinel group not converged after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *SentinelGroup) startSentinel(t testing.TB, bin string, quorum int, opts SentinelGroupOptions, monitored func(*Redis) int) *Sentinel {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "sentinel.conf")
	var lastErr error
	for range startAttempts {
		p := FreePort(t)
		var b strings.Builder
		fmt.Fprintf(&b, "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n", p, dir)
		tp := 0
		if opts.TLS != nil {
			tp = FreePort(t)
			a := opts.TLS.args(tp)
			for i := 0; i < len(a); i += 2 {
				fmt.Fprintf(&b, "%s %s\n", strings.TrimPrefix(a[i], "--"), a[i+1])
			}
		}
		switch {
		case opts.SentinelUsername != "":
			fmt.Fprintf(&b, "user default off\nuser %s on >%s allcommands allchannels\n", opts.SentinelUsername, opts.SentinelPassword)
			fmt.Fprintf(&b, "sentinel sentinel-user %s\nsentinel sentinel-pass %s\n", opts.SentinelUsername, opts.SentinelPassword)
		case opts.SentinelPassword != "":
			fmt.Fprintf(&b, "requirepass %s\n", opts.SentinelPassword)
			fmt.Fprintf(&b, "sentinel sentinel-pass %s\n", opts.SentinelPassword)
		}
		for i, m := range g.Masters {
			n := g.Names[i]
			fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d %d\n", n, monitored(m), quorum)
			fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", n, opts.DownAfter.Milliseconds())
			fmt.Fprintf(&b, "sentinel failover-timeout %s 5000\n", n)
			fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", n)
		}
		if err := os.WriteFile(cfgPath, []byte(b.String()), 0o644); err != nil {
			t.Fatalf("testenv: write sentinel config: %v", err)
		}
		r := newRedis(t, "redis-sentinel", bin, p, dir, []string{cfgPath})
		if opts.SentinelPassword != "" {
			r.proc.ready = func() error {
				_, err := DoAuthUser(r.Addr, opts.SentinelUsername, opts.SentinelPassword, "PING")
				return err
			}
		}
		lastErr = r.proc.start()
		if lastErr == nil {
			if tp != 0 {
				g.TLSAddr[r.Addr] = hostPort(tp)
			}
			return &Sentinel{Redis: r, MasterName: g.Names[0], ConfigPath: cfgPath}
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return nil
}

// DoAuth is Do on a connection authenticated with AUTH password first.
func DoAuth(addr, password string, args ...string) (any, error) {
	return DoAuthUser(addr, "", password, args...)
}

// DoAuthUser is Do on a connection authenticated first with AUTH password,
// or AUTH username password when username is set.
func DoAuthUser(addr, username, password string, args ...string) (any, error) {
	if password == "" {
		return Do(addr, args...)
	}
	auth := []string{"AUTH", password}
	if username != "" {
		auth = []string{"AUTH", username, password}
	}
	v, err := doPipeline(addr, [][]string{auth, args})
	if err != nil {
		return nil, err
	}
	if e, ok := v[0].(RespError); ok {
		return nil, e
	}
	if e, ok := v[1].(RespError); ok {
		return nil, e
	}
	return v[1], nil
}

// converged checks that every running sentinel knows every master with all
// its replicas and every other running sentinel.
func (g *SentinelGroup) converged(opts SentinelGroupOptions) error {
	running := 0
	for _, s := range g.Sentinels {
		if s.Running() {
			running++
		}
	}
	for _, s := range g.Sentinels {
		if !s.Running() {
			continue
		}
		for _, n := range g.Names {
			v, err := DoAuthUser(s.Addr, g.Username, g.Password, "SENTINEL", "MASTER", n)
			if err != nil {
				return fmt.Errorf("%s: SENTINEL MASTER %s: %w", s.Addr, n, err)
			}
			m := flatPairs(v)
			if m["num-other-sentinels"] != strconv.Itoa(running-1) {
				return fmt.Errorf("%s sees %s other sentinels for %s, want %d", s.Addr, m["num-other-sentinels"], n, running-1)
			}
			if m["num-slaves"] != strconv.Itoa(opts.ReplicasPerMaster) {
				return fmt.Errorf("%s sees %s replicas of %s, want %d", s.Addr, m["num-slaves"], n, opts.ReplicasPerMaster)
			}
			if strings.Contains(m["flags"], "down") {
				return fmt.Errorf("%s sees %s as %s", s.Addr, n, m["flags"])
			}
		}
	}
	return nil
}

// MasterAddr returns the address a majority of the running sentinels
// report for master name, or "" while they disagree.
func (g *SentinelGroup) MasterAddr(name string) string {
	count := map[string]int{}
	for _, s := range g.Sentinels {
		if !s.Running() {
			continue
		}
		v, err := DoAuthUser(s.Addr, g.Username, g.Password, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		if err != nil {
			continue
		}
		a, _ := v.([]any)
		if len(a) != 2 {
			continue
		}
		h, _ := a[0].(string)
		p, _ := a[1].(string)
		count[h+":"+p]++
	}
	for addr, c := range count {
		if 2*c > len(g.Sentinels) {
			return addr
		}
	}
	return ""
}

// Node returns the server of the group listening on addr (plain or TLS),
// or nil.
func (g *SentinelGroup) Node(addr string) *Redis {
	for plain, tls := range g.TLSAddr {
		if tls == addr {
			addr = plain
		}
	}
	for i, m := range g.Masters {
		if m.Addr == addr {
			return m
		}
		for _, r := range g.Replicas[i] {
			if r.Addr == addr {
				return r
			}
		}
	}
	return nil
}

// flatPairs turns a flat [k1 v1 k2 v2 ...] reply into a map of strings.
func flatPairs(v any) map[string]string {
	arr, _ := v.([]any)
	m := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		switch x := arr[i+1].(type) {
		case string:
			m[k] = x
		case int64:
			m[k] = strconv.FormatInt(x, 10)
		}
	}
	return m
}

// doPipeline sends several commands on one fresh connection (2 s deadline)
// and returns their replies; an error reply is a RespError element.
func doPipeline(addr string, cmds [][]string) ([]any, error) {
	conn, err := net.DialTimeout("tcp", addr, commandTimeout)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, args := range cmds {
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	br := bufio.NewReader(conn)
	out := make([]any, len(cmds))
	for i := range cmds {
		v, err := readReply(br)
		var re RespError
		if err != nil && !errors.As(err, &re) {
			return nil, err
		}
		if err != nil {
			v = re
		}
		out[i] = v
	}
	return out, nil
}
