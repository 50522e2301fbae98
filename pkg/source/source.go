package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/kubectl-gitops/kubectl-gitops/internal/flock"
)

// Request names what to fetch.
type Request struct {
	// Repo is a local path, a file:// URL, or a remote URL (https, http,
	// ssh, or scp-style user@host:path).
	Repo string
	// Revision is a branch, tag, full or short commit SHA, or HEAD (the
	// default).
	Revision string
}

// Options configure fetching.
type Options struct {
	// CacheDir holds the mirrors of remote repositories. Empty means
	// <os.UserCacheDir()>/kubectl-gitops/repos.
	CacheDir string
	// Auth authenticates to remote repositories.
	Auth Auth
	// Progress receives go-git's fetch progress. Nil discards it.
	Progress io.Writer
}

// Checkout is a revision's files, laid out in a temporary directory.
type Checkout struct {
	// Dir is the root of the repository's files at Commit.
	Dir string
	// Commit is the full SHA of the resolved commit.
	Commit string
	// Message is the first line of the commit message.
	Message string
	// Repo is the repository as requested.
	Repo string

	tmp string
}

// Close removes the checkout's files.
func (c *Checkout) Close() error { return os.RemoveAll(c.tmp) }

// ErrUnknownRevision is returned, wrapped, when the revision resolves to no
// commit.
var ErrUnknownRevision = errors.New("unknown revision")

// Fetch resolves req.Revision and writes the files of that commit into a new
// temporary directory. The caller must Close the result.
func Fetch(ctx context.Context, req Request, opts Options) (*Checkout, error) {
	if req.Repo == "" {
		return nil, errors.New("no repository given; pass --repo with a path or URL")
	}
	if req.Revision == "" {
		req.Revision = "HEAD"
	}
	if local, ok := localPath(req.Repo); ok {
		repo, err := git.PlainOpenWithOptions(local, &git.PlainOpenOptions{DetectDotGit: true})
		if err != nil {
			return nil, fmt.Errorf("repository %s: %w; pass a Git work tree, a bare repository or a URL", req.Repo, err)
		}
		return checkout(repo, req)
	}
	return fetchRemote(ctx, req, opts)
}

// localPath reports whether repo names a local repository, and its path.
func localPath(repo string) (string, bool) {
	if strings.HasPrefix(repo, "file://") {
		u, err := url.Parse(repo)
		if err == nil {
			return u.Path, true
		}
	}
	if strings.Contains(repo, "://") || scpLike.MatchString(repo) {
		return "", false
	}
	return repo, true
}

// scpLike matches user@host:path (and host:path with a dotted host), the
// form ssh URLs take without a scheme.
var scpLike = regexp.MustCompile(`^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+\.[A-Za-z0-9.-]*:[^/\\]|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:`)

func fetchRemote(ctx context.Context, req Request, opts Options) (*Checkout, error) {
	ep, err := transport.NewEndpoint(req.Repo)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", req.Repo, err)
	}
	auth, err := opts.Auth.method(ep)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", redact(req.Repo), err)
	}
	cache := opts.CacheDir
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("no cache directory for repository mirrors: %w", err)
		}
		cache = filepath.Join(base, "kubectl-gitops", "repos")
	}
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(redact(req.Repo)))
	mirror := filepath.Join(cache, hex.EncodeToString(sum[:12])+".git")
	unlock, err := flock.Lock(mirror + ".lock")
	if err != nil {
		return nil, fmt.Errorf("lock mirror of %s: %w", redact(req.Repo), err)
	}
	defer unlock()

	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	refSpecs := []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	repo, err := git.PlainOpen(mirror)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		_ = os.RemoveAll(mirror) // a half-made mirror from an interrupted clone
		repo, err = git.PlainCloneContext(ctx, mirror, true, &git.CloneOptions{
			URL: req.Repo, Auth: auth, Progress: progress, Mirror: true, Tags: git.AllTags,
		})
		if err != nil {
			_ = os.RemoveAll(mirror)
			return nil, fmt.Errorf("clone %s: %w", redact(req.Repo), explain(err))
		}
	} else if err != nil {
		return nil, fmt.Errorf("open mirror %s of %s: %w; delete it to start over", mirror, redact(req.Repo), err)
	} else {
		err = repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin", RemoteURL: req.Repo, RefSpecs: refSpecs, Auth: auth, Progress: progress, Force: true, Prune: true, Tags: git.AllTags,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil, fmt.Errorf("fetch %s: %w", redact(req.Repo), explain(err))
		}
	}
	return checkout(repo, req)
}

// checkout resolves the revision and exports its tree.
func checkout(repo *git.Repository, req Request) (*Checkout, error) {
	hash, err := repo.ResolveRevision(plumbing.Revision(req.Revision))
	if err != nil {
		return nil, fmt.Errorf("%w %q in %s: %v; use a branch, tag, commit SHA or HEAD that exists there", ErrUnknownRevision, req.Revision, redact(req.Repo), err)
	}
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, fmt.Errorf("%w %q in %s: %v", ErrUnknownRevision, req.Revision, redact(req.Repo), err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", hash, err)
	}
	tmp, err := os.MkdirTemp("", "kubectl-gitops-src-")
	if err != nil {
		return nil, err
	}
	// The files go one level down, so that a kustomization reaching above
	// the repository root finds an empty directory, not the host's files.
	dir := filepath.Join(tmp, "repo")
	co := &Checkout{Dir: dir, Commit: hash.String(), Repo: req.Repo, tmp: tmp}
	co.Message, _, _ = strings.Cut(commit.Message, "\n")
	if err := export(tree, dir); err != nil {
		co.Close()
		return nil, fmt.Errorf("write files of %s: %w", hash, err)
	}
	return co, nil
}

// export writes every file of tree under dir. Symbolic links are recreated
// as links (render refuses those that leave the repository); submodules are
// left out.
func export(tree *object.Tree, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		switch entry.Mode {
		case filemode.Dir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case filemode.Submodule:
		case filemode.Symlink:
			link, err := readBlob(tree, name)
			if err != nil {
				return err
			}
			if err := os.Symlink(string(link), target); err != nil {
				return err
			}
		default:
			data, err := readBlob(tree, name)
			if err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if entry.Mode == filemode.Executable {
				mode = 0o755
			}
			if err := os.WriteFile(target, data, mode); err != nil {
				return err
			}
		}
	}
}

func readBlob(tree *object.Tree, name string) ([]byte, error) {
	f, err := tree.File(name)
	if err != nil {
		return nil, err
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// redact drops a password or token from a URL before it reaches a message.
func redact(repo string) string {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil {
		return repo
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	return u.String()
}

// explain adds what to do next to the transport errors people meet.
func explain(err error) error {
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w; set GIT_TOKEN or pass --git-token-file (https), or --ssh-key-file (ssh)", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w; check the --repo URL", err)
	}
	return err
}
