package gitpush

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// Edit changes files under root (a work tree) and returns the
// repository-relative paths it changed (slash-separated); no paths means
// nothing to commit. It is called again, on a fresh tip, after a
// non-fast-forward rejection, so it must be a pure function of the files it
// reads (re-apply the same edit, not a textual rebase).
//
// Only the paths returned are committed, with their content in the work
// tree (a path that no longer exists is deleted); a returned path whose
// content equals the tip's is not a change.
type Edit func(root string) (changed []string, err error)

// Options say where to apply an edit and what to do with it.
type Options struct {
	// Repo is the remote URL (https or ssh) for remote mode; empty for
	// local mode (Dir is a work tree whose remote "origin" is pushed to).
	Repo string
	// Dir is the local work tree (local mode), or any directory inside
	// it; empty in remote mode (a clone is made in CacheDir, removed
	// afterwards).
	Dir string
	// Branch is the branch to start from: in remote mode the branch to
	// clone (empty: the remote's default branch); in local mode the
	// current branch, which must be checked out (empty: whichever is).
	Branch string
	// PushBranch, when set, is pushed to instead of Branch (a new branch
	// for a pull request flow). In remote mode, when it exists already
	// and does not contain the commit, the edit is applied again on its
	// tip; in local mode that is an error (the local branch is not moved
	// to another branch's tip).
	PushBranch string
	// Auth authenticates to the remote. Without a token, credentials in
	// an http(s) URL (Repo, or origin's URL) are used, as basic auth.
	Auth source.Auth
	// Message is the commit message.
	Message string
	// Author and Committer sign the commit (Name, Email; a zero When is
	// the time of the commit). A zero Committer is the Author.
	Author, Committer object.Signature
	// Commit makes the commit; false edits only (local mode; in remote
	// mode the clone is removed, so that only reports the files). In
	// remote mode, Commit without Push commits in the clone and discards
	// it: a dry run that reports the commit it would have pushed.
	Commit bool
	// Push pushes the commit (needs Commit).
	Push bool
	// AllowDirty allows a local work tree with uncommitted changes to
	// tracked files; they are not committed unless the edit changed the
	// same file. Untracked files never count as changes.
	AllowDirty bool
	// Retries bounds the attempts after a non-fast-forward rejection:
	// at most 1+Retries pushes.
	Retries int
	// Backoff is the wait before the first retry; it doubles for each
	// next one, capped at 10 s, and each wait is jittered to between half
	// and all of it. Zero retries at once.
	Backoff time.Duration
	// SignKey, when set, signs commits (an OpenPGP entity with its
	// private key decrypted, as go-git's CommitOptions.SignKey).
	SignKey *openpgp.Entity
	// CacheDir holds remote mode's temporary clones; empty means the
	// system's temporary directory.
	CacheDir string
}

// DefaultOptions returns Options that commit and push, retrying a
// non-fast-forward rejection 10 times from a 200 ms backoff.
func DefaultOptions() Options {
	return Options{Commit: true, Push: true, Retries: 10, Backoff: 200 * time.Millisecond}
}

// Result is what Run did.
type Result struct {
	// Commit is the SHA pushed (or committed); "" when nothing changed
	// or nothing was committed.
	Commit string
	// Files are the paths changed, sorted, slash-separated.
	Files []string
	// Attempts counts the pushes.
	Attempts int
	// Branch is the branch pushed to (or committed on).
	Branch string
}

var (
	// ErrNonFastForward is returned, wrapped, when every push attempt was
	// rejected because the branch had moved on, or when the local branch
	// cannot be rebuilt on the new tip.
	ErrNonFastForward = errors.New("non-fast-forward")
	// ErrDirty is returned, wrapped, when a local work tree has
	// uncommitted changes and AllowDirty is false.
	ErrDirty = errors.New("uncommitted changes")
)

// maxBackoff caps the wait between two attempts.
const maxBackoff = 10 * time.Second

// maxListed bounds the files an error names.
const maxListed = 10

// Run applies edit and, as o says, commits and pushes it: see Options and
// the package documentation. A run that changes nothing returns a Result
// with no Commit, and makes no commit and no push. After a rejection Run
// waits its backoff first, then fetches the new tip and applies the edit
// there, so that the tip it builds on is as fresh as can be when it pushes.
//
// Remote-mode runs are independent (each has a clone of its own) and may
// run at once, in one process or many. A local-mode run edits its work
// tree and moves its branch: one at a time per work tree.
func Run(ctx context.Context, o Options, edit Edit) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if edit == nil {
		return nil, errors.New("no edit given")
	}
	if o.Repo != "" {
		return runRemote(ctx, o, edit)
	}
	return runLocal(ctx, o, edit)
}

// Validate checks o without touching a repository.
func (o *Options) Validate() error {
	switch {
	case o.Repo != "" && o.Dir != "":
		return errors.New("both a repository URL and a local directory given; give one")
	case o.Repo == "" && o.Dir == "":
		return errors.New("no repository given: a remote URL or a local work tree is needed")
	case o.Push && !o.Commit:
		return errors.New("push without commit: pushing needs the commit made")
	case o.Commit && strings.TrimSpace(o.Message) == "":
		return errors.New("no commit message given")
	case o.Retries < 0:
		return fmt.Errorf("retries %d: must not be negative", o.Retries)
	case o.Backoff < 0:
		return fmt.Errorf("backoff %s: must not be negative", o.Backoff)
	}
	for _, b := range []struct{ what, name string }{{"branch", o.Branch}, {"push branch", o.PushBranch}} {
		if b.name == "" {
			continue
		}
		if err := plumbing.NewBranchReferenceName(b.name).Validate(); err != nil || strings.HasPrefix(b.name, "refs/") || strings.HasPrefix(b.name, "-") {
			return fmt.Errorf("%s %q: not a valid branch name", b.what, b.name)
		}
	}
	if o.Commit {
		if o.Author.Name == "" || o.Author.Email == "" {
			return errors.New("no commit author: a name and an email are needed")
		}
		for _, s := range []struct{ what, v string }{
			{"author name", o.Author.Name}, {"author email", o.Author.Email},
			{"committer name", o.Committer.Name}, {"committer email", o.Committer.Email},
		} {
			if strings.ContainsAny(s.v, "<>\n") {
				return fmt.Errorf("%s %q: must not hold <, > or a newline", s.what, s.v)
			}
		}
		if (o.Committer.Name == "") != (o.Committer.Email == "") {
			return errors.New("committer: give both a name and an email, or neither (the author commits)")
		}
	}
	return nil
}

// signatures returns the author and committer of a commit made now.
func (o *Options) signatures() (author, committer object.Signature) {
	now := time.Now()
	author = o.Author
	if author.When.IsZero() {
		author.When = now
	}
	committer = o.Committer
	if committer.Name == "" {
		committer = o.Author
	}
	if committer.When.IsZero() {
		committer.When = now
	}
	return author, committer
}

// listFiles names at most maxListed files, and how many more there are.
func listFiles(files []string) string {
	if len(files) <= maxListed {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(files[:maxListed], ", "), len(files)-maxListed)
}
