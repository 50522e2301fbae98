package gitpush

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// runLocal applies the edit to the work tree holding o.Dir, in place,
// commits on its current branch and pushes that to origin.
func runLocal(ctx context.Context, o Options, edit Edit) (*Result, error) {
	r := &run{o: &o, edit: edit, local: true}
	var err error
	r.repo, err = git.PlainOpenWithOptions(o.Dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		dir := o.Dir
		if abs, aerr := filepath.Abs(dir); aerr == nil {
			dir = abs
		}
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("%s is not in a Git work tree; run this in a checkout of the config repository, or pass --repo URL --revision BRANCH", dir)
		}
		return nil, fmt.Errorf("%s: %w; name a directory in a Git work tree", dir, err)
	}
	if r.wt, err = r.repo.Worktree(); err != nil {
		return nil, fmt.Errorf("%s: %w; name a directory in a Git work tree", o.Dir, err)
	}
	r.root = r.wt.Filesystem.Root()
	head, err := r.repo.Head()
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return nil, fmt.Errorf("work tree %s: no commit yet; commit a first one", r.root)
	} else if err != nil {
		return nil, fmt.Errorf("work tree %s: %w", r.root, err)
	}
	switch {
	case o.Branch != "" && head.Name() != plumbing.NewBranchReferenceName(o.Branch):
		return nil, fmt.Errorf("work tree %s: branch %s is not checked out (HEAD is %s); check it out", r.root, o.Branch, describeHead(head))
	case o.Commit && !head.Name().IsBranch():
		return nil, fmt.Errorf("work tree %s: HEAD is detached at %s; check out the branch to commit on", r.root, short(head.Hash()))
	}
	r.branch = head.Name()
	r.dst = o.PushBranch
	if r.dst == "" && r.branch.IsBranch() {
		r.dst = r.branch.Short()
	}
	st, err := r.wt.Status()
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", r.root, err)
	}
	if dirty := modified(st, false); len(dirty) > 0 && !o.AllowDirty {
		return nil, fmt.Errorf("work tree %s: %w to %s; commit or stash them, or allow a dirty work tree", r.root, ErrDirty, listFiles(dirty))
	}
	base, err := r.repo.CommitObject(head.Hash())
	if err != nil {
		return nil, fmt.Errorf("work tree %s: %w", r.root, err)
	}
	var expect *plumbing.Hash
	if o.Push {
		remote, err := r.repo.Remote(git.DefaultRemoteName)
		if err != nil || len(remote.Config().URLs) == 0 {
			return nil, fmt.Errorf("work tree %s: no remote %q to push to; add it", r.root, git.DefaultRemoteName)
		}
		r.rawURL = remote.Config().URLs[0]
		r.shown = source.RedactURL(r.rawURL)
		if r.url, r.auth, err = source.Transport(r.rawURL, o.Auth); err != nil {
			return nil, err
		}
		expect = r.lease(base)
	}
	r.refresh = r.refreshLocal
	return r.loop(ctx, base, expect)
}

// lease returns the remote branch's tip that the first push may expect:
// the remote-tracking branch's, when it is an ancestor of base (so that
// the push is a fast-forward). Otherwise nil: a plain push, whose
// fast-forward check go-git makes.
func (r *run) lease(base *object.Commit) *plumbing.Hash {
	// go-git's lease also wants the local branch's remote-tracking branch.
	if _, err := r.repo.Reference(plumbing.NewRemoteReferenceName(git.DefaultRemoteName, r.branch.Short()), true); err != nil {
		return nil
	}
	ref, err := r.repo.Reference(plumbing.NewRemoteReferenceName(git.DefaultRemoteName, r.dst), true)
	if err != nil {
		return nil
	}
	h := ref.Hash()
	if h == base.Hash || isAncestor(r.repo, h, base) {
		return &h
	}
	return nil
}

// refreshLocal fetches origin's branch after a rejection and, if the only
// commit of the local branch that origin lacks is ours, moves the branch
// to origin's tip: only the files that differ between our commit and the
// tip are written, so that uncommitted changes elsewhere stay. It refuses
// when those files have uncommitted changes.
func (r *run) refreshLocal(ctx context.Context, ours *object.Commit) (*object.Commit, error) {
	if r.dst != r.branch.Short() {
		return nil, fmt.Errorf("push to %s: %w: branch %s exists there and does not contain %s; push to a new branch, or check %s out and run again", r.shown, ErrNonFastForward, r.dst, short(ours.Hash), r.dst)
	}
	tracking := plumbing.NewRemoteReferenceName(git.DefaultRemoteName, r.dst)
	var known plumbing.Hash
	if ref, err := r.repo.Reference(tracking, true); err == nil {
		known = ref.Hash()
	}
	tip, err := r.fetchTip(ctx, r.dst, 0)
	if err != nil {
		return nil, err
	}
	cur, err := r.repo.Reference(r.branch, true)
	if err != nil {
		return nil, err
	}
	if cur.Hash() != ours.Hash {
		return nil, fmt.Errorf("work tree %s: branch %s moved to %s while pushing %s; run again", r.root, r.branch.Short(), short(cur.Hash()), short(ours.Hash))
	}
	parent := ours.ParentHashes[0]
	if parent != known && parent != tip.Hash && !isAncestor(r.repo, parent, tip) {
		return nil, fmt.Errorf("push to %s (branch %s): %w: the local branch %s has other unpushed commits besides %s; push or rebase them onto %s/%s first, then run again", r.shown, r.dst, ErrNonFastForward, r.branch.Short(), short(ours.Hash), git.DefaultRemoteName, r.dst)
	}
	differ, err := diffPaths(ours, tip)
	if err != nil {
		return nil, err
	}
	st, err := r.wt.Status()
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", r.root, err)
	}
	dirty := map[string]bool{}
	for _, f := range modified(st, true) {
		dirty[f] = true
	}
	var conflicts []string
	for _, p := range differ {
		if dirty[p] {
			conflicts = append(conflicts, p)
		}
	}
	if len(conflicts) > 0 {
		return nil, fmt.Errorf("work tree %s: %s/%s moved on, changing %s, which have uncommitted changes here; commit or stash them, then run again", r.root, git.DefaultRemoteName, r.dst, listFiles(conflicts))
	}
	reset := &git.ResetOptions{Commit: tip.Hash, Mode: git.SoftReset}
	if len(differ) > 0 {
		reset.Mode, reset.Files = git.HardReset, differ
	}
	if err := r.wt.Reset(reset); err != nil {
		return nil, fmt.Errorf("work tree %s: move %s to %s: %w", r.root, r.branch.Short(), short(tip.Hash), err)
	}
	return tip, nil
}

// modified lists the files of st with changes, sorted: staged, modified or
// deleted, and untracked ones too when untracked is set.
func modified(st git.Status, untracked bool) []string {
	var out []string
	for name, s := range st {
		switch {
		case s.Worktree == git.Untracked || s.Staging == git.Untracked:
			if untracked {
				out = append(out, name)
			}
		case s.Staging != git.Unmodified || s.Worktree != git.Unmodified:
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// diffPaths lists the files that differ between the trees of a and b.
func diffPaths(a, b *object.Commit) ([]string, error) {
	ta, err := a.Tree()
	if err != nil {
		return nil, err
	}
	tb, err := b.Tree()
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(ta, tb)
	if err != nil {
		return nil, fmt.Errorf("compare %s with %s: %w", short(a.Hash), short(b.Hash), err)
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range changes {
		for _, name := range []string{c.From.Name, c.To.Name} {
			if name != "" && !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// isAncestor reports whether h is an ancestor of c; false when it cannot
// tell (a shallow history).
func isAncestor(repo *git.Repository, h plumbing.Hash, c *object.Commit) bool {
	a, err := repo.CommitObject(h)
	if err != nil {
		return false
	}
	ok, err := a.IsAncestor(c)
	return err == nil && ok
}

func describeHead(head *plumbing.Reference) string {
	if head.Name().IsBranch() {
		return "branch " + head.Name().Short()
	}
	return "detached at " + short(head.Hash())
}
