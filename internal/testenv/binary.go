package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// aptPackage returns the Debian package that installs the binary name.
func aptPackage(name string) string {
	switch name {
	case "redis-cli", "redis-benchmark", "redis-check-aof", "redis-check-rdb":
		return "redis-tools"
	case "promtool":
		return "prometheus"
	default: // redis-server, redis-sentinel, nutcracker, prometheus
		return name
	}
}

// InCI reports whether the environment variable CI is "true". Under CI a
// missing binary is a test failure rather than a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireBinary returns the path of the executable name, searched in PATH,
// then /usr/sbin and /usr/bin (Debian installs nutcracker in /usr/sbin, which
// is often not in a non-root PATH). When it is missing the test is skipped
// with the apt-get command that installs it, or fails when CI is "true".
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	pkg := aptPackage(name)
	msg := "testenv: %s not found in PATH, /usr/sbin, /usr/bin or /usr/local/bin; install it with: sudo apt-get install -y %s"
	if InCI() {
		t.Fatalf(msg+" (CI=true: missing binaries fail)", name, pkg)
	}
	t.Skipf(msg, name, pkg)
	return ""
}
