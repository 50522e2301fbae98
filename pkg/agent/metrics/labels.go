package metrics

import (
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// repoLabel returns repo fit to be a label value: without credentials
// (source.RedactURL, plus the password of an scp-style user:password@host:
// path), query or fragment. It is the repo label of the git series, which
// Argo CD fills with the URL as configured.
func repoLabel(repo string) string {
	repo = validLabel(source.RedactURL(strings.TrimSpace(repo)))
	if _, rest, ok := strings.Cut(repo, "://"); ok {
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			repo = repo[:len(repo)-len(rest)+i]
		}
		return repo
	}
	at := strings.Index(repo, "@")
	if at < 0 || strings.Contains(repo[:at], "/") {
		return repo
	}
	user, _, hasPassword := strings.Cut(repo[:at], ":")
	if !hasPassword {
		return repo
	}
	return user + repo[at:]
}

// appRepoLabel returns the repo label of argocd_app_info: repoLabel's
// value normalised as Argo CD normalises it there, so that the spellings
// of one repository give one value: lower case, no ".git" suffix, and an
// ssh URL written as user@host/path whether it came as ssh://user@host/path
// or scp-style user@host:path.
func appRepoLabel(repo string) string {
	repo = strings.TrimSuffix(strings.ToLower(repoLabel(repo)), ".git")
	if rest, ok := strings.CutPrefix(repo, "ssh://"); ok {
		return rest
	}
	if strings.Contains(repo, "://") {
		return repo
	}
	at := strings.Index(repo, "@")
	if at < 0 || strings.Contains(repo[:at], "/") {
		return repo
	}
	return repo[:at] + strings.Replace(repo[at:], ":", "/", 1)
}

// serverLabel returns a Kubernetes API server URL fit to be a label value.
// Server URLs carry no credentials in practice; this makes sure of it.
func serverLabel(server string) string {
	return validLabel(source.RedactURL(server))
}

// validLabel replaces what is not valid UTF-8, which a label value must be.
func validLabel(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}
