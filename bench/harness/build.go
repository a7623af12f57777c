package harness

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Stale reports whether the binary bin is missing or older than any
// non-test Go source, go.mod or go.sum of the module at root (the nested
// bench module, .git and testdata excluded).
func Stale(root, bin string) (bool, error) {
	st, err := os.Stat(bin)
	if os.IsNotExist(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	built := st.ModTime()
	newer := false
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "testdata", "bench", "bin":
				if path != root {
					return filepath.SkipDir
				}
			}
			return nil
		}
		name := d.Name()
		src := (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || name == "go.mod" || name == "go.sum"
		if !src {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.ModTime().After(built) {
			newer = true
			return filepath.SkipAll
		}
		return nil
	})
	return newer, err
}

// EnsureProxy builds root/cmd/proxy into bin when Stale says so, the way
// `make build` does, and reports whether it built.
func EnsureProxy(ctx context.Context, root, bin string) (bool, error) {
	stale, err := Stale(root, bin)
	if err != nil || !stale {
		return false, err
	}
	// go build runs in root: a relative bin would land relative to root,
	// not where the caller (and Stale) look for it.
	abs, err := filepath.Abs(bin)
	if err != nil {
		return false, err
	}
	version := "dev"
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version="+version, "-o", abs, "./cmd/proxy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("go build ./cmd/proxy in %s: %v\n%s", root, err, out)
	}
	return true, nil
}
