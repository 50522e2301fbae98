package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

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
	// OnFetch, when set, is told of each fetch from a remote repository
	// (its URL without credentials, how long it took, its error).
	OnFetch func(repo string, d time.Duration, err error)
	// Lazy resolves the revision without writing its files: Checkout.Dir
	// is empty until Files writes them (a caller that finds the commit
	// rendered already never does).
	Lazy bool
}

// Checkout is a revision's files, laid out in a temporary directory.
type Checkout struct {
	// Dir is the root of the repository's files at Commit; empty for a
	// lazy checkout until Files wrote them.
	Dir string
	// Commit is the full SHA of the resolved commit.
	Commit string
	// Message is the first line of the commit message.
	Message string
	// Author is the commit's author, "Name <email>".
	Author string
	// Repo is the repository as requested, credentials removed
	// (RedactURL): fit to be shown and stored.
	Repo string
	// Root is, for a local repository, the absolute path of its root (the
	// work tree, or the bare repository); empty for a remote one.
	Root string
	// Subdir is, when Repo names a directory inside a work tree, that
	// directory relative to Root, slash-separated; "" otherwise. Dir then
	// holds only the files below it.
	Subdir string
	// Origin is the URL of a local repository's origin remote, credentials
	// removed; empty when it has none, and for remote repositories.
	Origin string

	tmp  string
	repo *git.Repository // local repositories only
	head bool            // Commit is the commit checked out in the work tree
	// repair, for a remote repository, clones its mirror afresh (under
	// the mirror's lock) and returns the commit's tree from it: Files uses
	// it when the mirror cannot give the files (an object damaged).
	repair func() (*object.Tree, error)

	statusOnce sync.Once
	status     git.Status
	statusErr  error

	// tree is what Files writes; filesOnce writes it once, however many
	// renders share the checkout.
	tree      *object.Tree
	filesOnce sync.Once
	filesErr  error
	closeMu   sync.Mutex
	closed    bool
}

// Files writes the checkout's files, once, and returns their root (Dir).
// Safe for concurrent use; a checkout that is not lazy has them already.
func (c *Checkout) Files() (string, error) {
	c.filesOnce.Do(func() {
		if c.tree == nil {
			return // written by Fetch
		}
		c.closeMu.Lock()
		defer c.closeMu.Unlock()
		if c.closed {
			c.filesErr = errors.New("checkout of " + c.Repo + " is closed")
			return
		}
		tmp, err := os.MkdirTemp("", "kubectl-gitops-src-")
		if err != nil {
			c.filesErr = err
			return
		}
		c.tmp = tmp
		// The files go one level down, so that a kustomization reaching
		// above the repository root finds an empty directory, not the
		// host's files.
		dir := filepath.Join(tmp, "repo")
		err = export(c.tree, dir)
		if err != nil && c.repair != nil {
			// A damaged object in the mirror: clone it again, once.
			_ = os.RemoveAll(dir)
			tree, rerr := c.repair()
			if rerr != nil {
				err = fmt.Errorf("%w; cloning the mirror again failed: %v", err, rerr)
			} else {
				err = export(tree, dir)
			}
		}
		if err != nil {
			c.filesErr = fmt.Errorf("write files of %s: %w", c.Commit, err)
			return
		}
		c.Dir = dir
	})
	return c.Dir, c.filesErr
}

// Close removes the checkout's files.
func (c *Checkout) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	c.closed = true
	if c.tmp == "" {
		return nil
	}
	return os.RemoveAll(c.tmp)
}

// ErrUnknownRevision is returned, wrapped, when the revision resolves to no
// commit.
var ErrUnknownRevision = errors.New("unknown revision")

// Fetch resolves req.Revision and writes the files of that commit into a new
// temporary directory. The caller must Close the result.
func Fetch(ctx context.Context, req Request, opts Options) (*Checkout, error) {
	if req.Repo == "" {
		return nil, errors.New("no repository given: a local path or a URL is needed")
	}
	if req.Revision == "" {
		req.Revision = "HEAD"
	}
	var co *Checkout
	var err error
	if local, ok := localPath(req.Repo); ok {
		co, err = fetchLocal(local, req)
	} else {
		start := time.Now()
		co, err = fetchRemote(ctx, req, opts)
		if opts.OnFetch != nil {
			opts.OnFetch(RedactURL(req.Repo), time.Since(start), err)
		}
	}
	if err != nil || opts.Lazy {
		return co, err
	}
	if _, err := co.Files(); err != nil {
		co.Close()
		return nil, err
	}
	return co, nil
}

// fetchLocal opens the repository at local, or the work tree that holds
// the directory local names.
func fetchLocal(local string, req Request) (*Checkout, error) {
	abs, err := filepath.Abs(local)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", req.Repo, err)
	}
	repo, err := git.PlainOpen(abs)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	}
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w; name a Git work tree (or a directory in one), a bare repository or a URL", req.Repo, err)
	}
	root, bare, err := repoRoot(repo)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", req.Repo, err)
	}
	subdir, err := relativeTo(root, abs)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", req.Repo, err)
	}
	if bare && subdir != "" {
		return nil, fmt.Errorf("repository %s: a directory inside the bare repository %s; name the repository itself", req.Repo, root)
	}
	if subdir == ".git" || strings.HasPrefix(subdir, ".git/") {
		return nil, fmt.Errorf("repository %s: a directory inside the .git directory of %s; name the work tree", req.Repo, root)
	}
	co, err := checkout(repo, req, subdir)
	if err != nil {
		return nil, err
	}
	co.Root, co.Subdir, co.repo = root, subdir, repo
	if remote, err := repo.Remote("origin"); err == nil && len(remote.Config().URLs) > 0 {
		co.Origin = RedactURL(remote.Config().URLs[0])
	}
	if head, err := repo.Head(); err == nil && !bare {
		co.head = head.Hash().String() == co.Commit
	}
	return co, nil
}

// repoRoot returns the absolute root of an opened repository: its work
// tree, or for a bare repository the repository directory.
func repoRoot(repo *git.Repository) (string, bool, error) {
	if wt, err := repo.Worktree(); err == nil {
		return wt.Filesystem.Root(), false, nil
	} else if !errors.Is(err, git.ErrIsBareRepository) {
		return "", false, err
	}
	if fs, ok := repo.Storer.(interface{ Filesystem() billy.Filesystem }); ok {
		return fs.Filesystem().Root(), true, nil
	}
	return "", true, errors.New("cannot tell where the bare repository is")
}

// relativeTo returns dir relative to root, slash-separated, "" for root
// itself, with symbolic links resolved on both sides.
func relativeTo(root, dir string) (string, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(realRoot, realDir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is not inside the repository %s", dir, root)
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
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
	shown := RedactURL(req.Repo)
	// Credentials in an http(s) URL travel as basic auth, never as part
	// of the URL go-git stores in the mirror or puts in its errors.
	remoteURL, auth, err := Transport(req.Repo, opts.Auth)
	if err != nil {
		return nil, err
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
	sum := sha256.Sum256([]byte(shown))
	mirror := filepath.Join(cache, hex.EncodeToString(sum[:12])+".git")
	unlock, err := flock.Lock(mirror + ".lock")
	if err != nil {
		return nil, fmt.Errorf("lock mirror of %s: %w", shown, err)
	}
	defer unlock()

	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	clone := func(ctx context.Context, damaged error) (*git.Repository, error) {
		_ = os.RemoveAll(mirror) // a half-made or damaged mirror
		repo, err := git.PlainCloneContext(ctx, mirror, true, &git.CloneOptions{
			URL: remoteURL, Auth: auth, Progress: progress, Mirror: true, Tags: git.AllTags,
		})
		if err != nil {
			_ = os.RemoveAll(mirror)
			if damaged != nil {
				return nil, fmt.Errorf("clone %s again (its mirror %s was damaged: %v): %w", shown, mirror, scrub(damaged, req.Repo), explain(scrub(err, req.Repo)))
			}
			return nil, fmt.Errorf("clone %s: %w", shown, explain(scrub(err, req.Repo)))
		}
		return repo, nil
	}
	refSpecs := []config.RefSpec{"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"}
	repaired := false
	repo, err := git.PlainOpen(mirror)
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		if repo, err = clone(ctx, nil); err != nil {
			return nil, err
		}
		repaired = true // fresh
	case err != nil:
		// Its config or HEAD unreadable: nothing of it can be trusted.
		if repo, err = clone(ctx, err); err != nil {
			return nil, err
		}
		repaired = true
	default:
		forgetCredentials(repo, remoteURL)
		err = repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin", RemoteURL: remoteURL, RefSpecs: refSpecs, Auth: auth, Progress: progress, Force: true, Prune: true, Tags: git.AllTags,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			// The remote's fault (gone, an HTTP error, a cut or corrupt
			// pack: go-git stores no pack it could not read), unless the
			// mirror's own objects are damaged.
			var damaged error
			if !remoteRefused(err) {
				damaged = verifyMirror(repo)
			}
			if ctx.Err() != nil || damaged == nil {
				return nil, fmt.Errorf("fetch %s: %w", shown, explain(scrub(err, req.Repo)))
			}
			if repo, err = clone(ctx, damaged); err != nil {
				return nil, err
			}
			repaired = true
		}
	}
	co, err := checkedCheckout(repo, req)
	if err != nil && !repaired {
		// An unknown revision, or a damaged mirror that says so.
		damaged := verifyMirror(repo)
		if damaged == nil && !errors.Is(err, ErrUnknownRevision) {
			damaged = err // a tree of the commit is damaged
		}
		if damaged != nil {
			if repo, err = clone(ctx, damaged); err != nil {
				return nil, err
			}
			co, err = checkedCheckout(repo, req)
		}
	}
	if err != nil {
		return nil, err
	}
	hash := plumbing.NewHash(co.Commit)
	co.repair = func() (*object.Tree, error) {
		unlock, err := flock.Lock(mirror + ".lock")
		if err != nil {
			return nil, fmt.Errorf("lock mirror of %s: %w", shown, err)
		}
		defer unlock()
		repo, err := clone(ctx, errors.New("an object of commit "+co.Commit+" unreadable"))
		if err != nil {
			return nil, err
		}
		commit, err := repo.CommitObject(hash)
		if err != nil {
			return nil, fmt.Errorf("commit %s in %s: %w", co.Commit, shown, err)
		}
		return commit.Tree()
	}
	return co, nil
}

// checkObject reads an object and checks that its content hashes to its
// name: go-git reads some damaged objects without an error.
func checkObject(o plumbing.EncodedObject) error {
	r, err := o.Reader()
	if err != nil {
		return fmt.Errorf("object %s: %w", o.Hash(), err)
	}
	defer r.Close()
	h := plumbing.NewHasher(o.Type(), o.Size())
	if _, err := io.Copy(h, r); err != nil {
		return fmt.Errorf("object %s: %w", o.Hash(), err)
	}
	if sum := h.Sum(); sum != o.Hash() {
		return fmt.Errorf("object %s: its content hashes to %s", o.Hash(), sum)
	}
	return nil
}

// checkTrees checks the commit object and every tree below it (not the
// blobs: export checks those as it writes them).
func checkTrees(repo *git.Repository, commit plumbing.Hash) (err error) {
	defer recoverDamage(&err)
	o, err := repo.Storer.EncodedObject(plumbing.CommitObject, commit)
	if err != nil {
		return fmt.Errorf("commit %s: %w", commit, err)
	}
	if err := checkObject(o); err != nil {
		return err
	}
	c, err := object.DecodeCommit(repo.Storer, o)
	if err != nil {
		return fmt.Errorf("commit %s: %w", commit, err)
	}
	var walk func(h plumbing.Hash) error
	walk = func(h plumbing.Hash) error {
		o, err := repo.Storer.EncodedObject(plumbing.TreeObject, h)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		if err := checkObject(o); err != nil {
			return err
		}
		t, err := object.DecodeTree(repo.Storer, o)
		if err != nil {
			return fmt.Errorf("tree %s: %w", h, err)
		}
		for _, e := range t.Entries {
			if e.Mode == filemode.Dir {
				if err := walk(e.Hash); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(c.TreeHash)
}

// recoverDamage turns a panic of go-git reading a damaged mirror into
// an error.
func recoverDamage(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("reading the mirror failed: %v", p)
	}
}

// checkedCheckout is checkout of a mirror, with the commit and its trees
// checked.
func checkedCheckout(repo *git.Repository, req Request) (co *Checkout, err error) {
	defer recoverDamage(&err)
	if co, err = checkout(repo, req, ""); err != nil {
		return nil, err
	}
	if err := checkTrees(repo, plumbing.NewHash(co.Commit)); err != nil {
		return nil, fmt.Errorf("mirror of %s: %w", co.Repo, err)
	}
	return co, nil
}

// remoteRefused says a fetch failed before any pack arrived, by the
// remote's answer or its absence (credentials refused, no such repository,
// an HTTP error, no connection): the mirror played no part, and reading it
// whole (under its lock, at every poll of a wrong password) would cost for
// nothing.
func remoteRefused(err error) bool {
	var httpErr *githttp.Err
	var netErr *net.OpError
	return errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) ||
		errors.Is(err, transport.ErrRepositoryNotFound) || errors.As(err, &httpErr) || errors.As(err, &netErr)
}

// verifyMirror reads every object of the mirror and says what is damaged
// (nil: nothing). It is asked only when the mirror failed a fetch or a
// checkout, to tell a damaged mirror from a remote's fault or a revision
// that does not exist.
func verifyMirror(repo *git.Repository) (err error) {
	defer recoverDamage(&err) // go-git panics on some damaged pack indexes
	iter, err := repo.Storer.IterEncodedObjects(plumbing.AnyObject)
	if err != nil {
		return err
	}
	defer iter.Close()
	err = iter.ForEach(func(o plumbing.EncodedObject) error {
		return checkObject(o)
	})
	if err != nil {
		return err
	}
	refs, err := repo.References()
	if err != nil {
		return err
	}
	defer refs.Close()
	return refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		if _, err := repo.Storer.EncodedObject(plumbing.AnyObject, ref.Hash()); err != nil {
			return fmt.Errorf("%s: %w", ref.Name(), err)
		}
		return nil
	})
}

// forgetCredentials rewrites the origin URL of a mirror that an earlier
// version cloned with the credentials in it.
func forgetCredentials(repo *git.Repository, clean string) {
	cfg, err := repo.Config()
	if err != nil {
		return
	}
	origin, ok := cfg.Remotes["origin"]
	if !ok || len(origin.URLs) == 0 || (len(origin.URLs) == 1 && origin.URLs[0] == clean) || RedactURL(origin.URLs[0]) == origin.URLs[0] {
		return
	}
	origin.URLs = []string{clean}
	_ = repo.SetConfig(cfg)
}

// checkout resolves the revision to its tree, or only the subtree at
// subdir, for Files to write.
func checkout(repo *git.Repository, req Request, subdir string) (*Checkout, error) {
	shown := RedactURL(req.Repo)
	hash, err := repo.ResolveRevision(plumbing.Revision(req.Revision))
	if err != nil {
		return nil, fmt.Errorf("%w %q in %s: %v; use a branch, tag, commit SHA or HEAD that exists there", ErrUnknownRevision, req.Revision, shown, scrub(err, req.Repo))
	}
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, fmt.Errorf("%w %q in %s: %v", ErrUnknownRevision, req.Revision, shown, scrub(err, req.Repo))
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s: %w", hash, err)
	}
	if subdir != "" {
		if tree, err = tree.Tree(subdir); err != nil {
			return nil, fmt.Errorf("repository %s: directory %s is not in commit %s; commit it, or name the repository root", shown, subdir, hash.String()[:12])
		}
	}
	co := &Checkout{Commit: hash.String(), Repo: shown, tree: tree}
	co.Message, _, _ = strings.Cut(commit.Message, "\n")
	co.Author = commit.Author.String()
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

// readBlob reads a file of tree, checking that its content hashes to its
// name (a damaged mirror can give other bytes without an error).
func readBlob(tree *object.Tree, name string) (data []byte, err error) {
	defer recoverDamage(&err)
	f, err := tree.File(name)
	if err != nil {
		return nil, err
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if data, err = io.ReadAll(r); err != nil {
		return nil, err
	}
	if sum := plumbing.ComputeHash(plumbing.BlobObject, data); sum != f.Hash {
		return nil, fmt.Errorf("%s: blob %s hashes to %s: the object is damaged", name, f.Hash, sum)
	}
	return data, nil
}

// explain tidies a transport error (a server's message may be empty or
// end in a newline: "authentication required: ", "...: 404 page not
// found\n") and adds what to do next to those people meet.
func explain(err error) error {
	err = Tidy(err)
	switch {
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("%w; the repository wants credentials: a token or password (https) or an ssh key (ssh)", err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("%w; check the repository URL", err)
	}
	return err
}

// Tidy trims a transport error's text (a server's message may be empty or
// end in a newline), keeping the error for errors.Is.
func Tidy(err error) error {
	if msg := strings.TrimSuffix(strings.TrimSpace(err.Error()), ":"); msg != err.Error() {
		return &tidied{msg: msg, err: err}
	}
	return err
}

// tidied is an error with its message trimmed.
type tidied struct {
	msg string
	err error
}

func (e *tidied) Error() string { return e.msg }
func (e *tidied) Unwrap() error { return e.err }

// Uncommitted lists the files below path (relative to Dir) that differ
// from the commit checked out in the work tree: modified, staged, deleted
// or untracked (ignored files excepted), at most limit of them, sorted,
// relative to Root; total counts them all. It returns nothing for remote
// and bare repositories and when Commit is not the work tree's HEAD: then
// the work tree has no bearing on what was fetched.
func (c *Checkout) Uncommitted(path string, limit int) (files []string, total int, err error) {
	if c.repo == nil || !c.head {
		return nil, 0, nil
	}
	// The work tree's status is read once per checkout (a shared one is
	// asked by every app rendering it).
	c.statusOnce.Do(func() {
		wt, err := c.repo.Worktree()
		if err != nil {
			c.statusErr = err
			return
		}
		if c.status, err = wt.Status(); err != nil {
			c.statusErr = fmt.Errorf("status of %s: %w", c.Root, err)
		}
	})
	st, err := c.status, c.statusErr
	if err != nil {
		return nil, 0, err
	}
	prefix := strings.Trim(filepath.ToSlash(filepath.Join(filepath.FromSlash(c.Subdir), filepath.Clean(path))), "/")
	if prefix == "." {
		prefix = ""
	}
	var all []string
	for name, s := range st {
		if s.Staging == git.Unmodified && s.Worktree == git.Unmodified {
			continue
		}
		if prefix == "" || name == prefix || strings.HasPrefix(name, prefix+"/") {
			all = append(all, name)
		}
	}
	sort.Strings(all)
	if limit >= 0 && len(all) > limit {
		return all[:limit], len(all), nil
	}
	return all, len(all), nil
}

// Checkouts share checkouts among the renders of one run: each repository
// and revision is fetched and laid out once, however many apps render it
// (the Applications of an ApplicationSet, the children of an app of apps).
// A revision is resolved once per run, so every app of the run renders the
// same commit of it. Checkouts handed out are shared and must not be
// written to or closed; Close removes them all. Safe for concurrent use.
type Checkouts struct {
	mu sync.Mutex
	m  map[checkoutKey]*sharedCheckout
}

type checkoutKey struct {
	repo, revision string
	// credentials tell fetches with other credentials apart: an app
	// fetched without credentials never reads what they fetched.
	credentials string
}

type sharedCheckout struct {
	done chan struct{}
	co   *Checkout
	err  error
}

// NewCheckouts returns an empty set of shared checkouts.
func NewCheckouts() *Checkouts { return &Checkouts{m: map[checkoutKey]*sharedCheckout{}} }

// Fetch is Fetch, shared: the first call for a repository and revision
// fetches, the others wait for it and get the same checkout (or error).
func (cs *Checkouts) Fetch(ctx context.Context, req Request, opts Options) (*Checkout, error) {
	if req.Revision == "" {
		req.Revision = "HEAD"
	}
	k := checkoutKey{repo: req.Repo, revision: req.Revision, credentials: opts.Auth.identity()}
	cs.mu.Lock()
	e, ok := cs.m[k]
	if !ok {
		e = &sharedCheckout{done: make(chan struct{})}
		cs.m[k] = e
	}
	cs.mu.Unlock()
	if !ok {
		lazy := opts
		lazy.Lazy = true // written on the first Files, by whoever needs them
		e.co, e.err = Fetch(ctx, req, lazy)
		if e.err != nil && ctx.Err() != nil {
			// A stopped fetch is no answer for the others: the next one
			// tries again.
			cs.mu.Lock()
			delete(cs.m, k)
			cs.mu.Unlock()
		}
		close(e.done)
		return e.co, e.files(opts.Lazy)
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.co, e.files(opts.Lazy)
}

// files is the shared fetch's error, or, for a caller that is not lazy,
// the error of writing its files.
func (e *sharedCheckout) files(lazy bool) error {
	if e.err != nil || lazy {
		return e.err
	}
	_, err := e.co.Files()
	return err
}

// Close removes every checkout.
func (cs *Checkouts) Close() error {
	cs.mu.Lock()
	entries := make([]*sharedCheckout, 0, len(cs.m))
	for k, e := range cs.m {
		entries = append(entries, e)
		delete(cs.m, k)
	}
	cs.mu.Unlock()
	var errs []error
	for _, e := range entries {
		<-e.done // a fetch under way ends with its context; its files go too
		if e.co != nil {
			errs = append(errs, e.co.Close())
		}
	}
	return errors.Join(errs...)
}
