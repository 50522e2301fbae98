package source

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	gosync "sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// A directory inside a work tree opens the enclosing repository, and only
// that directory's files are laid out.
func TestFetchDirectoryInsideWorkTree(t *testing.T) {
	r := testrepo.New(t)
	first := r.Commit("first", map[string]string{
		"config-repo/apps/web/cm.yaml": "web",
		"secret-elsewhere.yaml":        "outside",
	})
	for _, repo := range []string{filepath.Join(r.Dir, "config-repo"), "file://" + filepath.Join(r.Dir, "config-repo")} {
		co, err := Fetch(context.Background(), Request{Repo: repo}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if co.Commit != first || co.Subdir != "config-repo" || co.Root != r.Dir {
			t.Errorf("Fetch(%s): commit %s subdir %q root %q; want %s, config-repo, %s", repo, co.Commit, co.Subdir, co.Root, first, r.Dir)
		}
		if got := readFile(t, co, "apps/web/cm.yaml"); got != "web" {
			t.Errorf("apps/web/cm.yaml = %q", got)
		}
		if _, err := os.Stat(filepath.Join(co.Dir, "secret-elsewhere.yaml")); !os.IsNotExist(err) {
			t.Errorf("a file outside the named directory was laid out (stat: %v)", err)
		}
		co.Close()
	}

	// The root itself: no subdirectory; a directory the commit lacks: an
	// error that says so.
	co, err := Fetch(context.Background(), Request{Repo: r.Dir}, Options{})
	if err != nil || co.Subdir != "" || co.Root != r.Dir {
		t.Fatalf("root: %v %+v", err, co)
	}
	co.Close()
	if err := os.MkdirAll(filepath.Join(r.Dir, "new-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Fetch(context.Background(), Request{Repo: filepath.Join(r.Dir, "new-dir")}, Options{})
	if err == nil || !strings.Contains(err.Error(), "directory new-dir is not in commit "+first[:12]) {
		t.Errorf("uncommitted directory: got %v", err)
	}
}

func TestFetchLocalOrigin(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{"a.yaml": "a"})
	co, err := Fetch(context.Background(), Request{Repo: r.Dir}, Options{})
	if err != nil || co.Origin != "" {
		t.Fatalf("no origin: %v, origin %q", err, co.Origin)
	}
	co.Close()
	if out, err := exec.Command("git", "-C", r.Dir, "remote", "add", "origin", "https://ci:s3cr3t@git.example/team/config.git").CombinedOutput(); err != nil {
		t.Fatalf("git remote add: %v\n%s", err, out)
	}
	co, err = Fetch(context.Background(), Request{Repo: r.Dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.Origin != "https://git.example/team/config.git" {
		t.Errorf("origin %q, want the URL without credentials", co.Origin)
	}
}

func TestUncommitted(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{
		"apps/web/cm.yaml":     "v1",
		"apps/web/staged.yaml": "v1",
		"apps/db/cm.yaml":      "v1",
		".gitignore":           "*.log\n",
	})
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("apps/web/cm.yaml", "v2")         // modified
	write("apps/web/staged.yaml", "v2")     // staged
	write("apps/web/new.yaml", "new")       // untracked
	write("apps/web/debug.log", "ignored")  // ignored
	write("apps/db/cm.yaml", "v2")          // outside the path
	write("apps/webfront/x.yaml", "prefix") // a sibling sharing the prefix
	if out, err := exec.Command("git", "-C", r.Dir, "add", "apps/web/staged.yaml").CombinedOutput(); err != nil {
		t.Fatalf("git add: %v\n%s", err, out)
	}

	co, err := Fetch(context.Background(), Request{Repo: r.Dir}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	files, total, err := co.Uncommitted("apps/web", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apps/web/cm.yaml", "apps/web/new.yaml", "apps/web/staged.yaml"}
	if diff := cmp.Diff(want, files); diff != "" || total != 3 {
		t.Errorf("Uncommitted(apps/web): total %d (-want +got)\n%s", total, diff)
	}
	if files, total, _ := co.Uncommitted("apps/web", 1); len(files) != 1 || total != 3 {
		t.Errorf("limit 1: %v, total %d", files, total)
	}
	if files, total, _ := co.Uncommitted(".", 10); total != 5 {
		t.Errorf("whole tree: %v, total %d, want 5", files, total)
	}

	// Through a subdirectory, the path is relative to it.
	sub, err := Fetch(context.Background(), Request{Repo: filepath.Join(r.Dir, "apps")}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if files, _, _ := sub.Uncommitted("db", 10); !cmp.Equal(files, []string{"apps/db/cm.yaml"}) {
		t.Errorf("Uncommitted(db) below apps: %v", files)
	}
	// Another revision than the work tree's: the work tree does not matter.
	r.Branch("other")
	old, err := Fetch(context.Background(), Request{Repo: r.Dir, Revision: "other"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if files, _, _ := old.Uncommitted("apps/web", 10); len(files) != 3 {
		t.Errorf("a branch at HEAD's commit still counts as the work tree's: %v", files)
	}
}

// Checkouts fetch a repository and revision once for all the renders of a
// run, concurrently too; other credentials get their own; Close removes
// them all.
func TestCheckoutsShared(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("one", map[string]string{"a.yaml": "a: 1\n"})
	cs := NewCheckouts()
	got := make([]*Checkout, 8)
	var wg gosync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			co, err := cs.Fetch(context.Background(), Request{Repo: r.Dir}, Options{})
			if err != nil {
				t.Error(err)
			}
			got[i] = co
		}()
	}
	wg.Wait()
	for _, co := range got {
		if co != got[0] {
			t.Fatalf("the renders got different checkouts")
		}
	}
	other, err := cs.Fetch(context.Background(), Request{Repo: r.Dir, Revision: "HEAD"}, Options{Auth: Auth{Token: "t"}})
	if err != nil || other == got[0] {
		t.Errorf("other credentials share the checkout: %v", err)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{got[0].Dir, other.Dir} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s is left after Close: %v", dir, err)
		}
	}
}
