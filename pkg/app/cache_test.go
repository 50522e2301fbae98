package app

import (
	"context"
	"os"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// A commit rendered before is not rendered again: its files are not even
// written out. A new commit, another path or other render inputs render
// anew; what a caller does to the objects it got never reaches the cache.
func TestRenderCache(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{"apps/web/cm.yaml": configMap("web"), "apps/api/cm.yaml": configMap("api")})
	cache := NewRenderCache(10)
	var hits, misses int
	cache.OnLookup = func(hit bool) {
		if hit {
			hits++
		} else {
			misses++
		}
	}
	render1 := func(src Source) *Rendered {
		t.Helper()
		got, err := Render(context.Background(), src, Options{Cache: cache})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	web := Source{Repo: r.Dir, Path: "apps/web"}
	first := render1(web)
	first.Objects[0].SetName("changed-by-caller")
	again := render1(web)
	if hits != 1 || misses != 1 {
		t.Fatalf("hits %d misses %d; want 1 and 1", hits, misses)
	}
	if diff := cmp.Diff([]string{"web"}, names(again.Objects)); diff != "" {
		t.Errorf("cached objects (-want +got)\n%s", diff)
	}
	if again.Source.Commit != first.Source.Commit || again.Source.Path != "apps/web" {
		t.Errorf("cached source %+v", again.Source)
	}

	// Other inputs are other renders.
	render1(Source{Repo: r.Dir, Path: "apps/api"})
	render1(Source{Repo: r.Dir, Path: "apps/web", Directory: &render.Directory{Recurse: true}})
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	keys := &sops.Keys{}
	if err := keys.Add("test", []byte(id.String()+"\n")); err != nil {
		t.Fatal(err)
	}
	render1(Source{Repo: r.Dir, Path: "apps/web", Keys: keys})
	if hits != 1 || misses != 4 {
		t.Fatalf("after other inputs: hits %d misses %d; want 1 and 4", hits, misses)
	}

	// A new commit renders anew, and is what the render shows.
	second := r.Commit("second", map[string]string{"apps/web/cm2.yaml": configMap("web2")})
	got := render1(web)
	if hits != 1 || misses != 5 || got.Source.Commit != second {
		t.Fatalf("new commit: hits %d misses %d commit %s; want a miss of %s", hits, misses, got.Source.Commit, second)
	}
	if diff := cmp.Diff([]string{"web", "web2"}, names(got.Objects)); diff != "" {
		t.Errorf("new commit objects (-want +got)\n%s", diff)
	}
	if cache.Len() != 5 {
		t.Errorf("cache holds %d renders, want 5", cache.Len())
	}
}

// The cache is bounded: the least recently used render goes first.
func TestRenderCacheEvicts(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{"a/cm.yaml": configMap("a"), "b/cm.yaml": configMap("b"), "c/cm.yaml": configMap("c")})
	cache := NewRenderCache(2)
	var misses int
	cache.OnLookup = func(hit bool) {
		if !hit {
			misses++
		}
	}
	for _, p := range []string{"a", "b", "a", "c", "a", "b"} {
		if _, err := Render(context.Background(), Source{Repo: r.Dir, Path: p}, Options{Cache: cache}); err != nil {
			t.Fatal(err)
		}
	}
	// a, b miss; a hits; c misses (b goes); a hits; b misses again.
	if misses != 4 || cache.Len() != 2 {
		t.Errorf("misses %d, len %d; want 4 and 2", misses, cache.Len())
	}
}

// A lazy checkout writes no files until asked, and writes them once.
func TestRenderCacheHitWritesNoFiles(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{"cm.yaml": configMap("web")})
	cache := NewRenderCache(2)
	if _, err := Render(context.Background(), Source{Repo: r.Dir}, Options{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if _, err := Render(context.Background(), Source{Repo: r.Dir}, Options{Cache: cache}); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("a cached render wrote %d entries into TMPDIR", len(entries))
	}
}
