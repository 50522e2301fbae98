package gitpush

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// localOptions commits in the work tree dir and pushes to its origin.
func localOptions(dir string) Options {
	o := DefaultOptions()
	o.Dir = dir
	o.Auth = source.Auth{Token: writeToken}
	o.Message = "set a tag"
	o.Author = object.Signature{Name: "dev", Email: "dev@example.com"}
	o.Backoff = 0
	return o
}

func head(t *testing.T, repo *git.Repository) string {
	t.Helper()
	ref, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Hash().String()
}

// status lists the changed files (untracked too) of the work tree at dir
// as "staging worktree name". It opens the repository afresh: a
// Repository opened earlier may not see the packs Run fetched.
func status(t *testing.T, dir string) []string {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	st, err := wt.Status()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range modified(st, true) {
		out = append(out, fmt.Sprintf("%c%c %s", st[name].Staging, st[name].Worktree, name))
	}
	return out
}

func TestLocalCommitOnly(t *testing.T) {
	s := newServer(t, 2)
	dir, repo := s.clone(t)
	o := localOptions(filepath.Join(dir, "apps")) // a directory inside the work tree
	o.Push = false
	res, err := Run(bg, o, setTag(0, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != head(t, repo) || res.Attempts != 0 || res.Branch != "main" || !cmp.Equal(res.Files, []string{appFile(0)}) {
		t.Errorf("result %+v, HEAD %s", res, head(t, repo))
	}
	c, err := repo.CommitObject(plumbing.NewHash(res.Commit))
	if err != nil {
		t.Fatal(err)
	}
	if c.ParentHashes[0].String() != s.Seed || c.Author.Name != "dev" || c.Message != "set a tag\n" {
		t.Errorf("commit %s: parents %v author %s message %q", c.Hash, c.ParentHashes, c.Author.Name, c.Message)
	}
	if st := status(t, dir); len(st) != 0 {
		t.Errorf("work tree not clean after the commit: %v", st)
	}
	if tip := s.tip(t, "main"); tip != s.Seed {
		t.Errorf("pushed: main at %s", tip)
	}

	// Without Commit the edit is made and left uncommitted.
	o.Commit = false
	res, err = Run(bg, o, setTag(1, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != "" || !cmp.Equal(res.Files, []string{appFile(1)}) {
		t.Errorf("edit only: %+v", res)
	}
	if diff := cmp.Diff([]string{" M " + appFile(1)}, status(t, dir)); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestLocalCommitAndPush(t *testing.T) {
	s := newServer(t, 2)
	dir, repo := s.clone(t)
	res, err := Run(bg, localOptions(dir), setTag(0, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 1 || res.Commit != s.tip(t, "main") || res.Commit != head(t, repo) {
		t.Errorf("result %+v; main at %s, HEAD %s", res, s.tip(t, "main"), head(t, repo))
	}
	tracking, err := repo.Reference(plumbing.NewRemoteReferenceName("origin", "main"), true)
	if err != nil || tracking.Hash().String() != res.Commit {
		t.Errorf("origin/main %v (%v), want %s", tracking, err, res.Commit)
	}
	// A second run finds the tag set: nothing to do.
	res, err = Run(bg, localOptions(dir), setTag(0, "v2"))
	if err != nil || res.Commit != "" || res.Attempts != 0 {
		t.Errorf("second run: %+v, %v", res, err)
	}
}

// Credentials in origin's URL are used as basic auth and kept out of
// errors; the configuration is left as it was.
func TestLocalOriginCredentials(t *testing.T) {
	s := newServer(t, 1)
	dir, repo := s.clone(t)
	setOrigin := func(url string) {
		cfg, err := repo.Config()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Remotes["origin"].URLs = []string{url}
		if err := repo.SetConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	const wrong = "ghp_wr0ng-t0ken-0123456789abcdef"
	setOrigin(strings.Replace(s.URL, "://", "://git:"+wrong+"@", 1))
	o := localOptions(dir)
	o.Auth = source.Auth{}
	_, err := Run(bg, o, retag(0, "v2"))
	if err == nil || strings.Contains(err.Error(), wrong) || !strings.Contains(err.Error(), "push to "+s.URL+" (branch main): authentication required") ||
		!strings.HasSuffix(err.Error(), "(commit "+head(t, repo)[:12]+" stays on branch main, not pushed)") {
		t.Fatalf("got %v", err)
	}

	// The local commit stays; a run with the right token pushes the next.
	setOrigin(strings.Replace(s.URL, "://", "://"+writeToken+"@", 1))
	res, err := Run(bg, o, retag(0, "v3"))
	if err != nil {
		t.Fatal(err)
	}
	if s.tip(t, "main") != res.Commit {
		t.Errorf("main at %s, want %s", s.tip(t, "main"), res.Commit)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(cfg), writeToken) != 1 {
		t.Errorf(".git/config changed:\n%s", cfg)
	}
}

func TestLocalDirty(t *testing.T) {
	s := newServer(t, 13)
	dir, repo := s.clone(t)
	for i := 1; i <= 12; i++ {
		writeFile(t, dir, appFile(i), "dirty\n")
	}
	writeFile(t, dir, "notes.txt", "untracked\n")
	_, err := Run(bg, localOptions(dir), setTag(0, "v2"))
	if !errors.Is(err, ErrDirty) {
		t.Fatalf("got %v", err)
	}
	want := fmt.Sprintf("work tree %s: uncommitted changes to %s, %s, %s, %s, %s, %s, %s, %s, %s, %s and 2 more; commit or stash them, or allow a dirty work tree",
		dir, appFile(1), appFile(10), appFile(11), appFile(12), appFile(2), appFile(3), appFile(4), appFile(5), appFile(6), appFile(7))
	if err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if got := readFile(t, dir, appFile(0)); got != kustomization(0, "v1") {
		t.Errorf("the edit ran on a dirty work tree:\n%s", got)
	}
	if head(t, repo) != s.Seed || s.tip(t, "main") != s.Seed {
		t.Error("committed or pushed")
	}
	// Untracked files alone are no reason to refuse.
	dir2, _ := s.clone(t)
	writeFile(t, dir2, "notes.txt", "untracked\n")
	if _, err := Run(bg, localOptions(dir2), setTag(0, "v2")); err != nil {
		t.Errorf("untracked file: %v", err)
	}
}

// With AllowDirty the edit is committed alone: other changes, staged or
// not, stay uncommitted; a change to the edited file goes with it.
func TestLocalAllowDirty(t *testing.T) {
	s := newServer(t, 3)
	dir, repo := s.clone(t)
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, appFile(1), "staged\n")
	if _, err := wt.Add(appFile(1)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, appFile(2), "modified\n")
	writeFile(t, dir, "notes.txt", "untracked\n")
	writeFile(t, dir, appFile(0), kustomization(0, "v1")+"# a comment\n")
	o := localOptions(dir)
	o.AllowDirty = true
	res, err := Run(bg, o, setTag(0, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.commit(t, s.tip(t, "main"))
	if c.Hash.String() != res.Commit {
		t.Fatalf("main at %s, want %s", c.Hash, res.Commit)
	}
	if diff := cmp.Diff([]string{appFile(0)}, touched(t, c)); diff != "" {
		t.Errorf("files committed (-want +got):\n%s", diff)
	}
	if got := s.file(t, res.Commit, appFile(0)); got != kustomization(0, "v2")+"# a comment\n" {
		t.Errorf("app 0 committed:\n%s", got)
	}
	if diff := cmp.Diff([]string{"M  " + appFile(1), " M " + appFile(2), "?? notes.txt"}, status(t, dir)); diff != "" {
		t.Errorf("status after (-want +got):\n%s", diff)
	}
}

// Someone else pushed meanwhile: the edit is applied again on their
// commit, and the local branch follows.
func TestLocalNonFastForwardRetried(t *testing.T) {
	s := newServer(t, 3)
	dir, repo := s.clone(t)
	writeFile(t, dir, appFile(2), "modified\n") // left alone throughout
	other := s.pushFrom(t, "other", map[string]string{
		appFile(1):                        kustomization(1, "v7"),
		"apps/svc-new/kustomization.yaml": "new\n",
		appFile(0):                        kustomization(0, "v1") + "# theirs\n",
	})
	o := localOptions(dir)
	o.AllowDirty = true
	var seen []string
	edit := setTag(0, "v2")
	res, err := Run(bg, o, func(root string) ([]string, error) {
		seen = append(seen, readFile(t, root, appFile(0)))
		return edit(root)
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 || len(seen) != 2 || seen[1] != kustomization(0, "v1")+"# theirs\n" {
		t.Errorf("result %+v; the edit saw %q", res, seen)
	}
	history := s.history(t, s.tip(t, "main"), s.Seed)
	if len(history) != 2 || history[0].Hash.String() != res.Commit || history[1].Hash.String() != other {
		t.Fatalf("main's history %v, want %s on %s", history, res.Commit, other)
	}
	if got := s.file(t, res.Commit, appFile(0)); got != kustomization(0, "v2")+"# theirs\n" {
		t.Errorf("app 0 pushed:\n%s", got)
	}
	if head(t, repo) != res.Commit {
		t.Errorf("HEAD at %s, want %s", head(t, repo), res.Commit)
	}
	for name, want := range map[string]string{
		appFile(1):                        kustomization(1, "v7"),
		"apps/svc-new/kustomization.yaml": "new\n",
		appFile(2):                        "modified\n",
	} {
		if got := readFile(t, dir, name); got != want {
			t.Errorf("%s in the work tree: %q, want %q", name, got, want)
		}
	}
	if diff := cmp.Diff([]string{" M " + appFile(2)}, status(t, dir)); diff != "" {
		t.Errorf("status after (-want +got):\n%s", diff)
	}
}

// A local branch with a commit of its own that origin lacks is not moved
// onto origin's new tip.
func TestLocalUnpushedCommitsRefused(t *testing.T) {
	s := newServer(t, 3)
	dir, repo := s.clone(t)
	o := localOptions(dir)
	o.Push = false
	mine, err := Run(bg, o, setTag(1, "mine"))
	if err != nil {
		t.Fatal(err)
	}
	s.pushFrom(t, "other", map[string]string{appFile(2): kustomization(2, "v7")})
	o.Push = true
	_, err = Run(bg, o, setTag(0, "v2"))
	if !errors.Is(err, ErrNonFastForward) || !strings.Contains(err.Error(), "has other unpushed commits") || !strings.Contains(err.Error(), s.URL) {
		t.Fatalf("got %v", err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(head(t, repo)))
	if err != nil {
		t.Fatal(err)
	}
	if c.ParentHashes[0].String() != mine.Commit {
		t.Errorf("HEAD %s on %v, want the new commit on %s, left for the user", c.Hash, c.ParentHashes, mine.Commit)
	}
}

// Uncommitted changes to a file origin changed stop the retry before the
// work tree is touched.
func TestLocalRetryConflictsWithDirtyFile(t *testing.T) {
	s := newServer(t, 3)
	dir, _ := s.clone(t)
	writeFile(t, dir, appFile(2), "mine\n")
	s.pushFrom(t, "other", map[string]string{appFile(2): kustomization(2, "v7")})
	o := localOptions(dir)
	o.AllowDirty = true
	_, err := Run(bg, o, setTag(0, "v2"))
	if err == nil || !strings.Contains(err.Error(), "origin/main moved on, changing "+appFile(2)+", which have uncommitted changes here") {
		t.Fatalf("got %v", err)
	}
	if got := readFile(t, dir, appFile(2)); got != "mine\n" {
		t.Errorf("the dirty file was overwritten: %q", got)
	}
}

func TestLocalErrors(t *testing.T) {
	s := newServer(t, 1)
	dir, repo := s.clone(t)
	outside := t.TempDir()
	if _, err := Run(bg, localOptions(outside), setTag(0, "v2")); err == nil || err.Error() != outside+" is not in a Git work tree; run this in a checkout of the config repository, or pass --repo URL --revision BRANCH" {
		t.Errorf("not a work tree: %v", err)
	}
	o := localOptions(dir)
	o.Branch = "release"
	if _, err := Run(bg, o, setTag(0, "v2")); err == nil || err.Error() != "work tree "+dir+": branch release is not checked out (HEAD is branch main); check it out" {
		t.Errorf("another branch: %v", err)
	}
	wt, _ := repo.Worktree()
	if err := wt.Checkout(&git.CheckoutOptions{Hash: plumbing.NewHash(s.Seed)}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(bg, localOptions(dir), setTag(0, "v2")); err == nil || !strings.Contains(err.Error(), "HEAD is detached") {
		t.Errorf("detached: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := localOptions("/src")
	for _, tt := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"ok", func(*Options) {}, ""},
		{"both", func(o *Options) { o.Repo = "https://git.example/c.git" }, "both a repository URL and a local directory given; give one"},
		{"neither", func(o *Options) { o.Dir = "" }, "no repository given: a remote URL or a local work tree is needed"},
		{"push without commit", func(o *Options) { o.Commit = false }, "push without commit: pushing needs the commit made"},
		{"no message", func(o *Options) { o.Message = " " }, "no commit message given"},
		{"retries", func(o *Options) { o.Retries = -1 }, "retries -1: must not be negative"},
		{"branch", func(o *Options) { o.Branch = "a..b" }, `branch "a..b": not a valid branch name`},
		{"push branch", func(o *Options) { o.PushBranch = "refs/heads/x" }, `push branch "refs/heads/x": not a valid branch name`},
		{"no author", func(o *Options) { o.Author.Email = "" }, "no commit author: a name and an email are needed"},
		{"author", func(o *Options) { o.Author.Name = "a <b>" }, `author name "a <b>": must not hold <, > or a newline`},
		{"committer", func(o *Options) { o.Committer.Name = "c" }, "committer: give both a name and an email, or neither (the author commits)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.mod(&o)
			err := o.Validate()
			if got := fmt.Sprint(err); (err == nil) != (tt.want == "") || (err != nil && got != tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}
