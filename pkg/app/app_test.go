package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s}\ndata: {k: v}\n"

func configMap(name string) string { return strings.Replace(cm, "%s", name, 1) }

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	return out
}

// --repo naming a directory inside a work tree renders --path below that
// directory, says so, and reads nothing outside it.
func TestRenderDirectoryInsideRepository(t *testing.T) {
	r := testrepo.New(t)
	commit := r.Commit("first", map[string]string{
		"testdata/config-repo/apps/web/cm.yaml": configMap("web"),
		"testdata/config-repo/top.yaml":         configMap("top"),
		"elsewhere.yaml":                        configMap("elsewhere"),
	})
	repo := filepath.Join(r.Dir, "testdata", "config-repo")
	for _, tt := range []struct {
		path, wantPath string
		want           []string
	}{
		{".", "testdata/config-repo", []string{"web", "top"}},
		{"", "testdata/config-repo", []string{"web", "top"}},
		{"apps/web", "testdata/config-repo/apps/web", []string{"web"}},
	} {
		got, err := Render(context.Background(), Source{Repo: repo, Path: tt.path}, Options{})
		if err != nil {
			t.Fatalf("path %q: %v", tt.path, err)
		}
		if diff := cmp.Diff(tt.want, names(got.Objects)); diff != "" {
			t.Errorf("path %q: objects (-want +got)\n%s", tt.path, diff)
		}
		want := SourceInfo{Repo: r.Dir, Root: r.Dir, Path: tt.wantPath, Revision: "HEAD", Commit: commit, Message: "first", Author: "test <test@example.com>"}
		if diff := cmp.Diff(want, got.Source); diff != "" {
			t.Errorf("path %q: source (-want +got)\n%s", tt.path, diff)
		}
		if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "repository root is "+r.Dir+"; rendering path "+tt.wantPath) {
			t.Errorf("path %q: warnings %q", tt.path, got.Warnings)
		}
	}
	// What lies outside the named directory cannot be reached.
	if _, err := Render(context.Background(), Source{Repo: repo, Path: "../../elsewhere.yaml"}, Options{}); err == nil || !strings.Contains(err.Error(), "leaves the repository") {
		t.Errorf("path outside the directory: got %v", err)
	}
}

func TestRenderWarnsOfUncommittedChanges(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{
		"apps/web/cm.yaml": configMap("web"),
		"apps/db/cm.yaml":  configMap("db"),
	})
	for name, body := range map[string]string{
		"apps/web/cm.yaml":  configMap("web-edited"),
		"apps/web/new.yaml": configMap("new"),
		"apps/db/cm.yaml":   configMap("db-edited"),
	} {
		if err := os.WriteFile(filepath.Join(r.Dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var told []string
	got, err := Render(context.Background(), Source{Repo: r.Dir, Path: "apps/web"}, Options{Warn: func(s string) { told = append(told, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"web"}, names(got.Objects)); diff != "" {
		t.Errorf("objects: the commit is rendered, not the work tree (-want +got)\n%s", diff)
	}
	if len(told) != 1 || !strings.Contains(told[0], "2 uncommitted changes under apps/web in "+r.Dir+" are not part of this render") ||
		!strings.Contains(told[0], ": apps/web/cm.yaml, apps/web/new.yaml;") || strings.Contains(told[0], "apps/db") {
		t.Errorf("warnings %q", told)
	}
	if diff := cmp.Diff(told, got.Warnings); diff != "" {
		t.Errorf("Rendered.Warnings differ from what Warn was told:\n%s", diff)
	}
}

func TestRenderRecordsOrigin(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{"cm.yaml": configMap("a")})
	if out, err := exec.Command("git", "-C", r.Dir, "remote", "add", "origin", "https://ci:t0ken-value@git.example/config.git").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, err := Render(context.Background(), Source{Repo: r.Dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Source.Origin != "https://git.example/config.git" || got.Source.Repo != r.Dir || got.Source.Path != "." {
		t.Errorf("source %+v", got.Source)
	}
}

// The age keys reach our decrypt function through a private file that
// exists while the function runs and is gone when Render returns; the
// command is told of its directory and told again once it is removed.
func TestDecryptKeyFileIsPrivateAndRemoved(t *testing.T) {
	id := "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
	keys, err := sops.LoadKeys(sops.KeySources{Files: []string{writeFile(t, "keys.txt", id+"\n")}})
	if err != nil {
		t.Skipf("key: %v", err)
	}
	seen := filepath.Join(t.TempDir(), "seen")
	// Self stands in for kubectl-gitops: it notes the key file it was
	// given, and its mode, and passes the ResourceList through.
	// It must be told to read only that file (never the environment's
	// keys or sops' keys.txt: a tenant's render chose its keys).
	self := writeFile(t, "kubectl-gitops", "#!/bin/sh\n[ \"$3\" = --only-age-key-files ] || exit 9\nstat -c '%a %n' \"$5\" > "+seen+"\ncat\n")
	os.Chmod(self, 0o755)
	r := testrepo.New(t)
	r.Commit("first", map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [decrypt.yaml]\n",
		"app/cm.yaml":            configMap("a"),
		"app/decrypt.yaml":       "apiVersion: fn.kubectl-gitops.dev/v1alpha1\nkind: Decrypt\nmetadata:\n  name: decrypt\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: kubectl-gitops\n        args: [fn, decrypt]\n",
	})
	var tracked, untracked []string
	_, err = Render(context.Background(), Source{Repo: r.Dir, Path: "app", Keys: keys}, Options{
		Self: self, OwnFunctions: map[string]bool{"decrypt": true},
		OnPrivateDir: func(dir string) func() {
			tracked = append(tracked, dir)
			return func() { untracked = append(untracked, dir) }
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(seen)
	if err != nil {
		t.Fatalf("the decrypt function did not run: %v", err)
	}
	mode, file, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if mode != "600" || len(tracked) != 1 || filepath.Dir(file) != tracked[0] {
		t.Errorf("key file %s mode %s, tracked %v", file, mode, tracked)
	}
	if _, err := os.Stat(tracked[0]); !os.IsNotExist(err) {
		t.Errorf("the key directory is left: %v", err)
	}
	if diff := cmp.Diff(tracked, untracked); diff != "" {
		t.Errorf("untracked (-tracked +untracked)\n%s", diff)
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A remote repository is described without the credentials its URL
// carried, which still authenticate.
func TestRenderRemoteSourceInfo(t *testing.T) {
	r := testrepo.New(t)
	commit := r.Commit("first", map[string]string{"apps/web/cm.yaml": configMap("web")})
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(srv.Root())
	if out, err := exec.Command("git", "clone", "--bare", "-q", r.Dir, filepath.Join(srv.Root(), "config.git")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	const password = "url-pa55word"
	srv.Auth("ci", password)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	defer srv.StopHTTP()
	host := strings.TrimPrefix(srv.HTTPAddress(), "http://")
	got, err := Render(context.Background(), Source{Repo: "http://ci:" + password + "@" + host + "/config.git", Revision: "main", Path: "apps/web"}, Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	want := SourceInfo{Repo: "http://" + host + "/config.git", Path: "apps/web", Revision: "main", Commit: commit, Message: "first", Author: "test <test@example.com>"}
	if diff := cmp.Diff(want, got.Source); diff != "" {
		t.Errorf("source (-want +got)\n%s", diff)
	}
	_, err = Render(context.Background(), Source{Repo: "http://ci:" + password + "@" + host + "/config.git", Revision: "main", Path: "apps/nope"}, Options{CacheDir: t.TempDir()})
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "render http://"+host+"/config.git at ") {
		t.Errorf("failing render: %v", err)
	}
}
