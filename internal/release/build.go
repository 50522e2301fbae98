package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Module is the Go module path of kubectl-gitops; the version variables live
// in Module/pkg/version.
const Module = "github.com/kubectl-gitops/kubectl-gitops"

// minEpoch is 1980-01-01T00:00:00Z: zip entries keep MS-DOS times, which
// cannot say anything earlier.
const minEpoch = 315532800

// Options are the inputs of Build. Equal options, source and Go toolchain
// give byte-identical archives.
type Options struct {
	// Version is stamped into the binary and names the archives; a semantic
	// version with a leading v.
	Version string
	// Commit is stamped into the binary (kubectl gitops version shows it).
	Commit string
	// SourceDateEpoch is the time of every archive entry, in seconds since
	// 1970; use the commit time (git log -1 --format=%ct). Zip cannot record
	// times before 1980.
	SourceDateEpoch int64
	// Platforms to build; Platforms (all six) when empty.
	Platforms []Platform
	// OutDir receives the archives and checksums.txt; created when missing.
	OutDir string
	// SourceDir is the repository root: cmd/kubectl-gitops, LICENSE and
	// README.md are read from it. Empty means the working directory.
	SourceDir string
	// Go is the go command; empty means "go" on PATH.
	Go string
	// Log receives one line per step. Nil discards it.
	Log io.Writer
}

// Validate checks the options without touching the file system.
func (o Options) Validate() error {
	if err := CheckVersion(o.Version); err != nil {
		return err
	}
	if o.Commit == "" || strings.ContainsAny(o.Commit, " \t\n'\"") {
		return fmt.Errorf("commit %q: want the commit hash (git rev-parse HEAD)", o.Commit)
	}
	if o.SourceDateEpoch < minEpoch {
		return fmt.Errorf("source date epoch %d is before 1980, which zip archives cannot record; use the commit time (git log -1 --format=%%ct) or set SOURCE_DATE_EPOCH", o.SourceDateEpoch)
	}
	if o.OutDir == "" {
		return errors.New("no output directory given")
	}
	return nil
}

// LDFlags are the linker flags of a release binary: no symbol table or DWARF,
// version and commit stamped. `make build` uses the same.
func LDFlags(version, commit string) string {
	return fmt.Sprintf("-s -w -X %s/pkg/version.version=%s -X %s/pkg/version.commit=%s", Module, version, Module, commit)
}

// Build compiles kubectl-gitops for each platform, writes one archive per
// platform into OutDir, then OutDir/checksums.txt listing them. It returns
// the archives in build order.
func Build(ctx context.Context, o Options) ([]Artifact, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(o.Platforms) == 0 {
		o.Platforms = Platforms
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	src, err := filepath.Abs(o.SourceDir)
	if err != nil {
		return nil, err
	}
	var docs []File
	for _, name := range []string{"LICENSE", "README.md"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w; run from the kubectl-gitops repository root", name, err)
		}
		docs = append(docs, File{Name: name, Mode: 0o644, Data: b})
	}
	if _, err := os.Stat(filepath.Join(src, "cmd", "kubectl-gitops")); err != nil {
		return nil, fmt.Errorf("no cmd/kubectl-gitops in %s; run from the kubectl-gitops repository root", src)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	// Nothing from an earlier run may outlive this one: not the checksum
	// list (krew-manifest trusts only archives it names), nor archives of
	// other versions or platforms.
	sums := filepath.Join(o.OutDir, ChecksumsFile)
	if err := os.Remove(sums); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	old, err := filepath.Glob(filepath.Join(o.OutDir, "kubectl-gitops_*"))
	if err != nil {
		return nil, err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return nil, err
		}
	}
	work, err := os.MkdirTemp("", "kubectl-gitops-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	fetchEnv, err := moduleFetchEnv(ctx, o.Go)
	if err != nil {
		return nil, err
	}
	mtime := time.Unix(o.SourceDateEpoch, 0).UTC()
	var arts []Artifact
	for _, p := range o.Platforms {
		start := time.Now()
		bin := filepath.Join(work, p.OS+"_"+p.Arch, BinaryName(p))
		if err := goBuild(ctx, o, src, p, bin, fetchEnv); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		files := append([]File{{Name: BinaryName(p), Mode: 0o755, Data: data}}, docs...)
		art, err := writeArchive(o.OutDir, ArchiveName(o.Version, p), p, files, mtime)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "%-14s %s  %6.1f MB  %s\n", p, art.Path, float64(art.Size)/1e6, time.Since(start).Round(100*time.Millisecond))
		arts = append(arts, art)
	}
	if err := writeFileAtomic(sums, FormatChecksums(arts)); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "%-14s %s\n", "checksums", sums)
	return arts, nil
}

// fetchSettings say where modules come from and where caches live; they
// do not change what is built, so the builder's own values (possibly set
// with go env -w) are passed on even though the Go env file is turned off.
var fetchSettings = []string{"GOPROXY", "GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GOSUMDB", "GOINSECURE", "GOMODCACHE", "GOCACHE", "GOPATH"}

func moduleFetchEnv(ctx context.Context, goCmd string) ([]string, error) {
	out, err := exec.CommandContext(ctx, goCmd, append([]string{"env", "-json"}, fetchSettings...)...).Output()
	if err != nil {
		return nil, fmt.Errorf("%s env: %w", goCmd, err)
	}
	var vals map[string]string
	if err := json.Unmarshal(out, &vals); err != nil {
		return nil, fmt.Errorf("%s env -json: %w", goCmd, err)
	}
	var env []string
	for _, k := range fetchSettings {
		env = append(env, k+"="+vals[k])
	}
	return env, nil
}

func goBuild(ctx context.Context, o Options, src string, p Platform, out string, fetchEnv []string) error {
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", LDFlags(o.Version, o.Commit), "-o", out, "./cmd/kubectl-gitops")
	cmd.Dir = src
	// Everything else that changes the bytes is pinned: no cgo, the baseline
	// instruction sets, no ambient GOFLAGS, experiments or FIPS module, and
	// no Go env file (go env -w) or workspace that could set them again: an
	// empty variable falls back to the env file, GOENV=off does not.
	cmd.Env = append(append(os.Environ(), fetchEnv...),
		"CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch,
		"GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=", "GOEXPERIMENT=",
		"GOENV=off", "GOWORK=off", "GOFIPS140=off", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s: %w\n%s", p, err, stderr.Bytes())
	}
	return nil
}

func writeArchive(dir, name string, p Platform, files []File, mtime time.Time) (Artifact, error) {
	var buf bytes.Buffer
	if err := WriteArchive(&buf, p, files, mtime); err != nil {
		return Artifact{}, fmt.Errorf("%s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return Artifact{}, err
	}
	sum, err := FileSHA256(path)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Name: name, Path: path, SHA256: sum, Size: int64(buf.Len())}, nil
}

// writeFileAtomic writes data to a temporary file next to path, then renames
// it into place, so a reader never sees half an archive.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	err = errors.Join(werr, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
