// Package tools locates, and when needed builds, the real third-party binaries
// that the tests and the demo run: kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler, kubectl, kwok, kustomize, sops, krew, age and age-keygen.
//
// They are built from the Go module proxy by the separate module in hack/tools
// and cached outside the work tree, under the user's cache directory, in a
// folder named after a hash of hack/tools/go.mod and go.sum. A change of any
// pinned version therefore builds a new set, and every later run reuses it.
//
//	dir, err := tools.Ensure(ctx, tools.Options{Log: os.Stderr})
//	kubectl := filepath.Join(dir, tools.Kubectl)
//
// ko, which builds the agent's image, is pinned by a module of its own,
// hack/ko, and cached under a hash of that one (EnsureKo).
package tools

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/flock"
)

// Names of the binaries in a tools directory.
const (
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	KubeScheduler         = "kube-scheduler"
	Kubectl               = "kubectl"
	Etcd                  = "etcd"
	Kwok                  = "kwok"
	Kustomize             = "kustomize"
	Sops                  = "sops"
	Krew                  = "krew"
	Age                   = "age"
	AgeKeygen             = "age-keygen"

	// KwokStages is the kwok stage configuration (a YAML file, not a binary).
	KwokStages = "kwok-stages.yaml"
)

// All lists every file a complete tools directory holds.
var All = []string{
	KubeAPIServer, KubeControllerManager, KubeScheduler, Kubectl, Etcd, Kwok,
	Kustomize, Sops, Krew, Age, AgeKeygen, KwokStages,
}

// EnvDir names an environment variable that, when set, points at a ready
// tools directory and skips the lookup by hash.
const EnvDir = "KUBECTL_GITOPS_TOOLS_DIR"

// completeMarker is written last into a finished build, so that a directory
// without it is never mistaken for a usable one.
const completeMarker = ".complete"

// Options tune Ensure and Locate.
type Options struct {
	// ModuleDir is the hack/tools module. Empty means: search upwards from the
	// working directory for hack/tools/go.mod.
	ModuleDir string
	// KoModuleDir is the hack/ko module, for EnsureKo. Empty means: the
	// folder KoModule next to ModuleDir.
	KoModuleDir string
	// CacheDir is the parent of the per-hash tool directories. Empty means
	// <os.UserCacheDir()>/kubectl-gitops/tools.
	CacheDir string
	// Log receives build progress. Nil discards it.
	Log io.Writer
}

func (o *Options) complete() error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.ModuleDir == "" {
		dir, err := findModuleDir()
		if err != nil {
			return err
		}
		o.ModuleDir = dir
	}
	if o.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no cache directory for the tools: %w; set %s to a directory of built tools", err, EnvDir)
		}
		o.CacheDir = filepath.Join(base, "kubectl-gitops", "tools")
	}
	return nil
}

// Locate returns the tools directory for the current hack/tools pins and
// whether it is complete. It builds nothing.
func Locate(opts Options) (dir string, ready bool, err error) {
	if d := os.Getenv(EnvDir); d != "" {
		return d, isComplete(d), nil
	}
	if err := opts.complete(); err != nil {
		return "", false, err
	}
	key, err := Key(opts.ModuleDir)
	if err != nil {
		return "", false, err
	}
	dir = filepath.Join(opts.CacheDir, key)
	return dir, isComplete(dir), nil
}

// Ensure returns a complete tools directory, building it first when it is
// missing. Concurrent callers, in one process or many, build at most once: a
// file lock serialises builders, and a build lands by renaming a finished
// temporary directory into place, so no caller ever sees half-written files.
func Ensure(ctx context.Context, opts Options) (string, error) {
	if err := opts.complete(); err != nil {
		return "", err
	}
	dir, ready, err := Locate(opts)
	if err != nil || ready {
		return dir, err
	}
	if os.Getenv(EnvDir) != "" {
		return "", fmt.Errorf("%s=%s is not a complete tools directory (missing %s); unset it or run 'make tools'", EnvDir, dir, completeMarker)
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create tools cache: %w", err)
	}
	unlock, err := flock.Lock(filepath.Join(opts.CacheDir, ".lock"))
	if err != nil {
		return "", fmt.Errorf("lock tools cache: %w", err)
	}
	defer unlock()
	if isComplete(dir) { // another process built it while we waited
		return dir, nil
	}
	if err := build(ctx, opts, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Key is the cache key of a hack/tools module: the first 16 hex digits of the
// SHA-256 over its go.mod, go.sum and the kwok stage printer.
func Key(moduleDir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"go.mod", "go.sum", filepath.Join("kwok-stages", "main.go")} {
		b, err := os.ReadFile(filepath.Join(moduleDir, name))
		if err != nil {
			return "", fmt.Errorf("hash tools module: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(name), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func build(ctx context.Context, opts Options, dir string) error {
	tmp, err := os.MkdirTemp(opts.CacheDir, ".build-")
	if err != nil {
		return fmt.Errorf("create tools build dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	fmt.Fprintf(opts.Log, "building tools from %s into %s (cold: several minutes)\n", opts.ModuleDir, dir)
	// "tool" is the go.mod tool-directive meta-package: every pinned binary.
	if err := run(ctx, opts, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", tmp+string(filepath.Separator), "tool", "./kwok-stages"); err != nil {
		return fmt.Errorf("build tools: %w", err)
	}
	// go names a binary after its package path, dropping a /vN suffix; etcd's
	// server package is go.etcd.io/etcd/server/v3.
	if err := os.Rename(filepath.Join(tmp, "server"), filepath.Join(tmp, Etcd)); err != nil {
		return fmt.Errorf("build tools: name etcd binary: %w", err)
	}
	stages, err := os.Create(filepath.Join(tmp, KwokStages))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(tmp, "kwok-stages"))
	cmd.Stdout, cmd.Stderr = stages, opts.Log
	err = errors.Join(cmd.Run(), stages.Close(), os.Remove(filepath.Join(tmp, "kwok-stages")))
	if err != nil {
		return fmt.Errorf("build tools: write kwok stages: %w", err)
	}
	for _, name := range All {
		if _, err := os.Stat(filepath.Join(tmp, name)); err != nil {
			return fmt.Errorf("build tools: %s was not produced; check the tool list in %s/go.mod", name, opts.ModuleDir)
		}
	}
	if err := install(tmp, dir, "tools"); err != nil {
		return err
	}
	fmt.Fprintf(opts.Log, "built tools in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// install makes the build in tmp the complete tool directory dir (what
// names it in errors): readable, marked complete, moved into place.
func install(tmp, dir, what string) error {
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if isComplete(dir) { // lost a race with a builder that held no lock
			return nil
		}
		return fmt.Errorf("install %s into %s: %w", what, dir, err)
	}
	return nil
}

func run(ctx context.Context, opts Options, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = opts.ModuleDir
	cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	return cmd.Run()
}

func isComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, completeMarker))
	return err == nil
}

// findModuleDir walks up from the working directory to the repository that
// holds hack/tools/go.mod.
func findModuleDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		candidate := filepath.Join(d, "hack", "tools")
		if _, err := os.Stat(filepath.Join(candidate, "go.mod")); err == nil {
			return candidate, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("hack/tools/go.mod not found above %s; run from the kubectl-gitops repository or set %s", wd, EnvDir)
		}
	}
}
