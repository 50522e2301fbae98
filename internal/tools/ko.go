package tools

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/flock"
)

// Ko is the name of ko's binary (https://ko.build), which builds the agent's
// container image; EnsureKo builds it.
const Ko = "ko"

// KoModule is the folder, next to hack/tools, of the module that pins ko. ko
// has a module of its own so that moving its pin rebuilds ko alone, not the
// Kubernetes binaries of hack/tools, and the other way round.
const KoModule = "ko"

// EnsureKo returns the path of the ko binary pinned by the hack/ko module,
// building it first when the cache lacks it. It lives in
// <CacheDir>/ko/<KoKey>/ko and lands there by renaming a finished temporary
// directory, under a lock of its own (a build of the other tools does not make
// it wait). When KUBECTL_GITOPS_TOOLS_DIR is set and holds ko, that copy is
// used.
func EnsureKo(ctx context.Context, opts Options) (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if p := filepath.Join(d, Ko); fileExists(p) {
			return p, nil
		}
	}
	if err := opts.complete(); err != nil {
		return "", err
	}
	moduleDir := opts.KoModuleDir
	if moduleDir == "" {
		moduleDir = filepath.Join(filepath.Dir(opts.ModuleDir), KoModule)
	}
	key, err := KoKey(moduleDir)
	if err != nil {
		return "", err
	}
	parent := filepath.Join(opts.CacheDir, "ko")
	dir := filepath.Join(parent, key)
	if isComplete(dir) {
		return filepath.Join(dir, Ko), nil
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create tools cache: %w", err)
	}
	unlock, err := flock.Lock(filepath.Join(parent, ".lock"))
	if err != nil {
		return "", fmt.Errorf("lock ko cache: %w", err)
	}
	defer unlock()
	if !isComplete(dir) { // another process may have built it while we waited
		if err := buildKo(ctx, opts, moduleDir, parent, dir); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, Ko), nil
}

// KoKey is the cache key of a hack/ko module: the first 16 hex digits of the
// SHA-256 over its go.mod and go.sum.
func KoKey(moduleDir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(moduleDir, name))
		if err != nil {
			return "", fmt.Errorf("hash ko module: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func buildKo(ctx context.Context, opts Options, moduleDir, parent, dir string) error {
	tmp, err := os.MkdirTemp(parent, ".build-")
	if err != nil {
		return fmt.Errorf("create ko build dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	fmt.Fprintf(opts.Log, "building ko from %s into %s (cold: a few minutes)\n", moduleDir, dir)
	build := opts
	build.ModuleDir = moduleDir
	if err := run(ctx, build, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp+string(filepath.Separator), "tool"); err != nil {
		return fmt.Errorf("build ko: %w", err)
	}
	if !fileExists(filepath.Join(tmp, Ko)) {
		return fmt.Errorf("build ko: %s was not produced; check the tool directive in %s/go.mod", Ko, moduleDir)
	}
	if err := install(tmp, dir, "ko"); err != nil {
		return err
	}
	fmt.Fprintf(opts.Log, "built ko in %s\n", time.Since(start).Round(time.Second))
	return nil
}
