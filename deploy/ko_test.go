package deploy_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	pathpkg "path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/release"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// koConfig is the part of .ko.yaml this repository uses.
type koConfig struct {
	DefaultBaseImage string   `json:"defaultBaseImage"`
	DefaultPlatforms []string `json:"defaultPlatforms"`
	Builds           []struct {
		ID      string   `json:"id"`
		Main    string   `json:"main"`
		Env     []string `json:"env"`
		Flags   []string `json:"flags"`
		Ldflags []string `json:"ldflags"`
	} `json:"builds"`
}

// .ko.yaml builds what the manifests' ko:// reference names, on a distroless
// nonroot base, stamped as `make build` and the release archives stamp it.
func TestKoConfig(t *testing.T) {
	b, err := os.ReadFile("../.ko.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg koConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	if !strings.HasPrefix(cfg.DefaultBaseImage, "gcr.io/distroless/static") || !strings.Contains(cfg.DefaultBaseImage, ":nonroot") {
		t.Errorf("defaultBaseImage %q, want distroless static, nonroot", cfg.DefaultBaseImage)
	}
	if len(cfg.Builds) != 1 {
		t.Fatalf("%d builds, want the one of ./cmd/kubectl-gitops", len(cfg.Builds))
	}
	build := cfg.Builds[0]
	if got := "ko://" + release.Module + "/" + strings.TrimPrefix(build.Main, "./"); got != KoImage {
		t.Errorf("build main %q is image %s; the manifests use %s", build.Main, got, KoImage)
	}
	// ko's templating: text/template with missingkey=error over Env (the
	// build's environment) and Git (commit information, empty outside Git).
	for _, tt := range []struct {
		env                     map[string]string
		commit                  string
		wantVersion, wantCommit string
	}{
		{map[string]string{"VERSION": "v1.2.3"}, "0123456789abcdef0123456789abcdef01234567", "v1.2.3", "0123456789abcdef0123456789abcdef01234567"},
		{map[string]string{}, "", "v0.0.0-dev", "unknown"},
	} {
		data := map[string]any{"Env": tt.env, "Git": map[string]any{"FullCommit": tt.commit, "Tag": "", "ShortCommit": ""}}
		var got []string
		for _, f := range build.Ldflags {
			tmpl, err := template.New("ldflags").Option("missingkey=error").Parse(f)
			if err != nil {
				t.Fatalf("ldflag %q: %v", f, err)
			}
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, data); err != nil {
				t.Fatalf("ldflag %q with %v: %v", f, tt.env, err)
			}
			got = append(got, buf.String())
		}
		if want := release.LDFlags(tt.wantVersion, tt.wantCommit); strings.Join(got, " ") != want {
			t.Errorf("ldflags with env %v, commit %q:\n got %s\nwant %s", tt.env, tt.commit, strings.Join(got, " "), want)
		}
	}
}

// stampedVersion is the VERSION the image test builds with.
const stampedVersion = "v9.9.9"

// The release workflow installs the ko these tests build and run.
func TestKoVersionMatchesRelease(t *testing.T) {
	mod, err := os.ReadFile("../hack/ko/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/google/ko (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("hack/ko/go.mod requires no github.com/google/ko version")
	}
	pinned := string(m[1])
	b, err := os.ReadFile("../.github/workflows/release.yml")
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		Permissions map[string]string `json:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				Uses string            `json:"uses"`
				With map[string]string `json:"with"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("release.yml: %v", err)
	}
	if wf.Permissions["packages"] != "write" {
		t.Errorf("release.yml: permissions.packages %q, want write (to push to ghcr.io)", wf.Permissions["packages"])
	}
	var found int
	for _, job := range wf.Jobs {
		for _, step := range job.Steps {
			if !strings.HasPrefix(step.Uses, "ko-build/setup-ko@") {
				continue
			}
			found++
			if step.With["version"] != pinned {
				t.Errorf("release.yml installs ko %q; hack/ko/go.mod pins %s, which the tests run", step.With["version"], pinned)
			}
		}
	}
	if found != 1 {
		t.Errorf("release.yml has %d ko-build/setup-ko steps, want 1", found)
	}
}

// TestKoImage runs the real ko of hack/ko, with the repository's .ko.yaml,
// against an in-process registry that holds a stand-in for the distroless
// base (gcr.io is not reachable from tests): `ko build` must push an image
// that runs the stamped, static kubectl-gitops, and `ko resolve` must turn
// the manifests' ko:// reference into that image's digest.
func TestKoImage(t *testing.T) {
	ko, err := tools.EnsureKo(context.Background(), tools.Options{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	repo := host + "/kubectl-gitops"
	base := host + "/distroless/static:nonroot"
	pushBase(t, base)

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// Only what the test sets: no KO_* or registry login of the caller's.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KO_") && !strings.HasPrefix(kv, "DOCKER_CONFIG=") && !strings.HasPrefix(kv, "VERSION=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"KO_DOCKER_REPO="+repo,
		// Overrides .ko.yaml's defaultBaseImage; the rest of it (builds,
		// ldflags) is used as it is.
		"KO_DEFAULTBASEIMAGE="+base,
		"DOCKER_CONFIG="+t.TempDir(),
		"VERSION="+stampedVersion,
	)
	runKo := func(t *testing.T, stdin []byte, args ...string) string {
		t.Helper()
		cmd := exec.Command(ko, args...)
		cmd.Dir, cmd.Env = root, env
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ko %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
		}
		t.Logf("ko %s: %s", args[0], time.Since(start).Round(time.Millisecond))
		return string(out)
	}

	// ko stamps the commit from `git rev-parse HEAD` (.ko.yaml's .Git.FullCommit).
	wantCommit := "unknown"
	if out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		wantCommit = strings.TrimSpace(string(out))
	}

	out := runKo(t, nil, "build", "--bare", "--platform=linux/amd64", "./cmd/kubectl-gitops")
	built, err := name.NewDigest(strings.TrimSpace(out), name.StrictValidation)
	if err != nil {
		t.Fatalf("ko build printed %q, want %s@sha256:...: %v", out, repo, err)
	}
	if built.Context().Name() != repo {
		t.Fatalf("ko build pushed %s, want it in %s (--bare)", built, repo)
	}

	t.Run("image", func(t *testing.T) {
		img := amd64Image(t, built)
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.OS != "linux" || cfg.Architecture != "amd64" {
			t.Errorf("image platform %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
		}
		if want := []string{"/ko-app/kubectl-gitops"}; !slices.Equal(cfg.Config.Entrypoint, want) {
			t.Errorf("entrypoint %q, want %q (the pod's args start with the verb)", cfg.Config.Entrypoint, want)
		}
		if len(cfg.Config.Cmd) != 0 {
			t.Errorf("cmd %q, want none", cfg.Config.Cmd)
		}
		if cfg.Config.User != "65532" {
			t.Errorf("user %q, want the base's 65532 (nonroot)", cfg.Config.User)
		}
		files := extract(t, img, "ko-app/kubectl-gitops", "etc/passwd")
		if files["etc/passwd"] == nil {
			t.Error("the base's etc/passwd is not in the image: the base layer was dropped")
		}
		bin := files["ko-app/kubectl-gitops"]
		if bin == nil {
			t.Fatal("no /ko-app/kubectl-gitops in the image")
		}
		checkStaticELF(t, bin)

		path := filepath.Join(t.TempDir(), "kubectl-gitops")
		if err := os.WriteFile(path, bin, 0o755); err != nil {
			t.Fatal(err)
		}
		// What the go command recorded (with -trimpath it leaves -ldflags
		// out, go.dev/issue/52372): no cgo, linux/amd64.
		bi, err := buildinfo.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		for key, want := range map[string]string{
			"-trimpath":   "true",
			"CGO_ENABLED": "0",
			"GOOS":        "linux",
			"GOARCH":      "amd64",
		} {
			if settings[key] != want {
				t.Errorf("build setting %s = %q, want %q", key, settings[key], want)
			}
		}
		if bi.Path != release.Module+"/cmd/kubectl-gitops" {
			t.Errorf("binary of %s, want %s/cmd/kubectl-gitops", bi.Path, release.Module)
		}

		// .Env.VERSION and .Git.FullCommit went through .ko.yaml's ldflags.
		for _, want := range []string{stampedVersion, wantCommit} {
			if !bytes.Contains(bin, []byte(want)) {
				t.Errorf("the binary does not hold %q: not stamped", want)
			}
		}
		if host := runtime.GOOS + "/" + runtime.GOARCH; host != "linux/amd64" {
			t.Logf("the image's binary is not run: this host is %s", host)
			return
		}
		out, err := exec.Command(path, "version", "-o", "json").Output()
		if err != nil {
			t.Fatalf("kubectl-gitops version of the image: %v", err)
		}
		var info struct{ Version, Commit, Platform string }
		if err := json.Unmarshal(out, &info); err != nil {
			t.Fatalf("version -o json: %v\n%s", err, out)
		}
		if info.Version != stampedVersion || info.Commit != wantCommit || info.Platform != "linux/amd64" {
			t.Errorf("the image's kubectl-gitops reports %+v, want version %s, commit %s, linux/amd64", info, stampedVersion, wantCommit)
		}
	})

	t.Run("resolve", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kustomize), "build", ".")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		manifests, err := cmd.Output()
		if err != nil {
			t.Fatalf("kustomize build deploy: %v\n%s", err, stderr.Bytes())
		}
		resolved := runKo(t, manifests, "resolve", "--bare", "--platform=linux/amd64", "-f", "-")
		if strings.Contains(resolved, "ko://") {
			t.Errorf("ko resolve left a ko:// reference:\n%s", resolved)
		}
		objs := decode(t, []byte(resolved))
		if got, want := len(objs), len(decode(t, manifests)); got != want {
			t.Errorf("ko resolve gave %d objects for kustomize's %d", got, want)
		}
		ws := workloads(t, objs)
		if len(ws) == 0 {
			t.Fatal("no workload in the resolved manifests")
		}
		// ko builds reproducibly: resolving builds the same image again, so
		// the manifests name the digest `ko build` pushed. (A commit or an
		// edit in this work tree while the test runs also changes it.)
		for _, w := range ws {
			for _, c := range append(w.template.Spec.InitContainers, w.template.Spec.Containers...) {
				if c.Image != built.String() {
					t.Errorf("%s: container %s has image %q, want %s", w.ref, c.Name, c.Image, built)
				}
			}
		}
		if _, err := remote.Head(built); err != nil {
			t.Errorf("%s is not in the registry: %v", built, err)
		}
	})
}

// pushBase pushes a minimal stand-in for distroless static nonroot to ref: an
// index with one linux/amd64 image, user 65532 and a layer with etc/passwd.
func pushBase(t *testing.T, ref string) {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	passwd := []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write(passwd); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layer.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		OS:           "linux",
		Architecture: "amd64",
		Config: v1.Config{
			User: "65532",
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, l); err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{
		Add:        img,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
	})
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatalf("push base %s: %v", ref, err)
	}
}

// amd64Image is the linux/amd64 image ref names: ko pushes the image itself
// for one platform, an index of them for several (as the release does).
func amd64Image(t *testing.T, ref name.Digest) v1.Image {
	t.Helper()
	img, err := remote.Image(ref, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return img
}

// extract returns the regular files of img's filesystem (its layers
// flattened) at the given paths, nil for those missing.
func extract(t *testing.T, img v1.Image, paths ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read image filesystem: %v", err)
		}
		p := strings.TrimPrefix(pathpkg.Clean("/"+h.Name), "/")
		if !slices.Contains(paths, p) {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			t.Errorf("/%s is of tar type %q, want a regular file", p, h.Typeflag)
			continue
		}
		if p == "ko-app/kubectl-gitops" && h.Mode&0o111 == 0 {
			t.Errorf("/%s has mode %o, not executable", p, h.Mode)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = b
	}
	return out
}

// checkStaticELF checks b is a linux/amd64 ELF executable that needs no
// dynamic loader or shared library, stripped (.ko.yaml's -s -w).
func checkStaticELF(t *testing.T, b []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/ko-app/kubectl-gitops is not an ELF file: %v", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || f.OSABI != elf.ELFOSABI_NONE {
		t.Errorf("ELF %v %v %v %v, want a 64-bit x86-64 executable (ET_EXEC, System V ABI)", f.Class, f.Machine, f.Type, f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("ELF has a %v program header: not a static binary", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
		t.Errorf("ELF needs shared libraries %q", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("ELF has a symbol table: not linked with -s")
	}
}
