package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// StartPrometheus starts prometheus on a free 127.0.0.1 port with a
// temporary TSDB, scraping scrapeTarget ("host:port", path /metrics) every
// scrapeInterval (whole milliseconds) as job "shardproxy". It returns the
// listen address once /-/ready answers 200; prometheus is killed in
// t.Cleanup. Expect the first scrape about 5 s after start: Prometheus's
// target discovery hands new targets to the scraper at that interval, even
// for static configs. Query with GET http://addr/api/v1/query?query=...
func StartPrometheus(t testing.TB, scrapeTarget string, scrapeInterval time.Duration) string {
	t.Helper()
	bin := RequireBinary(t, "prometheus")
	if scrapeInterval < time.Millisecond {
		t.Fatalf("testenv: StartPrometheus: scrape interval %v is below 1ms", scrapeInterval)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	// Prometheus durations take integer units only ("1500ms", not "1.5s").
	interval := fmt.Sprintf("%dms", scrapeInterval.Milliseconds())
	cfg := fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  evaluation_interval: %s
scrape_configs:
  - job_name: shardproxy
    static_configs:
      - targets: [%q]
`, interval, interval, interval, scrapeTarget)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatalf("testenv: write prometheus config: %v", err)
	}
	var lastErr error
	for range startAttempts {
		addr := hostPort(FreePort(t))
		args := []string{
			"--config.file=" + cfgPath,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--log.level=warn",
		}
		p := newProcess(t, "prometheus "+addr, bin, args, filepath.Join(dir, "prometheus.log"),
			httpReady("http://"+addr+"/-/ready"))
		lastErr = p.start()
		if lastErr == nil {
			return addr
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("testenv: %v", lastErr)
	return ""
}
