package agent

import (
	"strings"
	"testing"
)

// Which of a namespace's repository Secrets a tenant's repository gets, as
// Argo CD chooses: the repository's own, else the longest credential
// template prefix.
func TestTenantCredentialMatch(t *testing.T) {
	creds := []repoCredential{
		{secret: "org", url: "https://git.example.com/org", template: true},
		{secret: "org-team", url: "https://git.example.com/org/team", template: true},
		{secret: "web", url: "https://git.example.com/org/team/web.git"},
	}
	for _, tc := range []struct{ repo, want string }{
		{"https://git.example.com/org/team/web.git", "web"},
		{"https://git.example.com/org/team/web", "web"},
		{"https://GIT.example.com/org/team/web/", "web"},
		{"https://git.example.com/org/team/api.git", "org-team"},
		{"https://git.example.com/org/other.git", "org"},
		{"https://git.example.com/another/repo.git", ""},
		{"https://evil.example/org/team/web.git", ""},
	} {
		got := ""
		if c := match(creds, tc.repo); c != nil {
			got = c.secret
		}
		if got != tc.want {
			t.Errorf("match(%s) = %q, want %q", tc.repo, got, tc.want)
		}
	}
}

// A tenant's app name is a valid app name however long its namespace and
// name, and two teams cannot make one name: team-a's b-web and
// team-a-b's web differ.
func TestTenantAppName(t *testing.T) {
	long := strings.Repeat("n", 63)
	names := map[string]bool{}
	for _, c := range [][2]string{{"team-a", "b-web"}, {"team-a-b", "web"}, {long, "web"}, {long, "api"}, {"team-a", "web.v2"}, {"team-a", "web-v2"}} {
		got := tenantAppName(c[0], c[1])
		if len(got) > 57 || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || strings.HasPrefix(got, "-") || strings.HasSuffix(got, "-") {
			t.Errorf("tenantAppName(%s, %s) = %q: not a valid app name", c[0], c[1], got)
		}
		if names[got] {
			t.Errorf("tenantAppName(%s, %s) = %q twice", c[0], c[1], got)
		}
		names[got] = true
	}
	if got := tenantAppName("team-a", "web"); !strings.HasPrefix(got, "team-a-web-") {
		t.Errorf("tenantAppName(team-a, web) = %q; want it to read team-a-web-HASH", got)
	}
}

// A tenant may name only an http(s) repository: a local path or file://
// would read the agent's disk (its mirrors of other teams' repositories),
// ssh its ssh credentials. Refused before any Secret is read.
func TestTenantRepositoryMustBeHTTP(t *testing.T) {
	tc := &tenantCredentials{byNS: map[string]*namespaceCredentials{}}
	for _, repo := range []string{
		"/var/cache/kubectl-gitops/repos/0123456789abcdef01234567.git",
		"file:///var/cache/kubectl-gitops/repos/x.git",
		"ssh://git@git.example/team-b/config.git",
		"git@git.example:team-b/config.git",
		"../other",
	} {
		if _, err := tc.of("team-a", "web", repo); err == nil || !strings.Contains(err.Error(), "may name only an http(s) repository") {
			t.Errorf("repoURL %s: %v; want it refused", repo, err)
		}
	}
}
