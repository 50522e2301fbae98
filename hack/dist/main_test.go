package main_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/release"
)

const (
	stamped = "v1.2.3-e2e.1"
	commit  = "0123456789abcdef0123456789abcdef01234567"
	epoch   = "1700000000"
	repo    = "../.." // the repository root, from this package's directory
)

var host = release.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}

// programs builds the dist and krewmanifest commands once per test binary.
var programs = sync.OnceValues(func() (string, error) {
	bin, err := os.MkdirTemp("", "kubectl-gitops-dist-test-")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("go", "build", "-o", bin+string(filepath.Separator), ".", "../krewmanifest").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func program(t *testing.T, name string) string {
	t.Helper()
	bin, err := programs()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(bin, name)
}

// execute runs a command with exactly env and returns its output and exit code.
func execute(t *testing.T, dir string, env []string, name string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return o.String(), e.String(), 0
}

// dist runs the dist program for this machine's platform into a new
// directory, as `make dist DIST_PLATFORMS=<host>` does.
func dist(t *testing.T, extraEnv ...string) string {
	t.Helper()
	if !slices.Contains(release.Platforms, host) {
		t.Fatalf("this machine (%s) is not a platform a release ships", host)
	}
	out := t.TempDir()
	env := append(os.Environ(), "SOURCE_DATE_EPOCH=")
	_, stderr, code := execute(t, repo, append(env, extraEnv...), program(t, "dist"),
		"--version", stamped, "--commit", commit, "--source-date-epoch", epoch, "--platforms", host.String(), "--out", out)
	if code != 0 {
		t.Fatalf("dist: exit %d\n%s", code, stderr)
	}
	return out
}

var firstDist = struct {
	sync.Mutex
	dir string
}{}

// hostDist is one dist run shared by the tests of this package.
func hostDist(t *testing.T) string {
	t.Helper()
	firstDist.Lock()
	defer firstDist.Unlock()
	if firstDist.dir == "" {
		dir, err := os.MkdirTemp("", "kubectl-gitops-dist-")
		if err != nil {
			t.Fatal(err)
		}
		out := dist(t)
		for _, name := range []string{release.ArchiveName(stamped, host), release.ChecksumsFile} {
			if err := os.Rename(filepath.Join(out, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		firstDist.dir = dir
	}
	return firstDist.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if firstDist.dir != "" {
		os.RemoveAll(firstDist.dir)
	}
	if bin, err := programs(); err == nil {
		os.RemoveAll(bin)
	}
	os.Exit(code)
}

// Two runs of the dist program, the second in another time zone and
// output directory and with a Go env file (go env -w) that sets build tags
// and the FIPS module, write the same bytes; the archive holds the stamped
// binary, LICENSE and README.md with fixed owner, modes and time.
// `make dist` runs the same program for all six platforms.
func TestDistIsReproducible(t *testing.T) {
	first := hostDist(t)
	goEnv := filepath.Join(t.TempDir(), "go.env")
	if err := os.WriteFile(goEnv, []byte("GOFLAGS=-tags=leaked\nGOFIPS140=latest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	second := dist(t, "TZ=Pacific/Chatham", "GOENV="+goEnv)
	a, err := os.ReadFile(filepath.Join(first, release.ChecksumsFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(second, release.ChecksumsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("checksums.txt differs between two runs:\n%s\n%s", a, b)
	}
	name := release.ArchiveName(stamped, host)
	sum, err := release.FileSHA256(filepath.Join(first, name))
	if err != nil {
		t.Fatal(err)
	}
	if want := sum + "  " + name + "\n"; string(a) != want {
		t.Errorf("checksums.txt = %q, want %q", a, want)
	}

	f, err := os.Open(filepath.Join(first, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var listing []string
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		listing = append(listing, fmt.Sprintf("%s %o %d:%d %d", h.Name, h.Mode, h.Uid, h.Gid, h.ModTime.Unix()))
		if h.Name == "README.md" {
			if got, _ := io.ReadAll(tr); !bytes.Equal(got, readme) {
				t.Error("README.md in the archive is not the repository's")
			}
		}
	}
	want := []string{"LICENSE 644 0:0 " + epoch, "README.md 644 0:0 " + epoch, "kubectl-gitops 755 0:0 " + epoch}
	if strings.Join(listing, "\n") != strings.Join(want, "\n") {
		t.Errorf("archive entries:\n%s\nwant:\n%s", strings.Join(listing, "\n"), strings.Join(want, "\n"))
	}
}

func TestDistRejectsBadInput(t *testing.T) {
	env := append(os.Environ(), "SOURCE_DATE_EPOCH=")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--commit", commit, "--source-date-epoch", epoch},
			"dist: no version given; pass a semantic version with a leading v, such as v0.1.0\n"},
		{[]string{"--version", "1.2.3", "--commit", commit, "--source-date-epoch", epoch},
			`dist: version "1.2.3" must be a semantic version with a leading v, such as v0.1.0` + "\n"},
		{[]string{"--version", stamped, "--commit", commit},
			`dist: no --source-date-epoch and no SOURCE_DATE_EPOCH; pass the commit time: --source-date-epoch "$(git log -1 --format=%ct)"` + "\n"},
		{[]string{"--version", stamped, "--commit", commit, "--source-date-epoch", epoch, "--platforms", "linux/386"},
			`dist: platform "linux/386" is not one a release ships; use a comma-separated list of linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64` + "\n"},
	} {
		out := t.TempDir()
		_, stderr, code := execute(t, repo, env, program(t, "dist"), append(tc.args, "--out", out)...)
		if code != 2 || stderr != tc.want {
			t.Errorf("dist %s: exit %d, stderr %q; want 2, %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("dist %s wrote %d files", strings.Join(tc.args, " "), len(entries))
		}
	}
}

// make krew-manifest explains what it needs: a VERSION on the command line,
// a semantic one, and the archives `make dist` builds for it.
func TestMakeKrewManifestBadInput(t *testing.T) {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "VERSION=") })
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "VERSION is not set; run 'make krew-manifest VERSION=vX.Y.Z' with the version 'make dist' built (make dist VERSION=vX.Y.Z)"},
		{[]string{"VERSION=1.2.3"}, `krewmanifest: --version: version "1.2.3" must be a semantic version with a leading v, such as v0.1.0`},
		{[]string{"VERSION=v0.0.0-never-built"}, "; run 'make dist VERSION=v0.0.0-never-built' (every platform) first"},
	} {
		_, stderr, code := execute(t, repo, env, "make", append([]string{"--no-print-directory", "-s", "krew-manifest"}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("make krew-manifest %s: exit %d, stderr %q; want non-zero and %q", strings.Join(tc.args, " "), code, stderr, tc.want)
		}
	}
}
