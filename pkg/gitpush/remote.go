package gitpush

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// runRemote clones o.Repo's branch (shallow, that branch alone) into a
// temporary directory, applies the edit there, and pushes.
func runRemote(ctx context.Context, o Options, edit Edit) (*Result, error) {
	r := &run{o: &o, edit: edit, rawURL: o.Repo, shown: source.RedactURL(o.Repo)}
	var err error
	if r.url, r.auth, err = source.Transport(o.Repo, o.Auth); err != nil {
		return nil, err
	}
	if o.CacheDir != "" {
		if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("clone of %s: %w", r.shown, err)
		}
	}
	dir, err := os.MkdirTemp(o.CacheDir, "kubectl-gitops-push-")
	if err != nil {
		return nil, fmt.Errorf("clone of %s: %w", r.shown, err)
	}
	defer os.RemoveAll(dir)
	r.root = dir

	clone := &git.CloneOptions{
		URL: r.url, Auth: r.auth, SingleBranch: true, Depth: 1, Tags: git.NoTags,
	}
	if o.Branch != "" {
		clone.ReferenceName = plumbing.NewBranchReferenceName(o.Branch)
	}
	r.repo, err = git.PlainCloneContext(ctx, dir, false, clone)
	if err != nil {
		err = source.Scrub(err, r.rawURL, o.Auth)
		if errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return nil, fmt.Errorf("clone %s: %w; push a first commit", r.shown, err)
		}
		if o.Branch != "" && (errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")) {
			return nil, fmt.Errorf("clone %s: no branch %q there: %w", r.shown, o.Branch, err)
		}
		return nil, fmt.Errorf("clone %s: %w", r.shown, explain(err))
	}
	if r.wt, err = r.repo.Worktree(); err != nil {
		return nil, err
	}
	head, err := r.repo.Head()
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", r.shown, err)
	}
	if !head.Name().IsBranch() {
		return nil, fmt.Errorf("clone %s: its HEAD is no branch; name the branch", r.shown)
	}
	r.branch = head.Name()
	r.dst = o.PushBranch
	if r.dst == "" {
		r.dst = r.branch.Short()
	}
	base, err := r.repo.CommitObject(head.Hash())
	if err != nil {
		return nil, err
	}
	r.refresh = func(ctx context.Context, _ *object.Commit) (*object.Commit, error) {
		tip, err := r.fetchTip(ctx, r.dst, 1)
		if err != nil {
			return nil, err
		}
		// The clone is ours alone: its work tree is reset to the new tip
		// outright, whatever a failed or earlier edit left in it.
		if err := r.wt.Reset(&git.ResetOptions{Commit: tip.Hash, Mode: git.HardReset}); err != nil {
			return nil, fmt.Errorf("reset the clone of %s to %s: %w", r.shown, short(tip.Hash), err)
		}
		return tip, nil
	}
	var expect *plumbing.Hash
	if r.dst == r.branch.Short() {
		expect = &base.Hash
	}
	return r.loop(ctx, base, expect)
}
