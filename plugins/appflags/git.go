package appflags

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// gitTrees reads repositories for the git generators of ApplicationSets:
// each repository and revision fetched once per run (URLs through the
// repository map), its tree listed, its files read from the checkout.
type gitTrees struct {
	ctx     context.Context
	repoMap argocd.RepoMap
	auth    gsource.Auth
	// trusted are the hosts the credentials may go to: those the command's
	// files name. A repoURL a generator took from Git content (a matrix's
	// second generator) on another host is fetched without them.
	trusted map[string]bool

	mu        sync.Mutex
	trees     map[string]*argocd.Tree
	checkouts []*gsource.Checkout
}

// Tree implements argocd.Git.
func (g *gitTrees) Tree(repoURL, revision string) (*argocd.Tree, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	key := repoURL + "@" + revision
	if t, ok := g.trees[key]; ok {
		return t, nil
	}
	auth := g.auth
	if !g.trusted[hostOf(repoURL)] {
		auth = gsource.Auth{KnownHostsFiles: g.auth.KnownHostsFiles, InsecureSkipHostKeyCheck: g.auth.InsecureSkipHostKeyCheck}
	}
	co, err := gsource.Fetch(g.ctx, gsource.Request{Repo: g.repoMap.Map(repoURL), Revision: revision}, gsource.Options{Auth: auth})
	if err != nil {
		return nil, err
	}
	g.checkouts = append(g.checkouts, co)
	t := &argocd.Tree{}
	err = filepath.WalkDir(co.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(co.Dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
		case d.IsDir() && (d.Name() == ".git" || strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		case d.IsDir():
			t.Dirs = append(t.Dirs, rel)
		default:
			t.Files = append(t.Files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(t.Dirs)
	sort.Strings(t.Files)
	dir := co.Dir
	t.Read = func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, filepath.FromSlash(p))) }
	if g.trees == nil {
		g.trees = map[string]*argocd.Tree{}
	}
	g.trees[key] = t
	return t, nil
}

// close removes the checkouts.
func (g *gitTrees) close() {
	for _, co := range g.checkouts {
		_ = co.Close()
	}
}
