// Package peakrss measures the peak resident memory of commands run by
// benchmarks, each command's own: it runs them through a small launcher
// (see ./launcher), because on Linux a child inherits the RSS high-water
// mark of the process that forks it, and a Go benchmark process is large.
//
//	l := peakrss.New(b)
//	cmd := exec.Command("kubectl", "apply", ...)
//	peak := l.Wrap(cmd)
//	err := cmd.Run()
//	mb := peak() // MiB
package peakrss

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Launcher wraps commands so their peak RSS can be read after they ran.
type Launcher struct {
	bin, dir string
}

var (
	once     sync.Once
	built    string
	buildErr error
	buildOut []byte
)

// New builds the launcher once per process.
func New(tb testing.TB) *Launcher {
	tb.Helper()
	once.Do(func() {
		dir, err := os.MkdirTemp("", "peakrss-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "launcher")
		buildOut, buildErr = exec.Command("go", "build", "-o", built, "github.com/kubectl-gitops/kubectl-gitops/internal/peakrss/launcher").CombinedOutput()
	})
	if buildErr != nil {
		tb.Fatalf("build the peak-RSS launcher: %v\n%s", buildErr, buildOut)
	}
	return &Launcher{bin: built, dir: tb.TempDir()}
}

// Wrap makes cmd run through the launcher (its environment, directory and
// streams are kept) and returns a function that, after cmd ran, gives its
// peak RSS in MiB (0 when unknown).
func (l *Launcher) Wrap(cmd *exec.Cmd) func() float64 {
	f, err := os.CreateTemp(l.dir, "rss-")
	if err != nil {
		return func() float64 { return 0 }
	}
	f.Close()
	cmd.Args = append([]string{l.bin, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = l.bin
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "PEAKRSS_FILE="+f.Name())
	return func() float64 {
		b, err := os.ReadFile(f.Name())
		if err != nil {
			return 0
		}
		kib, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
		if err != nil {
			return 0
		}
		return kib / 1024
	}
}
