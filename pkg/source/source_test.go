package source

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fluxcd/pkg/gittestserver"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

func readFile(t *testing.T, co *Checkout, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(co.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFetchLocalRevisions(t *testing.T) {
	r := testrepo.New(t)
	first := r.Commit("first", map[string]string{"app/cm.yaml": "v1"})
	r.Tag("v1")
	r.Branch("release")
	second := r.Commit("second\n\nbody", map[string]string{"app/cm.yaml": "v2"})

	for _, tt := range []struct{ repo, rev, wantSHA, wantContent string }{
		{r.Dir, "", second, "v2"},
		{r.Dir, "HEAD", second, "v2"},
		{r.Dir, "main", second, "v2"},
		{r.Dir, "release", first, "v1"},
		{r.Dir, "v1", first, "v1"},
		{r.Dir, first, first, "v1"},
		{r.Dir, first[:8], first, "v1"},
		{"file://" + r.Dir, "main", second, "v2"},
	} {
		co, err := Fetch(context.Background(), Request{Repo: tt.repo, Revision: tt.rev}, Options{})
		if err != nil {
			t.Errorf("Fetch(%s @ %q): %v", tt.repo, tt.rev, err)
			continue
		}
		if co.Commit != tt.wantSHA {
			t.Errorf("Fetch(%s @ %q) commit %s, want %s", tt.repo, tt.rev, co.Commit, tt.wantSHA)
		}
		if got := readFile(t, co, "app/cm.yaml"); got != tt.wantContent {
			t.Errorf("Fetch(%s @ %q) app/cm.yaml = %q, want %q", tt.repo, tt.rev, got, tt.wantContent)
		}
		if tt.wantSHA == second && co.Message != "second" {
			t.Errorf("message %q, want the first line %q", co.Message, "second")
		}
		co.Close()
		if _, err := os.Stat(co.Dir); !os.IsNotExist(err) {
			t.Errorf("Close left %s", co.Dir)
		}
	}
}

func TestFetchErrors(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("first", map[string]string{"a.yaml": "a"})

	_, err := Fetch(context.Background(), Request{Repo: r.Dir, Revision: "no-such-branch"}, Options{})
	if !errors.Is(err, ErrUnknownRevision) || !strings.Contains(err.Error(), `unknown revision "no-such-branch" in `+r.Dir) {
		t.Errorf("unknown revision: got %v", err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	_, err = Fetch(context.Background(), Request{Repo: missing}, Options{})
	if err == nil || !strings.Contains(err.Error(), "repository "+missing+": repository does not exist") {
		t.Errorf("missing repository: got %v", err)
	}
	if _, err := Fetch(context.Background(), Request{}, Options{}); err == nil || err.Error() != "no repository given: a local path or a URL is needed" {
		t.Errorf("no repository: got %v", err)
	}
}

func TestFetchOverHTTPWithToken(t *testing.T) {
	r := testrepo.New(t)
	first := r.Commit("first", map[string]string{"app/cm.yaml": "v1"})

	srv, bare := serveRepo(t, r)
	const token = "s3cr3t-token-value"
	srv.Auth("git", token)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	defer srv.StopHTTP()
	url := srv.HTTPAddress() + "/config.git"
	cache := t.TempDir()

	// No token: refused with a hint, and nothing left in the cache.
	_, err := Fetch(context.Background(), Request{Repo: url, Revision: "main"}, Options{CacheDir: cache})
	if err == nil || !strings.Contains(err.Error(), "the repository wants credentials") || !errors.Is(err, transport.ErrAuthenticationRequired) {
		t.Fatalf("fetch without token: got %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "*.git")); len(left) != 0 {
		t.Errorf("a failed clone left a mirror: %v", left)
	}
	// Wrong token: refused, and the token never appears in the error.
	_, err = Fetch(context.Background(), Request{Repo: url, Revision: "main"}, Options{CacheDir: cache, Auth: Auth{Token: "wrong-" + token}})
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("fetch with a wrong token: got %v", err)
	}

	auth := Options{CacheDir: cache, Auth: Auth{Token: token}}
	co, err := Fetch(context.Background(), Request{Repo: url, Revision: "main"}, auth)
	if err != nil {
		t.Fatal(err)
	}
	if co.Commit != first || readFile(t, co, "app/cm.yaml") != "v1" {
		t.Errorf("first fetch: commit %s content %q", co.Commit, readFile(t, co, "app/cm.yaml"))
	}
	co.Close()

	// A new commit on the server arrives by an incremental fetch into the
	// same mirror.
	second := r.Commit("second", map[string]string{"app/cm.yaml": "v2"})
	if out, err := exec.Command("git", "-C", bare, "fetch", "-q", r.Dir, "+refs/heads/*:refs/heads/*").CombinedOutput(); err != nil {
		t.Fatalf("update server repo: %v\n%s", err, out)
	}
	co, err = Fetch(context.Background(), Request{Repo: url, Revision: "main"}, auth)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	if co.Commit != second || readFile(t, co, "app/cm.yaml") != "v2" {
		t.Errorf("second fetch: commit %s content %q, want %s v2", co.Commit, readFile(t, co, "app/cm.yaml"), second)
	}
	mirrors, _ := filepath.Glob(filepath.Join(cache, "*.git"))
	if len(mirrors) != 1 {
		t.Errorf("cache holds %d mirrors, want 1: %v", len(mirrors), mirrors)
	}
	// An old commit is still reachable by SHA.
	old, err := Fetch(context.Background(), Request{Repo: url, Revision: first[:10]}, auth)
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
}

func TestLocalPathDetection(t *testing.T) {
	for repo, local := range map[string]bool{
		"/srv/config":                      true,
		"./config":                         true,
		"config":                           true,
		"file:///srv/config":               true,
		"https://git.example/config.git":   false,
		"ssh://git@git.example/config.git": false,
		"git@git.example:team/config.git":  false,
		"git.example.com:team/config.git":  false,
	} {
		if _, got := localPath(repo); got != local {
			t.Errorf("localPath(%q) = %v, want %v", repo, got, local)
		}
	}
}

// Two fetches of one remote repository at once share its mirror safely.
func TestConcurrentFetchesShareTheMirror(t *testing.T) {
	r := testrepo.New(t)
	sha := r.Commit("first", map[string]string{"a.yaml": "a"})
	srv, _ := serveRepo(t, r)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	defer srv.StopHTTP()
	cache := t.TempDir()
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			co, err := Fetch(context.Background(), Request{Repo: srv.HTTPAddress() + "/config.git", Revision: "main"}, Options{CacheDir: cache})
			if err == nil {
				if co.Commit != sha {
					err = errors.New("wrong commit " + co.Commit)
				}
				co.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// serveRepo makes a real Git server (not yet started) whose root holds a
// bare copy of r as config.git. The server side runs the git binary.
func serveRepo(t *testing.T, r *testrepo.Repo) (*gittestserver.GitServer, string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("the test Git server speaks the protocol through the git binary; install git")
	}
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	bare := filepath.Join(srv.Root(), "config.git")
	if out, err := exec.Command("git", "clone", "--bare", "-q", r.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	return srv, bare
}
