package app

import (
	"fmt"
	"os"
	"path/filepath"
)

// renderLocal renders src.Local as it is on disk. Inside a Git work tree
// the work tree's root bounds what the render reads, so an overlay reaches
// its ../base as it would from Git; the path is then relative to it.
func renderLocal(src Source, opts Options, out *Rendered, warn func(string)) (*Rendered, error) {
	dir, err := filepath.Abs(src.Local)
	if err != nil {
		return nil, fmt.Errorf("local directory %s: %w", src.Local, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("local directory %s: %w", src.Local, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("local directory %s is a file; name a directory (a kustomization or manifests)", src.Local)
	}
	root, rel := dir, "."
	if wt := WorkTreeRoot(dir); wt != "" {
		if r, err := filepath.Rel(wt, dir); err == nil {
			root, rel = wt, r
		}
	}
	out.Source = SourceInfo{Repo: root, Root: root, Path: filepath.ToSlash(rel), Local: dir}
	objs, err := renderTree(root, rel, src, opts, out, warn)
	if err != nil {
		return nil, fmt.Errorf("render local directory %s: %w", dir, err)
	}
	out.Objects = objs
	return out, nil
}

// WorkTreeRoot is the nearest directory at or above dir that holds .git,
// or "".
func WorkTreeRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}
