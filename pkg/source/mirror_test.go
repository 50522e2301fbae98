package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// A mirror whose pack or pack index is garbled (go-git panics on some
// such indexes) is found damaged when it fails the
// checkout or the files, and cloned afresh: Fetch, lazy or not, gives the
// commit's files. A sound mirror whose remote is gone is kept, and the
// error names the repository.
func TestDamagedMirrorIsClonedAgain(t *testing.T) {
	r := testrepo.New(t)
	sha := r.Commit("first", map[string]string{"app/cm.yaml": strings.Repeat("data ", 2000)})
	srv, _ := serveRepo(t, r)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	url := srv.HTTPAddress() + "/config.git"
	for _, tc := range []struct {
		lazy bool
		ext  string
	}{{false, ".pack"}, {true, ".pack"}, {false, ".idx"}, {true, ".idx"}} {
		lazy := tc.lazy
		cache := t.TempDir()
		opts := Options{CacheDir: cache, Lazy: lazy}
		co, err := Fetch(context.Background(), Request{Repo: url}, opts)
		if err != nil {
			t.Fatal(err)
		}
		co.Close()
		packs, _ := filepath.Glob(filepath.Join(cache, "*.git", "objects", "pack", "*"+tc.ext))
		if len(packs) == 0 {
			t.Fatal("no pack in the mirror")
		}
		for _, p := range packs {
			b, _ := os.ReadFile(p)
			for i := 12; i < len(b)-20; i++ {
				b[i] ^= 0x5a
			}
			os.Chmod(p, 0o644)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		co, err = Fetch(context.Background(), Request{Repo: url}, opts)
		if err != nil {
			t.Fatalf("lazy %v: fetch on a mirror with garbled %s: %v", lazy, tc.ext, err)
		}
		dir, err := co.Files()
		if err != nil || co.Commit != sha {
			t.Fatalf("lazy %v: files %v, commit %s", lazy, err, co.Commit)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "app", "cm.yaml")); err != nil || len(b) != 10000 {
			t.Errorf("lazy %v: app/cm.yaml: %d bytes, %v", lazy, len(b), err)
		}
		co.Close()
	}

	cache := t.TempDir()
	if co, err := Fetch(context.Background(), Request{Repo: url}, Options{CacheDir: cache}); err != nil {
		t.Fatal(err)
	} else {
		co.Close()
	}
	srv.StopHTTP()
	_, err := Fetch(context.Background(), Request{Repo: url}, Options{CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "fetch "+url+":") {
		t.Errorf("remote gone: %v, want an error naming %s", err, url)
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "*.git", "HEAD")); len(m) != 1 {
		t.Errorf("the sound mirror was not kept: %v", m)
	}
}
