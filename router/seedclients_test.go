package router

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardproxy/shardproxy/config"
	"github.com/shardproxy/shardproxy/internal/testenv"
)

// TestSeedClients runs the seed article's redis-py and ioredis programs
// (a pipeline, then MULTI/EXEC on {user:1000} keys, WATCH, a transaction
// over two shards, BLPOP) unchanged through the proxy in front of three
// shards. Runtimes: Debian's python3-redis and node with ioredis from npm
// (versions pinned by testdata/seedclients/package-lock.json); a missing one
// skips its client, or fails under CI=true.
func TestSeedClients(t *testing.T) {
	rs := shards(t, 3)
	p := startProxy(t, rs, func(pc *config.Pool) { pc.Timeout = 2 * time.Second })
	host, port := "127.0.0.1", strconv.Itoa(p.Port())
	other := "other"
	for i := 0; p.pick([]byte(other)) == p.pick([]byte("user:1000")); i++ {
		other = "other" + strconv.Itoa(i)
	}
	src, err := filepath.Abs(filepath.Join("testdata", "seedclients"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("redis-py", func(t *testing.T) {
		if _, err := exec.Command("/usr/bin/python3", "-c", "import redis").Output(); err != nil {
			requireRuntime(t, "redis-py for /usr/bin/python3 (apt-get install -y python3-redis)")
		}
		got := runClient(t, "/usr/bin/python3", filepath.Join(src, "seed.py"), host, port, other)
		want := []string{
			"pipeline 1000 True",
			"multi [0, 2, 1, b'Ada']",
			"watch [True] b'11'",
			"crossslot Command # 2 (SET " + other + " 1) of pipeline caused error",
			"after 0",
			"blpop (b'{q}jobs', b'job1')",
			"blpop-timeout None",
		}
		compareLines(t, got, want)
	})
	t.Run("ioredis", func(t *testing.T) {
		if _, err := exec.LookPath("npm"); err != nil {
			requireRuntime(t, "node and npm (apt-get install -y nodejs npm)")
		}
		dir := t.TempDir()
		for _, f := range []string{"package.json", "package-lock.json", "seed.js"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command("npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
		got := runClient(t, "node", filepath.Join(dir, "seed.js"), host, port, other)
		want := []string{
			`pipeline [[null,"OK"],[null,"OK"],[null,"val1"]]`,
			`multi [[null,1],[null,1],[null,"Ada"]]`,
			`watch null 100`,
			`crossslot EXECABORT Transaction discarded because of previous errors`,
			`blpop ["{q}jobs","job1"]`,
		}
		compareLines(t, got, want)
	})
}

func requireRuntime(t *testing.T, what string) {
	t.Helper()
	if testenv.InCI() {
		t.Fatalf("%s missing (CI=true: a missing client runtime fails)", what)
	}
	t.Skipf("%s missing", what)
}

func runClient(t *testing.T, argv ...string) []string {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(c, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func compareLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
