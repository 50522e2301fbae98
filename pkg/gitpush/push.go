package gitpush

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// run is one Run's state: the repository it commits in and the remote it
// pushes to.
type run struct {
	o    *Options
	edit Edit
	repo *git.Repository
	wt   *git.Worktree
	root string

	// rawURL is the remote's URL as given or configured (for scrubbing
	// errors), url the one go-git is given (no credentials), shown the
	// one errors name.
	rawURL, url, shown string
	auth               transport.AuthMethod

	// local is set in local mode: a commit that fails to push stays.
	local bool
	// branch is the local branch committed on; dst the remote branch
	// pushed to.
	branch plumbing.ReferenceName
	dst    string

	// refresh is called after a rejection, with the commit that was
	// rejected: it fetches the remote branch's new tip, makes it the work
	// tree's (and the branch's) commit, and returns it.
	refresh func(ctx context.Context, rejected *object.Commit) (*object.Commit, error)
}

// loop applies the edit on base, commits and pushes; after a rejection it
// refreshes and goes again. expect is the remote branch's tip the first
// push must find (nil: a plain push, which go-git lets through only as a
// fast-forward of whatever the remote has).
func (r *run) loop(ctx context.Context, base *object.Commit, expect *plumbing.Hash) (*Result, error) {
	res := &Result{Branch: r.dst}
	for {
		tree, err := base.Tree()
		if err != nil {
			return nil, fmt.Errorf("read tree of %s: %w", base.Hash, err)
		}
		changes, err := applyEdit(r.root, tree, r.edit)
		if err != nil {
			return nil, fmt.Errorf("edit on %s: %w", short(base.Hash), err)
		}
		if len(changes) == 0 {
			res.Commit, res.Files = "", nil
			return res, nil
		}
		res.Files = paths(changes)
		if !r.o.Commit {
			return res, nil
		}
		h, err := commitChanges(r.repo.Storer, base, changes, r.o)
		if err != nil {
			return nil, err
		}
		if err := moveBranch(r.repo, r.branch, base.Hash, h, changes); err != nil {
			return nil, err
		}
		res.Commit = h.String()
		if !r.o.Push {
			return res, nil
		}
		res.Attempts++
		next, err := r.attempt(ctx, res.Attempts, h, expect)
		if err != nil {
			if r.local {
				err = fmt.Errorf("%w (commit %s stays on branch %s, not pushed)", err, short(h), r.branch.Short())
			}
			return nil, err
		}
		if next == nil {
			return res, nil
		}
		base, expect = next, &next.Hash
	}
}

// attempt makes push attempt n of commit h. When the remote rejects it
// for having moved on, and attempts remain, it waits and refreshes, and
// returns the new tip to apply the edit on; nil when the push landed.
func (r *run) attempt(ctx context.Context, n int, h plumbing.Hash, expect *plumbing.Hash) (*object.Commit, error) {
	err := r.push(ctx, expect)
	if err == nil {
		return nil, nil
	}
	if !rejected(err, expect == nil) {
		return nil, err
	}
	if n > r.o.Retries {
		return nil, fmt.Errorf("push to %s (branch %s): %w: rejected on each of %d attempts, the branch having moved on (the last rejection: %v); run again later, or allow more retries", r.shown, r.dst, ErrNonFastForward, n, err)
	}
	if err := wait(ctx, r.o.Backoff, n); err != nil {
		return nil, err
	}
	ours, err := r.repo.CommitObject(h)
	if err != nil {
		return nil, err
	}
	return r.refresh(ctx, ours)
}

// push pushes the local branch to dst. With expect, the push is a
// compare-and-swap (a lease): it lands only if the remote branch is still
// at expect, which is an ancestor of the commit pushed, so it is a
// fast-forward and no client-side ancestry walk is needed (a shallow clone
// has no history to walk).
func (r *run) push(ctx context.Context, expect *plumbing.Hash) error {
	dst := plumbing.NewBranchReferenceName(r.dst)
	said := &tail{max: 4096}
	opts := &git.PushOptions{
		RemoteName: git.DefaultRemoteName,
		RemoteURL:  r.url,
		RefSpecs:   []config.RefSpec{config.RefSpec(r.branch.String() + ":" + dst.String())},
		Auth:       r.auth,
		Progress:   said,
	}
	if expect != nil {
		opts.Force = true
		opts.ForceWithLease = &git.ForceWithLease{RefName: dst, Hash: *expect}
	}
	err := r.repo.PushContext(ctx, opts)
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("push to %s (branch %s): %w", r.shown, r.dst, ctx.Err())
	}
	err = source.Scrub(err, r.rawURL, r.o.Auth)
	if rejected(err, expect == nil) {
		return err // the caller says what happened
	}
	msg := ""
	if s := strings.TrimSpace(said.String()); s != "" {
		msg = "; the remote said: " + source.Scrub(errors.New(s), r.rawURL, r.o.Auth).Error()
	}
	return fmt.Errorf("push to %s (branch %s): %w%s", r.shown, r.dst, explain(err), msg)
}

// rejected reports whether err is the remote refusing the push because
// the branch is not where the push expected it: a non-fast-forward, a lease
// that failed, or a concurrent update that the server's ref transaction
// caught. A plain push (no lease) into a shallow clone also fails with a
// missing object when the remote's tip is not in the clone's history, which
// is the same news.
func rejected(err error, plain bool) bool {
	if errors.Is(err, git.ErrNonFastForwardUpdate) {
		return true
	}
	if plain && errors.Is(err, plumbing.ErrObjectNotFound) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"non-fast-forward", "fetch first", "failed to update ref", "failed to lock", "cannot lock ref", "stale info"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// explain tidies a transport error (source.Tidy) and adds what to do next
// to those people meet when pushing.
func explain(err error) error {
	err = source.Tidy(err)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w; the credentials were refused: a token (https) or an ssh key (ssh) that may read and push to the repository is needed", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w; check the repository URL", err)
	}
	return err
}

// wait sleeps before retry n (1 for the first): backoff doubled n-1
// times, capped at maxBackoff, jittered to between half and all of it.
func wait(ctx context.Context, backoff time.Duration, n int) error {
	if backoff <= 0 {
		return ctx.Err()
	}
	d := backoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	d = min(d, maxBackoff)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetchTip fetches the remote's branch into its remote-tracking branch and
// returns its tip. depth 0 fetches the history missing.
func (r *run) fetchTip(ctx context.Context, branch string, depth int) (*object.Commit, error) {
	tracking := plumbing.NewRemoteReferenceName(git.DefaultRemoteName, branch)
	err := r.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName: git.DefaultRemoteName,
		RemoteURL:  r.url,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + plumbing.NewBranchReferenceName(branch).String() + ":" + tracking.String())},
		Auth:       r.auth,
		Depth:      depth,
		Tags:       git.NoTags,
		Force:      true,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, fmt.Errorf("fetch %s (branch %s): %w", r.shown, branch, explain(source.Scrub(err, r.rawURL, r.o.Auth)))
	}
	ref, err := r.repo.Reference(tracking, true)
	if err != nil {
		return nil, fmt.Errorf("fetch %s (branch %s): %w", r.shown, branch, err)
	}
	return r.repo.CommitObject(ref.Hash())
}

// tail keeps the last max bytes written to it: what the remote said
// (a hook's message) while pushing.
type tail struct {
	buf bytes.Buffer
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string { return t.buf.String() }

func short(h plumbing.Hash) string { return h.String()[:12] }
