package app

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// A local directory renders as it is on disk: uncommitted changes
// included, no commit, an overlay's ../base reachable inside the work tree.
func TestRenderLocalReadsTheWorkTree(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{
		"apps/base/kustomization.yaml":    "resources: [cm.yaml]\n",
		"apps/base/cm.yaml":               configMap("web"),
		"apps/web/kustomization.yaml":     "resources: [../base]\nnamePrefix: prod-\n",
		"apps/web/extra-not-in-base.yaml": configMap("unused"),
	})
	// Uncommitted: a new resource in the overlay.
	if err := os.WriteFile(filepath.Join(r.Dir, "apps/web/new.yaml"), []byte(configMap("new")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "apps/web/kustomization.yaml"), []byte("resources: [../base, new.yaml]\nnamePrefix: prod-\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Render(context.Background(), Source{Local: filepath.Join(r.Dir, "apps/web"), Repo: "ignored", Revision: "no-such"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"prod-new", "prod-web"}, names(got.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	root, _ := filepath.EvalSymlinks(r.Dir)
	info := got.Source
	info.Root, info.Repo = mustEval(t, info.Root), mustEval(t, info.Repo)
	info.Local = mustEval(t, info.Local)
	want := SourceInfo{Repo: root, Root: root, Path: "apps/web", Local: filepath.Join(root, "apps/web")}
	if diff := cmp.Diff(want, info); diff != "" {
		t.Errorf("source info (-want +got):\n%s", diff)
	}
	if len(got.Warnings) != 0 {
		t.Errorf("warnings %q, want none (nothing is uncommitted in a local render)", got.Warnings)
	}
}

// Outside a work tree the directory itself is the root: nothing above it
// is read.
func TestRenderLocalOutsideGit(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "base.yaml"), []byte(configMap("base")), 0o644)
	os.WriteFile(filepath.Join(dir, "app/kustomization.yaml"), []byte("resources: [../base.yaml]\n"), 0o644)
	_, err := Render(context.Background(), Source{Local: filepath.Join(dir, "app")}, Options{})
	if err == nil {
		t.Fatal("rendered a file above the local directory outside any work tree")
	}
	os.WriteFile(filepath.Join(dir, "app/kustomization.yaml"), []byte("resources: [cm.yaml]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "app/cm.yaml"), []byte(configMap("app")), 0o644)
	got, err := Render(context.Background(), Source{Local: filepath.Join(dir, "app")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"app"}, names(got.Objects)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if got.Source.Path != "." || got.Source.Commit != "" {
		t.Errorf("source info %+v, want path . and no commit", got.Source)
	}
	if _, err := Render(context.Background(), Source{Local: filepath.Join(dir, "missing")}, Options{}); err == nil {
		t.Error("a missing local directory rendered")
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	e, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
