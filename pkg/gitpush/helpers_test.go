package gitpush

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

const (
	// writeToken may push; readToken may only fetch.
	writeToken = "ghp_wr1te-t0ken-0123456789abcdef"
	readToken  = "ghp_re4d-t0ken-0123456789abcdef"
)

// server is a real Git server (git http-backend through gitkit) holding
// config.git, a bare repository on branch main.
type server struct {
	srv  *gittestserver.GitServer
	bare string
	// URL is the repository's URL, without credentials.
	URL string
	// Seed is the commit the repository starts at.
	Seed string
}

// appFile is the file of app n that tests edit.
func appFile(n int) string { return fmt.Sprintf("apps/svc-%d/overlays/prod/kustomization.yaml", n) }

func kustomization(n int, tag string) string {
	return fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\nimages:\n- name: svc-%d\n  newTag: %s\n", n, tag)
}

// newServer serves a repository of apps files for apps 0..apps-1 (tag v1)
// over http. Fetching needs readToken or writeToken as the password,
// pushing writeToken.
func newServer(t *testing.T, apps int) *server {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("the test Git server speaks the protocol through the git binary; install git")
	}
	r := testrepo.New(t)
	files := map[string]string{"README.md": "config\n"}
	for i := 0; i < apps; i++ {
		files[appFile(i)] = kustomization(i, "v1")
	}
	seed := r.Commit("seed", files)
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	bare := filepath.Join(srv.Root(), "config.git")
	if out, err := exec.Command("git", "clone", "--bare", "-q", r.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	srv.AddHTTPMiddlewares(tokenAuth)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	return &server{srv: srv, bare: bare, URL: srv.HTTPAddress() + "/config.git", Seed: seed}
}

// tokenAuth asks for basic auth with a token as the password (any user)
// or as the user (no password), as Git hosts do: readToken or writeToken to
// fetch, writeToken to push.
func tokenAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, ok := r.BasicAuth()
		if password == "" {
			password = user
		}
		push := r.URL.Query().Get("service") == "git-receive-pack" || strings.HasSuffix(r.URL.Path, "/git-receive-pack")
		switch {
		case !ok || (password != writeToken && password != readToken):
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
		case push && password != writeToken:
			http.Error(w, "this token may not push", http.StatusForbidden)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// tip returns the server's branch tip.
func (s *server) tip(t *testing.T, branch string) string {
	t.Helper()
	repo, err := git.PlainOpen(s.bare)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		t.Fatalf("server branch %s: %v", branch, err)
	}
	return ref.Hash().String()
}

// commit reads a commit of the server's repository.
func (s *server) commit(t *testing.T, sha string) *object.Commit {
	t.Helper()
	repo, err := git.PlainOpen(s.bare)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// file reads a file of a server commit.
func (s *server) file(t *testing.T, sha, name string) string {
	t.Helper()
	f, err := s.commit(t, sha).File(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, sha, err)
	}
	body, err := f.Contents()
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// history walks the first parents from tip back to (not including) stop:
// the commits, newest first. It fails the test on a merge.
func (s *server) history(t *testing.T, tip, stop string) []*object.Commit {
	t.Helper()
	var out []*object.Commit
	for h := tip; h != stop; {
		c := s.commit(t, h)
		if c.NumParents() != 1 {
			t.Fatalf("commit %s has %d parents; the history is not linear", h, c.NumParents())
		}
		out = append(out, c)
		h = c.ParentHashes[0].String()
	}
	return out
}

// touched lists the files a commit changes against its parent.
func touched(t *testing.T, c *object.Commit) []string {
	t.Helper()
	parent, err := c.Parent(0)
	if err != nil {
		t.Fatal(err)
	}
	names, err := diffPaths(parent, c)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// clone makes a full clone of the server's repository, for local mode.
func (s *server) clone(t *testing.T) (string, *git.Repository) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainClone(dir, false, &git.CloneOptions{URL: s.URL, Auth: &githttp.BasicAuth{Username: "git", Password: writeToken}})
	if err != nil {
		t.Fatal(err)
	}
	return dir, repo
}

// pushFrom commits files in a clone of its own and pushes it: someone
// else's change.
func (s *server) pushFrom(t *testing.T, message string, files map[string]string) string {
	t.Helper()
	dir, repo := s.clone(t)
	for name, body := range files {
		writeFile(t, dir, name, body)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit(message, &git.CommitOptions{Author: &object.Signature{Name: "other", Email: "other@example.com", When: time.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(&git.PushOptions{Auth: &githttp.BasicAuth{Username: "git", Password: writeToken}}); err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func writeFile(t *testing.T, root, name, body string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, root, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// setTag is the edit the tests make: app n's newTag becomes tag (see
// retag). It also fails if the work tree's .git/config holds a token, as
// a clone of Run's must never.
func setTag(n int, tag string) Edit {
	edit := retag(n, tag)
	return func(root string) ([]string, error) {
		if cfg, err := os.ReadFile(filepath.Join(root, ".git", "config")); err == nil {
			if strings.Contains(string(cfg), writeToken) || strings.Contains(string(cfg), readToken) {
				return nil, fmt.Errorf("a token in .git/config:\n%s", cfg)
			}
		}
		return edit(root)
	}
}

// retag sets app n's newTag to tag. It reads the file and writes it only
// when the tag differs, so it is a pure function of the tree it runs on.
func retag(n int, tag string) Edit {
	return func(root string) ([]string, error) {
		name := appFile(n)
		p := filepath.Join(root, filepath.FromSlash(name))
		body, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var lines []string
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "  newTag: ") {
				l = "  newTag: " + tag
			}
			lines = append(lines, l)
		}
		updated := strings.Join(lines, "\n")
		if updated == string(body) {
			return nil, nil
		}
		return []string{name}, os.WriteFile(p, []byte(updated), 0o644)
	}
}

// remoteOptions pushes to s's main branch with the write token.
func remoteOptions(s *server, t *testing.T) Options {
	o := DefaultOptions()
	o.Repo, o.Branch = s.URL, "main"
	o.Auth = source.Auth{Token: writeToken}
	o.Message = "set a tag"
	o.Author = object.Signature{Name: "ci", Email: "ci@example.com"}
	o.Backoff = 10 * time.Millisecond
	o.CacheDir = t.TempDir()
	return o
}

var bg = context.Background()

// TestMain quiets the test server, which logs every request.
func TestMain(m *testing.M) {
	log.SetOutput(io.Discard)
	os.Exit(m.Run())
}
