// Package testrepo builds real Git repositories for tests, with go-git.
//
//	r := testrepo.New(t)
//	sha := r.Commit("add web", map[string]string{"apps/web/deploy.yaml": "..."})
//	r.Tag("v1")
package testrepo

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a non-bare repository in a temporary directory, on branch main.
type Repo struct {
	Dir  string
	t    testing.TB
	repo *git.Repository
}

// New initialises an empty repository whose HEAD is refs/heads/main.
func New(t testing.TB) *Repo {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Repo{Dir: dir, t: t, repo: repo}
}

// Commit writes files (path to content), stages everything and commits;
// it returns the commit SHA. Use Remove to delete files.
func (r *Repo) Commit(message string, files map[string]string) string {
	r.t.Helper()
	for name, body := range files {
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	return r.commitAll(message)
}

// Remove deletes paths (files or directories) and commits.
func (r *Repo) Remove(message string, paths ...string) string {
	r.t.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(filepath.Join(r.Dir, filepath.FromSlash(p))); err != nil {
			r.t.Fatal(err)
		}
	}
	return r.commitAll(message)
}

// Symlink creates a symbolic link at name pointing to target, and commits.
func (r *Repo) Symlink(message, name, target string) string {
	r.t.Helper()
	p := filepath.Join(r.Dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		r.t.Fatal(err)
	}
	return r.commitAll(message)
}

func (r *Repo) commitAll(message string) string {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	h, err := wt.Commit(message, &git.CommitOptions{
		Author:            &object.Signature{Name: "test", Email: "test@example.com", When: time.Now()},
		AllowEmptyCommits: true,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

// Tag creates an annotated tag at HEAD.
func (r *Repo) Tag(name string) {
	r.t.Helper()
	head, err := r.repo.Head()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.repo.CreateTag(name, head.Hash(), &git.CreateTagOptions{
		Tagger: &object.Signature{Name: "test", Email: "test@example.com", When: time.Now()}, Message: name,
	}); err != nil {
		r.t.Fatal(err)
	}
}

// Branch creates a branch at HEAD without switching to it.
func (r *Repo) Branch(name string) {
	r.t.Helper()
	head, err := r.repo.Head()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(name), head.Hash())); err != nil {
		r.t.Fatal(err)
	}
}
