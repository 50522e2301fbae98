package render

import (
	"path"
	"strings"
)

// Directory is an Argo CD Application's spec.source.directory: whether
// subdirectories are read, and globs on the file paths (relative to the
// directory, with '/') that choose files. A glob may be a {a,b} list of
// globs; '*' does not cross '/'. Exclude wins over Include.
type Directory struct {
	Recurse bool   `json:"recurse,omitempty"`
	Include string `json:"include,omitempty"`
	Exclude string `json:"exclude,omitempty"`
}

// selects reports whether the file at rel is read; a nil Directory reads
// every file.
func (d *Directory) selects(rel string) bool {
	if d == nil {
		return true
	}
	if d.Include != "" && !globs(d.Include, rel) {
		return false
	}
	return d.Exclude == "" || !globs(d.Exclude, rel)
}

// globs matches rel against a glob or a {a,b,...} list of them.
func globs(pattern, rel string) bool {
	pattern = strings.TrimSpace(pattern)
	alts := []string{pattern}
	if strings.HasPrefix(pattern, "{") && strings.HasSuffix(pattern, "}") {
		alts = strings.Split(pattern[1:len(pattern)-1], ",")
	}
	for _, a := range alts {
		if ok, err := path.Match(strings.TrimSpace(a), rel); err == nil && ok {
			return true
		}
	}
	return false
}
