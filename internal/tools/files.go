package tools

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Files taken from Go modules rather than built; see EnsureFile.
const (
	// ServiceMonitorCRD is the Prometheus Operator's CustomResourceDefinition
	// of monitoring.coreos.com/v1 ServiceMonitor.
	ServiceMonitorCRD = "monitoring.coreos.com_servicemonitors.yaml"
)

// FilesList is the file of the hack/tools module that pins the files
// EnsureFile fetches: one a line, "module version h1-sum path-in-module".
const FilesList = "files.txt"

// pinnedFile is one line of FilesList.
type pinnedFile struct {
	Module, Version, Sum, Path string
}

// key names the cache folder of a pin: any change of the line is a new one.
func (p pinnedFile) key() string {
	h := sha256.Sum256([]byte(p.Module + " " + p.Version + " " + p.Sum + " " + p.Path))
	return hex.EncodeToString(h[:])[:16]
}

// EnsureFile returns the path of the pinned file name (the last element of
// its path in hack/tools/files.txt), downloading its module through the Go
// module proxy when the cache lacks it. The module's h1: sum must be the
// pinned one. The file lands in <CacheDir>/files/<key>/name by a rename, so
// concurrent callers never see half of it. When KUBECTL_GITOPS_TOOLS_DIR is
// set and holds name, that copy is used.
func EnsureFile(ctx context.Context, opts Options, name string) (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if p := filepath.Join(d, name); fileExists(p) {
			return p, nil
		}
	}
	if err := opts.complete(); err != nil {
		return "", err
	}
	pin, err := lookupFile(opts.ModuleDir, name)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(opts.CacheDir, "files", pin.key())
	dst := filepath.Join(dir, name)
	if fileExists(dst) {
		return dst, nil
	}
	fmt.Fprintf(opts.Log, "downloading %s@%s for %s\n", pin.Module, pin.Version, name)
	src, err := downloadModule(ctx, pin)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create tools cache: %w", err)
	}
	if err := copyInto(src, dir, name); err != nil {
		return "", fmt.Errorf("%s from %s@%s: %w", name, pin.Module, pin.Version, err)
	}
	return dst, nil
}

// lookupFile finds the pin of name in moduleDir's FilesList.
func lookupFile(moduleDir, name string) (pinnedFile, error) {
	list := filepath.Join(moduleDir, FilesList)
	b, err := os.ReadFile(list)
	if err != nil {
		return pinnedFile{}, fmt.Errorf("pinned files: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || !strings.HasPrefix(f[2], "h1:") || path.IsAbs(f[3]) || strings.Contains(f[3], "..") {
			return pinnedFile{}, fmt.Errorf("%s:%d: want \"module version h1-sum path-in-module\", got %q", list, n, line)
		}
		if path.Base(f[3]) == name {
			return pinnedFile{Module: f[0], Version: f[1], Sum: f[2], Path: f[3]}, nil
		}
	}
	return pinnedFile{}, fmt.Errorf("%s is not pinned in %s; add a line \"module version h1-sum path\" for it", name, list)
}

// downloadModule runs `go mod download` outside any module, so that nothing
// of this repository's dependency graph is touched, and returns the path of
// the pinned file in the module cache.
func downloadModule(ctx context.Context, pin pinnedFile) (string, error) {
	tmp, err := os.MkdirTemp("", "kubectl-gitops-download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", pin.Module+"@"+pin.Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output() // with -json, an error is reported in the output too
	var m struct{ Dir, Sum, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w\n%s", pin.Module, pin.Version, errors.Join(runErr, err), stderr.Bytes())
	}
	if m.Error != "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", pin.Module, pin.Version, m.Error)
	}
	if runErr != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w\n%s", pin.Module, pin.Version, runErr, stderr.Bytes())
	}
	if m.Sum != pin.Sum {
		return "", fmt.Errorf("%s@%s has sum %s, but %s pins %s; check the pin and your GOPROXY", pin.Module, pin.Version, m.Sum, FilesList, pin.Sum)
	}
	src := filepath.Join(m.Dir, filepath.FromSlash(pin.Path))
	if !fileExists(src) {
		return "", fmt.Errorf("%s@%s has no file %s; fix its path in %s", pin.Module, pin.Version, pin.Path, FilesList)
	}
	return src, nil
}

// copyInto copies src to dir/name through a temporary file and a rename.
func copyInto(src, dir, name string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(dir, "."+name+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	_, err = io.Copy(tmp, in)
	if err = errors.Join(err, tmp.Chmod(0o644), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, name))
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
