package validateproject

import (
	"regexp"
	"strings"

	gobwas "github.com/gobwas/glob"
)

// RepoPermitted applies sourceRepos as Argo CD does: URLs are compared
// normalized (lower case, no ".git", scp-like SSH as ssh://); a repository
// must match an entry and no "!" entry; "*" alone matches every
// repository, otherwise "*" and "?" stop at "/" and "**" crosses it.
func RepoPermitted(patterns []string, repo string) bool {
	repo = normalizeRepo(repo)
	ok := false
	for _, p := range patterns {
		deny, isDeny := strings.CutPrefix(p, "!")
		if !isDeny {
			ok = ok || p == "*" || repoGlob(normalizeRepo(p), repo)
		} else if repoGlob(normalizeRepo(deny), repo) {
			return false
		}
	}
	return ok
}

func repoGlob(pattern, repo string) bool {
	g, err := gobwas.Compile(pattern, '/')
	return err == nil && g.Match(repo)
}

// scpLike is git's user@host:path form of an SSH URL.
var scpLike = regexp.MustCompile(`^[\w.-]+@[\w.-]+:[^/]`)

// normalizeRepo is a repository URL in the form sourceRepos compare.
func normalizeRepo(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	if !strings.Contains(u, "://") && scpLike.MatchString(u) {
		u = strings.Replace(u, ":", "/", 1)
	}
	u = strings.TrimPrefix(u, "ssh://")
	return strings.TrimSuffix(u, ".git")
}
