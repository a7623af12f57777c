package deploy

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shardproxy/shardproxy/internal/testenv"
)

// unitPath is the systemd unit under test; its ExecStart binary is
// /usr/local/bin/shardproxy, replaced by a freshly built one because
// systemd-analyze verify checks that executables exist.
const (
	unitPath      = "systemd/shardproxy.service"
	unitBinary    = "/usr/local/bin/shardproxy"
	containerfile = "container/Containerfile"
)

// proxyBinary builds the proxy once for every test of the package, static
// (CGO_ENABLED=0) as the container image needs it.
var proxyBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "shardproxy-deploy-test-")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "shardproxy")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", bin, "github.com/shardproxy/shardproxy/cmd/proxy")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/proxy: %v\n%s", err, out)
	}
	return bin, nil
})

// binDir is proxyBinary's directory, removed by TestMain.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func buildProxy(t *testing.T) string {
	t.Helper()
	bin, err := proxyBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// unitWithBinary writes the unit, pointing at bin, to a temporary directory.
func unitWithBinary(t *testing.T, unit []byte, bin string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shardproxy.service")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(unit), unitBinary, bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// verify runs systemd-analyze verify and returns its combined output and
// error. It prints warnings (unknown keys, bad values) but exits 0 for them,
// so callers treat any output as a failure.
func verify(analyze, path string) (string, error) {
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	// The hardening the unit promises, present as written.
	for _, want := range []string{
		"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"Restart=on-failure", "ExecReload=/bin/kill -HUP $MAINPID",
		"CapabilityBoundingSet=\n", "PrivateTmp=yes", "ProtectHome=yes",
	} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("%s lacks %q", unitPath, strings.TrimSpace(want))
		}
	}
	m := regexp.MustCompile(`\nLimitNOFILE=(\d+)\n`).FindStringSubmatch(string(unit))
	if m == nil {
		t.Errorf("%s sets no numeric LimitNOFILE", unitPath)
	} else if n, _ := strconv.Atoi(m[1]); n < 65536 {
		t.Errorf("LimitNOFILE=%d: too few descriptors for client connections", n)
	}

	analyze := testenv.RequireBinary(t, "systemd-analyze")
	bin := buildProxy(t)
	path := unitWithBinary(t, unit, bin)
	if out, err := verify(analyze, path); err != nil || out != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitPath, err, out)
	}
	// The check above must notice a misspelt directive.
	bad := unitWithBinary(t, []byte(strings.Replace(string(unit), "ProtectSystem=", "ProtectSytem=", 1)), bin)
	if out, _ := verify(analyze, bad); !strings.Contains(out, "ProtectSytem") {
		t.Errorf("systemd-analyze verify did not report a misspelt directive: %q", out)
	}

	// systemd's own exposure score, computed from the file (no running
	// systemd needed): 0 is fully locked down, 10 unprotected.
	out, err := exec.Command(analyze, "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security --offline=true: %v\n%s", err, out)
	}
	sm := regexp.MustCompile(`Overall exposure level for shardproxy\.service: ([0-9.]+)`).FindSubmatch(out)
	if sm == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(sm[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure level %.1f, want <= 2.0 (systemd's \"OK\" range):\n%s", score, out)
	}
}

// containerfileLines returns the Containerfile's instructions with
// continuation lines joined and comments dropped.
func containerfileLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(containerfile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	cur := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		lines = append(lines, cur+l)
		cur = ""
	}
	return lines
}

// TestContainerfile checks the recipe statically: what must hold for an
// image built without pulling anything and run as non-root.
func TestContainerfile(t *testing.T) {
	lines := containerfileLines(t)
	var from, copies []string
	var user, health, entry string
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			from = append(from, rest)
		case "COPY":
			copies = append(copies, rest)
		case "USER":
			user = rest
		case "HEALTHCHECK":
			health = rest
		case "ENTRYPOINT":
			entry = rest
		case "RUN":
			t.Errorf("RUN %s: a scratch image has no shell to run it", rest)
		}
	}
	if len(from) != 1 || from[0] != "scratch" {
		t.Errorf("FROM %v, want only `FROM scratch` (nothing to pull)", from)
	}
	joined := strings.Join(copies, "\n")
	for _, want := range []string{"ca-certificates.crt /etc/ssl/certs/ca-certificates.crt", "shardproxy /usr/local/bin/shardproxy", "passwd group /etc/"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no `COPY %s`", want)
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q, want a numeric non-root uid (Kubernetes' runAsNonRoot needs a number)", user)
	}
	passwd, err := os.ReadFile("container/passwd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(passwd), ":x:"+uid+":") {
		t.Errorf("container/passwd has no entry for uid %s", uid)
	}
	if !strings.Contains(health, `"/usr/local/bin/shardproxy", "--healthcheck"`) || !strings.Contains(health, "/healthz") {
		t.Errorf("HEALTHCHECK %q, want the binary's --healthcheck on /healthz", health)
	}
	if entry != `["/usr/local/bin/shardproxy"]` {
		t.Errorf("ENTRYPOINT %s", entry)
	}
}

// podmanRuntime returns the global podman options (the OCI runtime) and
// the run options (rlimits) that let containers run on this machine, or an
// error saying why they cannot. Containers in containers often cannot raise
// rlimits (podman's default nofile) or use crun with hybrid cgroups;
// explicit limits and runc get past both.
func podmanRuntime(podman, image string) (global, limits []string, err error) {
	limits = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}
	var errs []string
	for _, runtime := range []string{"", "runc"} {
		var pre []string
		if runtime != "" {
			if _, err := exec.LookPath(runtime); err != nil {
				continue
			}
			pre = []string{"--runtime", runtime}
		}
		// --no-healthcheck: podman schedules HEALTHCHECKs with systemd
		// timers, which a machine without systemd as init cannot create; the
		// test runs the health check command itself.
		args := append(append(pre, "run", "--rm", "--no-healthcheck"), limits...)
		out, err := exec.Command(podman, append(args, image, "--version")...).CombinedOutput()
		if err == nil && strings.HasPrefix(string(out), "shardproxy ") {
			return pre, limits, nil
		}
		errs = append(errs, fmt.Sprintf("runtime %q: %v: %s", runtime, err, strings.TrimSpace(string(out))))
	}
	return nil, nil, fmt.Errorf("%s", strings.Join(errs, "; "))
}

// TestContainerImage builds the image with podman (no base image to pull)
// and, where podman can run containers, runs it against a real Redis.
func TestContainerImage(t *testing.T) {
	podman := testenv.RequireBinary(t, "podman")
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		t.Fatalf("CA bundle: %v (apt-get install ca-certificates)", err)
	}
	// FROM scratch has no dynamic loader or libc: the binary must be static.
	bin := buildProxy(t)
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked; the image needs CGO_ENABLED=0", bin)
		}
	}
	ef.Close()
	tag := fmt.Sprintf("localhost/shardproxy-test:%d", os.Getpid())
	build := exec.Command("./container/build.sh", tag)
	build.Env = append(os.Environ(), "SHARDPROXY_BINARY="+bin)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("container/build.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(podman, "rmi", "-f", tag).Run() })

	out, err := exec.Command(podman, "image", "inspect", tag, "--format",
		"{{.Size}}|{{.Config.User}}|{{json .Config.Healthcheck}}|{{len .RootFS.Layers}}").Output()
	if err != nil {
		t.Fatalf("podman image inspect: %v", err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	size, _ := strconv.ParseInt(f[0], 10, 64)
	t.Logf("image %s: %.1f MB, user %s, %s layers", tag, float64(size)/1e6, f[1], f[3])
	if size <= 0 || size > 40e6 {
		t.Errorf("image size %d bytes, want a small image (<= 40 MB)", size)
	}
	if f[1] != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532", f[1])
	}
	if !strings.Contains(f[2], "/healthz") {
		t.Errorf("image health check %s: want /healthz (built with --format docker?)", f[2])
	}

	global, limits, err := podmanRuntime(podman, tag)
	if err != nil {
		t.Logf("podman cannot run containers on this machine, so only the build and the image configuration were checked: %v", err)
		if testenv.InCI() {
			t.Logf("CI=true: not failing, the machine lacks what podman needs (see above); the static checks in TestContainerfile ran")
		}
		return
	}
	t.Logf("podman runs containers here with %v %v", global, limits)

	redis := testenv.StartRedis(t)
	port, mport := testenv.FreePort(t), testenv.FreePort(t)
	conf := filepath.Join(t.TempDir(), "shardproxy.yml")
	cfg := fmt.Sprintf("main:\n  listen: 127.0.0.1:%d\n  redis: true\n  servers:\n    - %s:1 shard1\n", port, redis.Addr)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("shardproxy-test-%d", os.Getpid())
	args := append(append(append([]string{}, global...), "run", "-d", "--no-healthcheck", "--name", name, "--network", "host"), limits...)
	args = append(args, "-v", conf+":/etc/shardproxy/shardproxy.yml:ro", tag,
		"-c", "/etc/shardproxy/shardproxy.yml", "--metrics-listen", fmt.Sprintf("127.0.0.1:%d", mport))
	if out, err := exec.Command(podman, args...).CombinedOutput(); err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := exec.Command(podman, "logs", name).CombinedOutput()
			t.Logf("container logs:\n%s", logs)
		}
		_ = exec.Command(podman, append(append([]string{}, global...), "rm", "-f", "-t", "0", name)...).Run()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testenv.WaitFor(t, 20*time.Second, func() bool {
		v, err := testenv.Do(addr, "PING")
		return err == nil && v == "PONG"
	}, "the proxy in the container does not answer PING on %s", addr)
	if _, err := testenv.Do(addr, "SET", "container:k", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := testenv.Do(redis.Addr, "GET", "container:k"); err != nil || v != "v" {
		t.Errorf("GET on the shard = %v, %v; want the value set through the container", v, err)
	}
	// The health check command of the image, run inside the container
	// (its URL here is the metrics port chosen above).
	hc := exec.Command(podman, append(append([]string{}, global...), "exec", name, "/usr/local/bin/shardproxy", "--healthcheck", fmt.Sprintf("http://127.0.0.1:%d/healthz", mport))...)
	if out, err := hc.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Errorf("health check in the container: %v %q", err, out)
	}
	// The process runs as the image's user.
	out, err = exec.Command(podman, append(append([]string{}, global...), "inspect", name, "--format", "{{.Config.User}}")...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "65532:65532" {
		t.Errorf("container user = %q, %v; want 65532:65532", out, err)
	}
}

// TestKubernetesConfigMapConfig loads the configuration in
// kubernetes/configmap.yaml with the proxy's own -t.
func TestKubernetesConfigMapConfig(t *testing.T) {
	b, err := os.ReadFile("kubernetes/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	cfg, ok := cm.Data["shardproxy.yml"]
	if !ok {
		t.Fatalf("configmap.yaml has no data key shardproxy.yml")
	}
	path := filepath.Join(t.TempDir(), "shardproxy.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := buildProxy(t)
	out, err := exec.Command(bin, "-t", "-c", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "syntax is ok") {
		t.Errorf("shardproxy -t on the ConfigMap's configuration: %v\n%s", err, out)
	}
}
