package gitpush

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// change is one path's new state: its content and mode, or its deletion.
type change struct {
	path    string
	deleted bool
	mode    filemode.FileMode
	data    []byte
	hash    plumbing.Hash
	info    fs.FileInfo
}

// applyEdit runs edit on the work tree at root and returns what it changed
// relative to tree: only the paths it names, and of those only the ones
// whose content or mode differ.
func applyEdit(root string, tree *object.Tree, edit Edit) ([]change, error) {
	paths, err := edit(root)
	if err != nil {
		return nil, err
	}
	clean, err := cleanPaths(paths)
	if err != nil {
		return nil, err
	}
	var changes []change
	for _, p := range clean {
		c, err := readChange(root, p)
		if err != nil {
			return nil, err
		}
		old, err := tree.FindEntry(p)
		switch {
		case errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound):
			if c.deleted {
				continue // neither there before nor now
			}
		case err != nil:
			return nil, fmt.Errorf("%s: %w", p, err)
		case old.Mode == filemode.Dir:
			if c.deleted {
				return nil, fmt.Errorf("edit named %s, a directory of the tip, as changed; name the files it changed", p)
			}
		case !c.deleted && old.Hash == c.hash && old.Mode == c.mode:
			continue
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// cleanPaths checks that every path is a clean, relative, slash-separated
// path to a file outside .git, and returns them sorted, once each.
func cleanPaths(paths []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		if p == "" || strings.Contains(p, "\\") || path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") {
			return nil, fmt.Errorf("edit named %q as changed: not a clean slash-separated path inside the repository", p)
		}
		for _, part := range strings.Split(p, "/") {
			if strings.EqualFold(part, ".git") {
				return nil, fmt.Errorf("edit named %q as changed: a path in .git", p)
			}
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

// readChange reads the work tree's p: a file, a symbolic link, or nothing
// (a deletion). Its parent directories must be directories, not links.
func readChange(root, p string) (change, error) {
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		fi, err := os.Lstat(filepath.Join(root, filepath.FromSlash(strings.Join(parts[:i], "/"))))
		if errors.Is(err, fs.ErrNotExist) {
			return change{path: p, deleted: true}, nil
		}
		if err != nil {
			return change{}, err
		}
		if !fi.IsDir() {
			return change{}, fmt.Errorf("edit named %s as changed, but %s is not a directory", p, strings.Join(parts[:i], "/"))
		}
	}
	full := filepath.Join(root, filepath.FromSlash(p))
	fi, err := os.Lstat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return change{path: p, deleted: true}, nil
	}
	if err != nil {
		return change{}, err
	}
	c := change{path: p, info: fi}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(full)
		if err != nil {
			return change{}, err
		}
		c.mode, c.data = filemode.Symlink, []byte(target)
	case fi.Mode().IsRegular():
		if c.data, err = os.ReadFile(full); err != nil {
			return change{}, err
		}
		c.mode = filemode.Regular
		if fi.Mode()&0o111 != 0 {
			c.mode = filemode.Executable
		}
	case fi.IsDir():
		return change{}, fmt.Errorf("edit named %s, a directory, as changed; name the files it changed", p)
	default:
		return change{}, fmt.Errorf("edit named %s as changed: not a regular file or a symbolic link", p)
	}
	c.hash = plumbing.ComputeHash(plumbing.BlobObject, c.data)
	return c, nil
}

// paths returns the paths of changes.
func paths(changes []change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.path
	}
	return out
}

// commitChanges writes a commit whose parent is parent and whose tree is
// parent's with changes applied, and returns its hash. It moves no
// reference.
func commitChanges(s storer.EncodedObjectStorer, parent *object.Commit, changes []change, o *Options) (plumbing.Hash, error) {
	for i := range changes {
		c := &changes[i]
		if c.deleted {
			continue
		}
		obj := s.NewEncodedObject()
		obj.SetType(plumbing.BlobObject)
		w, err := obj.Writer()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if _, err := w.Write(c.data); err != nil {
			return plumbing.ZeroHash, err
		}
		if err := w.Close(); err != nil {
			return plumbing.ZeroHash, err
		}
		if _, err := s.SetEncodedObject(obj); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("store %s: %w", c.path, err)
		}
	}
	base, err := parent.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	byPath := make(map[string]*change, len(changes))
	for i := range changes {
		byPath[changes[i].path] = &changes[i]
	}
	tree, _, err := writeTree(s, base, byPath)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write tree: %w", err)
	}
	author, committer := o.signatures()
	msg := o.Message
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	commit := &object.Commit{
		Author: author, Committer: committer, Message: msg,
		TreeHash: tree, ParentHashes: []plumbing.Hash{parent.Hash},
	}
	if o.SignKey != nil {
		if commit.PGPSignature, err = sign(commit, o.SignKey); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("sign the commit: %w", err)
		}
	}
	obj := s.NewEncodedObject()
	if err := commit.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// sign returns the armored detached OpenPGP signature of commit, as Git
// stores it in the commit's gpgsig header.
func sign(commit *object.Commit, key *openpgp.Entity) (string, error) {
	unsigned := &plumbing.MemoryObject{}
	if err := commit.EncodeWithoutSignature(unsigned); err != nil {
		return "", err
	}
	r, err := unsigned.Reader()
	if err != nil {
		return "", err
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, key, r, nil); err != nil {
		return "", err
	}
	return sig.String(), nil
}

// writeTree stores base (nil: an empty tree) with changes applied, the
// paths of changes relative to it, and returns its hash and whether it is
// empty (an empty subtree is left out of its parent, as Git does).
func writeTree(s storer.EncodedObjectStorer, base *object.Tree, changes map[string]*change) (plumbing.Hash, bool, error) {
	entries := map[string]object.TreeEntry{}
	if base != nil {
		for _, e := range base.Entries {
			entries[e.Name] = e
		}
	}
	sub := map[string]map[string]*change{}
	for p, c := range changes {
		first, rest, nested := strings.Cut(p, "/")
		if !nested {
			if c.deleted {
				delete(entries, p)
			} else {
				entries[p] = object.TreeEntry{Name: p, Mode: c.mode, Hash: c.hash}
			}
			continue
		}
		if sub[first] == nil {
			sub[first] = map[string]*change{}
		}
		sub[first][rest] = c
	}
	for name, cs := range sub {
		var subtree *object.Tree
		if e, ok := entries[name]; ok && e.Mode == filemode.Dir {
			t, err := object.GetTree(s, e.Hash)
			if err != nil {
				return plumbing.ZeroHash, false, fmt.Errorf("%s: %w", name, err)
			}
			subtree = t
		}
		h, empty, err := writeTree(s, subtree, cs)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		if empty {
			delete(entries, name)
		} else {
			entries[name] = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
		}
	}
	tree := &object.Tree{}
	for _, e := range entries {
		tree.Entries = append(tree.Entries, e)
	}
	sort.Sort(object.TreeEntrySorter(tree.Entries))
	obj := s.NewEncodedObject()
	if err := tree.Encode(obj); err != nil {
		return plumbing.ZeroHash, false, err
	}
	h, err := s.SetEncodedObject(obj)
	return h, len(tree.Entries) == 0, err
}

// moveBranch points branch at commit, if it still points at old, and
// stages changes in the index so that the work tree's status shows them
// committed; other index entries (staged changes of other files) stay.
func moveBranch(repo *git.Repository, branch plumbing.ReferenceName, old, commit plumbing.Hash, changes []change) error {
	err := repo.Storer.CheckAndSetReference(plumbing.NewHashReference(branch, commit), plumbing.NewHashReference(branch, old))
	if err != nil {
		return fmt.Errorf("move %s to the new commit: %w", branch.Short(), err)
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return err
	}
	for _, c := range changes {
		if c.deleted {
			if _, err := idx.Remove(c.path); err != nil && !errors.Is(err, index.ErrEntryNotFound) {
				return err
			}
			continue
		}
		e, err := idx.Entry(c.path)
		if errors.Is(err, index.ErrEntryNotFound) {
			e = idx.Add(c.path)
		} else if err != nil {
			return err
		}
		*e = index.Entry{Name: c.path, Hash: c.hash, Mode: c.mode, Size: uint32(c.info.Size()), ModifiedAt: c.info.ModTime()}
	}
	return repo.Storer.SetIndex(idx)
}
