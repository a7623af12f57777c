package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shardproxy/shardproxy/bench/load"
	"github.com/shardproxy/shardproxy/bench/report"
)

// aclUser and aclPass are the one ACL user of the acl phase.
const (
	aclUser = "bench"
	aclPass = "benchpass"
)

// startExtraProxy starts one more shardproxy on its own ports with the
// pool over shards plus extra lines; the caller stops it.
func (r *runner) startExtraProxy(ctx context.Context, name string, shards []string, extra ...string) (target, error) {
	port, err := freePort()
	if err != nil {
		return target{}, err
	}
	mport, err := freePort()
	if err != nil {
		return target{}, err
	}
	addr := hostPort(port)
	file := filepath.Join(r.cfg.WorkDir, name+".yml")
	if err := os.WriteFile(file, []byte(poolYAML(addr, shards, extra...)), 0o644); err != nil {
		return target{}, err
	}
	p, err := startProc(name, r.bins.shardproxy, filepath.Join(r.cfg.WorkDir, name+".log"),
		"-c", file, "--metrics-listen", hostPort(mport), "--log-level", "warn")
	if err != nil {
		return target{}, err
	}
	if err := waitPongAuth(ctx, p, addr, extra); err != nil {
		p.stop()
		return target{}, err
	}
	return target{name: name, addr: addr, proc: p}, nil
}

// waitPongAuth waits for a proxy to answer; a proxy with ACL users is
// expected to refuse an unauthenticated PING, so only its port is awaited.
func waitPongAuth(ctx context.Context, p *proc, addr string, extra []string) error {
	if len(extra) == 0 {
		return waitPong(ctx, p, addr)
	}
	return waitAuthPong(ctx, p, addr)
}

func waitAuthPong(ctx context.Context, p *proc, addr string) error {
	var last error
	for range 200 {
		if err := p.alive(); err != nil {
			return err
		}
		if last = load.DoAuth(ctx, addr, aclUser, aclPass, "PING"); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s at %s did not answer an authenticated PING: %v; log:\n%s", p.name, addr, last, tail(p.log, 2000))
}

// aclPhase measures -P 1 and -P 16 SET and GET through shardproxy with one
// ACL user (`+@all ~*`) whose clients authenticate, against twemproxy and
// plain shardproxy, in its own interleaved rounds.
func (r *runner) aclPhase(ctx context.Context) error {
	acl, err := r.startExtraProxy(ctx, "shardproxy-acl", r.env.shardAddrs,
		"users:", fmt.Sprintf("  - \"%s on >%s ~* +@all\"", aclUser, aclPass))
	if err != nil {
		return err
	}
	defer acl.proc.stop()
	acl.name = report.ShardproxyACL
	acl.auth = []string{"--user", aclUser, "-a", aclPass}
	targets := []target{r.env.twemproxy(), r.env.shardproxy(), acl}
	var samples []report.Sample
	for round := range r.plan.Rounds {
		for _, p := range []int{1, 16} {
			for _, bt := range selectTests([]string{"set", "get"}) {
				for _, t := range targets {
					s, err := r.benchmark(ctx, t, bt, p, r.plan.Requests[p])
					if err != nil {
						return fmt.Errorf("round %d, %s -P %d against %s: %w", round+1, bt.name, p, t.name, err)
					}
					s.Round = round
					samples = append(samples, s)
				}
			}
		}
		r.log.Info("acl round done", "round", round+1, "of", r.plan.Rounds)
	}
	r.res.ACL = report.Summarize(samples)
	return nil
}

// pinnedPhase measures transactions/s and BLPOP hand-offs/s against
// direct Redis (shard 1), shardproxy over the three shards and a
// shardproxy over shard 1 alone, in interleaved rounds.
func (r *runner) pinnedPhase(ctx context.Context) error {
	one, err := r.startExtraProxy(ctx, "shardproxy-1shard", r.env.shardAddrs[:1])
	if err != nil {
		return err
	}
	defer one.proc.stop()
	type entry struct {
		t      target
		shards int
	}
	targets := []entry{{r.env.direct(), 1}, {one, 1}, {r.env.shardproxy(), len(r.env.shardAddrs)}}
	tx := make([][]float64, len(targets))
	ho := make([][]float64, len(targets))
	for round := range r.plan.Rounds {
		for i, e := range targets {
			t, err := load.Transactions(ctx, e.t.addr, r.plan.Clients, r.plan.PinnedTime)
			if err != nil {
				return fmt.Errorf("round %d, transactions against %s: %w", round+1, e.t.name, err)
			}
			h, err := load.Handoffs(ctx, e.t.addr, r.plan.Clients, r.plan.PinnedHandoffs)
			if err != nil {
				return fmt.Errorf("round %d, hand-offs against %s: %w", round+1, e.t.name, err)
			}
			if err := e.t.proc.alive(); err != nil {
				return err
			}
			tx[i] = append(tx[i], t.OpsPerSec())
			ho[i] = append(ho[i], h.OpsPerSec())
		}
		r.log.Info("pinned round done", "round", round+1, "of", r.plan.Rounds)
	}
	for i, e := range targets {
		name := e.t.name
		if e.t.name != report.Direct {
			name = report.Shardproxy + " (" + strconv.Itoa(e.shards) + " shard"
			if e.shards > 1 {
				name += "s"
			}
			name += ")"
		}
		r.res.Pinned = append(r.res.Pinned, report.PinnedRow{Target: name, Shards: e.shards,
			TxPerSec: report.Median(tx[i]), HandoffsPerSec: report.Median(ho[i])})
	}
	return nil
}
