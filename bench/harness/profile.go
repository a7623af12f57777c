package harness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// profileSeconds is the CPU profile length per pipeline depth.
const profileSeconds = 5

// profilePhase, when Config.ProfileDir is set, profiles shardproxy during
// back-to-back redis-benchmark SET runs at -P 1 and -P 16 and writes the
// raw profiles and `go tool pprof -top` summaries there.
func (r *runner) profilePhase(ctx context.Context) error {
	dir := r.cfg.ProfileDir
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sp := r.env.shardproxy()
	base := "http://" + r.env.metricsAddr + "/debug/pprof/"
	for _, p := range []int{1, 16} {
		allocsBefore := filepath.Join(dir, fmt.Sprintf("allocs-before-P%d.pprof", p))
		allocsAfter := filepath.Join(dir, fmt.Sprintf("allocs-after-P%d.pprof", p))
		cpuFile := filepath.Join(dir, fmt.Sprintf("cpu-P%d.pprof", p))
		if err := fetch(ctx, base+"allocs", allocsBefore); err != nil {
			return err
		}
		cpuErr := make(chan error, 1)
		go func() { cpuErr <- fetch(ctx, fmt.Sprintf("%sprofile?seconds=%d", base, profileSeconds), cpuFile) }()
		deadline := time.Now().Add(profileSeconds * time.Second)
		for time.Now().Before(deadline) {
			if _, err := r.benchmark(ctx, sp, benchTests()[0], p, r.plan.Requests[p]); err != nil {
				<-cpuErr
				return err
			}
		}
		if err := <-cpuErr; err != nil {
			return err
		}
		if err := fetch(ctx, base+"allocs", allocsAfter); err != nil {
			return err
		}
		tops := []struct {
			file string
			args []string
		}{
			{fmt.Sprintf("cpu-P%d.txt", p), []string{"tool", "pprof", "-top", "-nodecount=30", r.bins.shardproxy, cpuFile}},
			{fmt.Sprintf("allocs-P%d.txt", p), []string{"tool", "pprof", "-top", "-nodecount=30", "-sample_index=alloc_space",
				"-base", allocsBefore, r.bins.shardproxy, allocsAfter}},
		}
		for _, tp := range tops {
			out, err := exec.CommandContext(ctx, "go", tp.args...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("go %v: %v\n%s", tp.args, err, out)
			}
			if err := os.WriteFile(filepath.Join(dir, tp.file), out, 0o644); err != nil {
				return err
			}
		}
		r.log.Info("profiled", "P", p, "dir", dir)
	}
	return nil
}

// fetch GETs url into file.
func fetch(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
