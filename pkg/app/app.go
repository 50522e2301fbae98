package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// Source names what an app renders and how to read it.
type Source struct {
	// Repo is a local path (a work tree, a directory inside one, or a bare
	// repository), a file:// URL, or a remote URL (https, http, ssh, or
	// scp-style user@host:path). Credentials in an http(s) URL are used
	// and never shown.
	Repo string
	// Revision is a branch, tag, full or short commit SHA, or HEAD (the
	// default when empty).
	Revision string
	// Path is the directory to render, relative to the directory Repo
	// names; empty means ".".
	Path string
	// Auth authenticates to remote repositories.
	Auth source.Auth
	// EnableExec lets exec KRM functions named by the repository run.
	EnableExec bool
	// EnableContainerFunctions lets container KRM functions named by the
	// repository run.
	EnableContainerFunctions bool
	// Keys decrypt SOPS-encrypted files; nil or empty leaves them
	// encrypted (see Rendered.Encrypted).
	Keys *sops.Keys
	// Local, when set, is a directory rendered as it is on disk, without
	// Git: no fetch, no commit; Repo, Revision and Path are ignored. Inside
	// a Git work tree the work tree is the root the render may read below
	// (an overlay's ../base resolves); elsewhere the directory itself is.
	Local string
	// Directory chooses the files of a plain directory as an Argo CD
	// Application's spec.source.directory does; nil reads every manifest
	// below the path.
	Directory *render.Directory
	// Kustomize are an Application's spec.source.kustomize overrides; the
	// render adds the commit to their Env (ARGOCD_APP_REVISION,
	// ARGOCD_APP_REVISION_SHORT, ARGOCD_APP_REVISION_SHORT_8).
	Kustomize *render.Kustomize
}

// Options tune Render; the zero value works.
type Options struct {
	// Progress receives fetch progress; nil discards it.
	Progress io.Writer
	// Warn receives warnings and notices, one sentence each, without a
	// "warning:" prefix; nil drops them (they are in Rendered.Warnings
	// too).
	Warn func(string)
	// CacheDir holds mirrors of remote repositories; empty means
	// <os.UserCacheDir()>/kubectl-gitops/repos.
	CacheDir string
	// Self is the path of a kubectl-gitops binary, and OwnFunctions the
	// names of its KRM functions: those run with Self, whatever PATH
	// holds, without EnableExec. Empty Self runs them as any other exec
	// function.
	Self         string
	OwnFunctions map[string]bool
	// OnPrivateDir is told of every directory Render makes that holds a
	// secret (the age keys handed to the decrypt function), right after
	// making it; Render removes the directory before it returns and then
	// calls the function returned. A command uses it to remove the
	// directory also when the process gets a signal.
	OnPrivateDir func(dir string) (removed func())
	// Checkouts, when set, shares the checkouts of the run's renders (each
	// repository and revision fetched once); nil fetches for this render
	// alone.
	Checkouts *source.Checkouts
	// Cache, when set, keeps renders by commit, path and render inputs: a
	// commit rendered before is fetched (to learn it is the same) but not
	// written out or rendered again.
	Cache *RenderCache
	// RefreshCache renders even a commit the cache holds, and replaces
	// what it holds (a hard refresh).
	RefreshCache bool
	// OnFetch is told of each fetch from a remote repository (see
	// source.Options).
	OnFetch func(repo string, d time.Duration, err error)
}

// SourceInfo says exactly what was read, in a form fit to be shown and
// stored (no credentials).
type SourceInfo struct {
	// Repo is the repository: for a local one the absolute path of its
	// root, for a remote one its URL without credentials.
	Repo string
	// Root is, for a local repository, the absolute path of its root;
	// empty for remote ones.
	Root string
	// Origin is, for a local repository, the URL of its origin remote
	// without credentials; empty when it has none, and for remote
	// repositories.
	Origin string
	// Path is the directory rendered, relative to the repository root,
	// slash-separated ("." for the root).
	Path string
	// Revision is the revision asked for.
	Revision string
	// Commit is the full SHA of the commit rendered, and Message the first
	// line of its message; both empty for a local directory.
	Commit, Message string
	// Local is the absolute directory rendered from disk when the source
	// was Local; empty for a render from Git.
	Local string
	// Author is the commit's author, "Name <email>".
	Author string
}

// Rendered is what a source rendered to.
type Rendered struct {
	Source  SourceInfo
	Objects []*unstructured.Unstructured
	// Encrypted lists the SOPS-encrypted files no key opened, with their
	// recipients; what the build made of them must not be applied (see
	// RefuseEncrypted).
	Encrypted []EncryptedFile
	// Decrypted holds every value decrypted from SOPS files: secrets to
	// mask in whatever is shown, whatever object they ended up in.
	Decrypted []string
	// Warnings are the warnings given to Options.Warn, in order.
	Warnings []string
}

// EncryptedFile is a file that stayed encrypted.
type EncryptedFile struct {
	// File is relative to the directory rendered from.
	File       string
	Recipients []string
}

// EncryptedError is returned by RefuseEncrypted: files stayed encrypted.
type EncryptedError struct {
	Files []EncryptedFile
}

func (e *EncryptedError) Error() string {
	var b strings.Builder
	for i, f := range e.Files {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (for %s)", f.File, strings.Join(f.Recipients, ", "))
	}
	return "SOPS-encrypted files that no age key opened: " + b.String() + "; a key of one of their recipients is needed"
}

// RefuseEncrypted returns an *EncryptedError naming every file that
// stayed encrypted, or nil.
func (r *Rendered) RefuseEncrypted() error {
	if len(r.Encrypted) == 0 {
		return nil
	}
	return &EncryptedError{Files: r.Encrypted}
}

// MaxUncommitted bounds the files named in the warning about uncommitted
// changes.
const MaxUncommitted = 10

// Render fetches src.Revision, renders src.Path and decrypts what the keys
// open. Errors name the repository without credentials; they are
// *render.UntrustedFunctionsError when functions were not allowed, and
// wrap source.ErrUnknownRevision for a revision that does not exist.
func Render(ctx context.Context, src Source, opts Options) (*Rendered, error) {
	out := &Rendered{}
	warn := func(msg string) {
		out.Warnings = append(out.Warnings, msg)
		if opts.Warn != nil {
			opts.Warn(msg)
		}
	}
	if src.Local != "" {
		return renderLocal(src, opts, out, warn)
	}
	p := src.Path
	if p == "" {
		p = "."
	}
	req, fopts := source.Request{Repo: src.Repo, Revision: src.Revision}, source.Options{CacheDir: opts.CacheDir, Auth: src.Auth, Progress: opts.Progress, Lazy: true, OnFetch: opts.OnFetch}
	var co *source.Checkout
	var err error
	if opts.Checkouts != nil {
		co, err = opts.Checkouts.Fetch(ctx, req, fopts)
	} else if co, err = source.Fetch(ctx, req, fopts); err == nil {
		defer co.Close()
	}
	if err != nil {
		return nil, err
	}

	info := SourceInfo{Repo: co.Repo, Root: co.Root, Origin: co.Origin, Revision: src.Revision, Commit: co.Commit, Message: co.Message, Author: co.Author}
	if info.Revision == "" {
		info.Revision = "HEAD"
	}
	if co.Root != "" {
		info.Repo = co.Root
	}
	info.Path = path.Clean(path.Join(co.Subdir, filepath.ToSlash(p)))
	if strings.HasPrefix(info.Path, "../") || info.Path == ".." || filepath.IsAbs(p) {
		info.Path = filepath.ToSlash(p) // render refuses it, naming it as given
	}
	out.Source = info
	if co.Subdir != "" {
		warn(fmt.Sprintf("%s is a directory inside a repository: repository root is %s; rendering path %s (nothing outside %s is read)", src.Repo, co.Root, info.Path, co.Subdir))
	}

	// Before the render: a render that fails may fail for want of them.
	files, total, err := co.Uncommitted(p, MaxUncommitted)
	switch {
	case err != nil:
		warn(fmt.Sprintf("cannot tell whether %s has uncommitted changes: %v", co.Root, err))
	case total > 0:
		more := ""
		if total > len(files) {
			more = fmt.Sprintf(" and %d more", total-len(files))
		}
		warn(fmt.Sprintf("%d uncommitted changes under %s in %s are not part of this render, which reads commit %s: %s%s; commit them to include them", total, info.Path, co.Root, short(co.Commit), strings.Join(files, ", "), more))
	}

	if k := src.Kustomize; k != nil {
		kc := *k
		kc.Env = map[string]string{"ARGOCD_APP_REVISION": co.Commit, "ARGOCD_APP_REVISION_SHORT": prefix(co.Commit, 7), "ARGOCD_APP_REVISION_SHORT_8": prefix(co.Commit, 8)}
		for name, v := range k.Env {
			kc.Env[name] = v
		}
		src.Kustomize = &kc
	}
	var key string
	if opts.Cache != nil {
		key = cacheKey(co.Commit, co.Subdir, p, src, opts)
		if cached, ok := opts.Cache.lookup(key, opts.RefreshCache); ok {
			for _, msg := range cached.Warnings {
				warn(msg)
			}
			out.Objects, out.Encrypted, out.Decrypted = cached.Objects, cached.Encrypted, cached.Decrypted
			return out, nil
		}
	}
	dir, err := co.Files()
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", info.Repo, err)
	}
	fetchWarnings := len(out.Warnings)
	objs, err := renderTree(dir, p, src, opts, out, warn)
	if err != nil {
		return nil, fmt.Errorf("render %s at %s: %w", info.Repo, short(co.Commit), err)
	}
	out.Objects = objs
	if opts.Cache != nil {
		// The render's own warnings are the commit's: said again on a hit.
		opts.Cache.put(key, &Rendered{Objects: objs, Encrypted: out.Encrypted, Decrypted: out.Decrypted, Warnings: out.Warnings[fetchWarnings:]})
	}
	return out, nil
}

// renderTree renders p below root with the source's functions and keys,
// recording what stayed encrypted and what was decrypted in out.
func renderTree(root, p string, src Source, opts Options, out *Rendered, warn func(string)) ([]*unstructured.Unstructured, error) {
	ropts := render.Options{
		Directory:  src.Directory,
		Kustomize:  src.Kustomize,
		EnableExec: src.EnableExec, EnableContainerFunctions: src.EnableContainerFunctions,
		Self: opts.Self, OwnFunctions: opts.OwnFunctions, Keys: src.Keys, Warn: warn,
		OnEncrypted: func(file string, recipients []string) {
			out.Encrypted = append(out.Encrypted, EncryptedFile{File: file, Recipients: recipients})
		},
		OnDecrypted: func(values []string) { out.Decrypted = append(out.Decrypted, values...) },
	}
	if opts.Self == "" {
		ropts.OwnFunctions = nil
	}
	// Our decrypt function, run by kustomize as a process, gets the same
	// keys through a private file, written only if the build runs it, and
	// those alone: not the environment's or sops' keys.txt, which may be
	// keys the render was not given (the agent's, for a tenant's app).
	keyFile := &privateKeyFile{keys: src.Keys, onDir: opts.OnPrivateDir}
	defer keyFile.remove()
	ropts.FunctionArgs = func(name string) []string {
		if name != "decrypt" {
			return nil
		}
		if src.Keys == nil || src.Keys.Len() == 0 {
			return []string{"--only-age-key-files"}
		}
		file, err := keyFile.path()
		if err != nil {
			warn(fmt.Sprintf("cannot hand the age keys to the decrypt function: %v", err))
			return []string{"--only-age-key-files"}
		}
		return []string{"--only-age-key-files", "--age-key-file", file}
	}
	return render.Render(root, p, ropts)
}

// privateKeyFile writes the identities to a 0600 file in a 0700 directory
// on first use, and removes it on remove.
type privateKeyFile struct {
	keys    *sops.Keys
	onDir   func(string) func()
	once    sync.Once
	dir     string
	file    string
	err     error
	removed func()
}

func (p *privateKeyFile) path() (string, error) {
	p.once.Do(func() {
		if p.dir, p.err = os.MkdirTemp("", "kubectl-gitops-keys-"); p.err != nil {
			return
		}
		if p.onDir != nil {
			p.removed = p.onDir(p.dir)
		}
		p.file = filepath.Join(p.dir, "keys.txt")
		p.err = p.keys.WriteFile(p.file)
	})
	return p.file, p.err
}

func (p *privateKeyFile) remove() {
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
	if p.removed != nil {
		p.removed()
	}
}

// prefix is the first n characters of s (all of a shorter s).
func prefix(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
