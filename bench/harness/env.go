package harness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/shardproxy/shardproxy/bench/report"
)

// env is the set of servers one run measures.
type env struct {
	shards     []*proc
	shardAddrs []string
	twem       *proc
	twemAddr   string
	// twem4 is nutcracker with -v 4 (report.TwemproxyV4), for the
	// redis-benchmark rounds only.
	twem4     *proc
	twem4Addr string
	sp        *proc
	spAddr    string
	// sp2 is shardproxy run with --procs procs2 (nil when not configured).
	sp2     *proc
	sp2Addr string
	procs2  int
	// metricsAddr is shardproxy's HTTP address (metrics, pprof).
	metricsAddr string
	spConfig    string
	twemConfig  string
}

// target is one endpoint redis-benchmark and the generators are pointed at,
// with the process whose CPU and memory are charged to it.
type target struct {
	name string
	addr string
	proc *proc
	// auth holds redis-benchmark's authentication flags, if any.
	auth []string
}

// direct is the first shard, measured without a proxy.
func (e *env) direct() target {
	return target{name: report.Direct, addr: e.shardAddrs[0], proc: e.shards[0]}
}

func (e *env) twemproxy() target {
	return target{name: report.Twemproxy, addr: e.twemAddr, proc: e.twem}
}

func (e *env) twemproxyV4() target {
	return target{name: report.TwemproxyV4, addr: e.twem4Addr, proc: e.twem4}
}

func (e *env) shardproxy() target {
	return target{name: report.Shardproxy, addr: e.spAddr, proc: e.sp}
}

// shardproxyProcs is the second shardproxy, run with --procs.
func (e *env) shardproxyProcs() target {
	return target{name: report.ShardproxyProcs(e.procs2), addr: e.sp2Addr, proc: e.sp2}
}

// targets returns direct, twemproxy, twemproxy -v 4, shardproxy and, when
// configured, shardproxy --procs N, in the first round's order.
func (e *env) targets() []target {
	ts := []target{e.direct(), e.twemproxy(), e.twemproxyV4(), e.shardproxy()}
	if e.sp2 != nil {
		ts = append(ts, e.shardproxyProcs())
	}
	return ts
}

// proxies returns shardproxy and twemproxy, for the memory tests.
func (e *env) proxies() []target {
	return []target{e.shardproxy(), e.twemproxy()}
}

// alive returns an error if any server has exited.
func (e *env) alive() error {
	for _, p := range e.all() {
		if err := p.alive(); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) all() []*proc {
	ps := append([]*proc(nil), e.shards...)
	if e.twem != nil {
		ps = append(ps, e.twem)
	}
	if e.twem4 != nil {
		ps = append(ps, e.twem4)
	}
	if e.sp != nil {
		ps = append(ps, e.sp)
	}
	if e.sp2 != nil {
		ps = append(ps, e.sp2)
	}
	return ps
}

// stop stops every server, proxies first.
func (e *env) stop() {
	ps := e.all()
	for i := len(ps) - 1; i >= 0; i-- {
		ps[i].stop()
	}
}

// poolYAML renders the one pool both proxies load; extra holds the lines
// only one of them gets.
func poolYAML(listen string, shards []string, extra ...string) string {
	var b strings.Builder
	b.WriteString("bench:\n")
	fmt.Fprintf(&b, "  listen: %s\n", listen)
	b.WriteString("  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  timeout: 2000\n")
	for _, x := range extra {
		fmt.Fprintf(&b, "  %s\n", x)
	}
	b.WriteString("  servers:\n")
	for i, s := range shards {
		fmt.Fprintf(&b, "    - %s:1 shard%d\n", s, i+1)
	}
	return b.String()
}

// startEnv starts three shards, nutcracker and shardproxy under dir.
func startEnv(ctx context.Context, cfg *Config, bins bins, dir string, log *slog.Logger) (_ *env, err error) {
	e := &env{}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	for i := 1; i <= 3; i++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		sdir := filepath.Join(dir, fmt.Sprintf("shard%d", i))
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return nil, err
		}
		p, err := startProc(fmt.Sprintf("redis shard%d", i), bins.redis, filepath.Join(sdir, "redis.log"),
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", sdir, "--daemonize", "no", "--maxclients", "20000")
		if err != nil {
			return nil, err
		}
		e.shards = append(e.shards, p)
		e.shardAddrs = append(e.shardAddrs, hostPort(port))
		if err := waitPong(ctx, p, hostPort(port)); err != nil {
			return nil, err
		}
	}

	// Default flags, as Debian's service runs nutcracker, but for the
	// files and a stats port of its own on loopback.
	if e.twemAddr, e.twemConfig, e.twem, err = startTwemproxy(ctx, e.shardAddrs, bins, dir, report.Twemproxy, "nutcracker"); err != nil {
		return nil, err
	}
	if e.twem4Addr, _, e.twem4, err = startTwemproxy(ctx, e.shardAddrs, bins, dir, report.TwemproxyV4, "nutcracker-v4", "-v", "4"); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	e.spAddr = hostPort(port)
	e.metricsAddr = hostPort(mport)
	e.spConfig = poolYAML(e.spAddr, e.shardAddrs)
	spFile := filepath.Join(dir, "shardproxy.yml")
	if err := os.WriteFile(spFile, []byte(e.spConfig), 0o644); err != nil {
		return nil, err
	}
	args := []string{"-c", spFile, "--metrics-listen", e.metricsAddr, "--log-level", "warn"}
	if cfg.ProfileDir != "" {
		args = append(args, "--pprof")
	}
	// Default flags: what users run, and what the targets judge.
	e.sp, err = startProc("shardproxy", bins.shardproxy, filepath.Join(dir, "shardproxy.log"), args...)
	if err != nil {
		return nil, err
	}
	if err := waitPong(ctx, e.sp, e.spAddr); err != nil {
		return nil, err
	}
	if cfg.Procs > 0 {
		if e.sp2, err = startProcsVariant(ctx, e, bins, dir, cfg.Procs); err != nil {
			return nil, err
		}
	}
	log.Info("servers up", "shards", e.shardAddrs, "twemproxy", e.twemAddr, "twemproxy_v4", e.twem4Addr, "shardproxy", e.spAddr, "metrics", e.metricsAddr,
		"shardproxy_procs", e.sp2Addr)
	return e, nil
}

// startTwemproxy starts nutcracker as target name on shards, with the
// harness's pool on a port of its own and extra flags; its files in dir
// are named after base.
func startTwemproxy(ctx context.Context, shards []string, bins bins, dir, name, base string, extra ...string) (addr, config string, p *proc, err error) {
	port, err := freePort()
	if err != nil {
		return "", "", nil, err
	}
	stats, err := freePort()
	if err != nil {
		return "", "", nil, err
	}
	addr = hostPort(port)
	config = poolYAML(addr, shards, "server_connections: 1")
	file := filepath.Join(dir, base+".yml")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		return "", "", nil, err
	}
	args := append([]string{"-c", file, "-s", strconv.Itoa(stats), "-a", "127.0.0.1"}, extra...)
	if p, err = startProc(name, bins.nutcracker, filepath.Join(dir, base+".log"), args...); err != nil {
		return "", "", nil, err
	}
	if err := waitPong(ctx, p, addr); err != nil {
		p.stop()
		return "", "", nil, err
	}
	return addr, config, p, nil
}

// startProcsVariant starts a second shardproxy with the same pool on its
// own ports, run with --procs procs.
func startProcsVariant(ctx context.Context, e *env, bins bins, dir string, procs int) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	mport, err := freePort()
	if err != nil {
		return nil, err
	}
	e.procs2 = procs
	e.sp2Addr = hostPort(port)
	file := filepath.Join(dir, fmt.Sprintf("shardproxy-procs%d.yml", procs))
	if err := os.WriteFile(file, []byte(poolYAML(e.sp2Addr, e.shardAddrs)), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc(report.ShardproxyProcs(procs), bins.shardproxy, filepath.Join(dir, fmt.Sprintf("shardproxy-procs%d.log", procs)),
		"-c", file, "--metrics-listen", hostPort(mport), "--log-level", "warn", "--procs", strconv.Itoa(procs))
	if err != nil {
		return nil, err
	}
	if err := waitPong(ctx, p, e.sp2Addr); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}
