package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
)

// Tenants are the Application objects of --application-namespaces (Argo
// CD's "applications in any namespace"). Each may use only an AppProject
// that lists its namespace in spec.sourceNamespaces (appflags.Projects),
// and gets only what its own namespace holds: the Git credentials of its
// repository Secrets, and the age keys of --tenant-age-key-secret. The
// agent's own credentials and keys never reach a tenant's app, so a team
// that copies another team's encrypted file, or names its repository,
// decrypts and fetches nothing it could not already.

// tenantNamespace says whether ns is one of --application-namespaces.
func (a *runner) tenantNamespace(ns string) bool {
	ok, _ := appflags.NamespaceMatches(a.o.ApplicationNamespaces, ns) // compiled by Validate
	return ok
}

// tenantAppName is the app name (inventory gitops-NAME) of a tenant's
// Application: NAMESPACE-NAME, cut to 40 characters, and 16 hex digits of
// the SHA-256 of both, so that no team can name an app that collides with
// another team's (a collision past the cut would take 2^64 tries).
func tenantAppName(ns, name string) string {
	sum := sha256.Sum256([]byte(ns + "/" + name))
	base := strings.ReplaceAll(ns+"-"+name, ".", "-")
	if len(base) > 40 {
		base = base[:40]
	}
	return strings.TrimRight(base, "-") + "-" + hex.EncodeToString(sum[:8])
}

// secretTypeSelector selects Argo CD's repository Secrets.
var secretTypeSelector = argocd.LabelSecretType + " in (repository,repo-creds)"

// tenantCredentials reads, for one load, the repository Secrets of the
// tenants' namespaces: one LIST per namespace that has an app.
type tenantCredentials struct {
	a    *runner
	byNS map[string]*namespaceCredentials
}

type namespaceCredentials struct {
	creds []repoCredential
	err   error
}

// repoCredential is one repository Secret: a repository's (its url
// exactly) or a credential template's (repo-creds: a url prefix).
type repoCredential struct {
	secret, url        string
	template           bool
	username, password string
	ssh                bool
}

func (a *runner) tenants() *tenantCredentials {
	return &tenantCredentials{a: a, byNS: map[string]*namespaceCredentials{}}
}

// of is what the Application name of namespace ns, whose repository is
// repoURL, may use of its namespace.
func (tc *tenantCredentials) of(ns, name, repoURL string) (*appflags.Tenant, error) {
	// A local path or file:// would read the agent's own disk (its
	// mirrors of other teams' repositories), and ssh its ssh agent.
	if u := strings.ToLower(strings.TrimSpace(repoURL)); !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
		return nil, fmt.Errorf("Application %s/%s: spec.source.repoURL %s: an Application of another namespace than the agent's may name only an http(s) repository: a local path or file:// would read the agent's disk, and ssh would use the agent's ssh credentials", ns, name, gsource.RedactURL(repoURL))
	}
	c, ok := tc.byNS[ns]
	if !ok {
		c = tc.list(ns)
		tc.byNS[ns] = c
	}
	if c.err != nil {
		return nil, c.err
	}
	tn := &appflags.Tenant{Namespace: ns, Name: name, KeySecret: tc.a.o.TenantKeySecret}
	cred := match(c.creds, repoURL)
	if cred == nil {
		return tn, nil
	}
	if cred.password == "" {
		if cred.ssh {
			return nil, fmt.Errorf("Application %s/%s: repository Secret %s/%s holds an ssh key, which a tenant's Secret cannot give yet: use an https url with username and password (a token)", ns, name, ns, cred.secret)
		}
		return nil, fmt.Errorf("Application %s/%s: repository Secret %s/%s has no password: put the https password or token in its password key", ns, name, ns, cred.secret)
	}
	user := cred.username
	if user == "" {
		user = "git"
	}
	tn.Auth = &gsource.Auth{Username: user, Token: cred.password}
	return tn, nil
}

func (tc *tenantCredentials) list(ns string) *namespaceCredentials {
	ctx, cancel := context.WithTimeout(tc.a.stopCtx, 30*time.Second)
	defer cancel()
	list, err := tc.a.current.Kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{LabelSelector: secretTypeSelector})
	if err != nil {
		return &namespaceCredentials{err: fmt.Errorf("cannot read the repository Secrets of namespace %s (%s): %w; grant the agent list on secrets there (docs/agent.md, Tenants)", ns, secretTypeSelector, err)}
	}
	out := &namespaceCredentials{}
	for _, s := range list.Items {
		url := strings.TrimSpace(string(s.Data["url"]))
		if url == "" {
			continue
		}
		out.creds = append(out.creds, repoCredential{
			secret: s.Name, url: url, template: s.Labels[argocd.LabelSecretType] == "repo-creds",
			username: string(s.Data["username"]), password: string(s.Data["password"]),
			ssh: len(s.Data["sshPrivateKey"]) > 0,
		})
	}
	// Deterministic choice between two Secrets for one url: by name.
	sort.Slice(out.creds, func(i, j int) bool { return out.creds[i].secret < out.creds[j].secret })
	return out
}

// match is the credential for repoURL, as Argo CD picks one: a repository
// Secret of that url, else the credential template of the longest url
// prefix.
func match(creds []repoCredential, repoURL string) *repoCredential {
	want := normalizeURL(repoURL)
	var best *repoCredential
	for i := range creds {
		c := &creds[i]
		if !c.template {
			if normalizeURL(c.url) == want {
				return c
			}
			continue
		}
		if strings.HasPrefix(strings.ToLower(repoURL), strings.ToLower(c.url)) && (best == nil || len(c.url) > len(best.url)) {
			best = c
		}
	}
	return best
}

// normalizeURL compares repository URLs as Git hosts do: case, a trailing
// slash and .git do not matter.
func normalizeURL(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	u = strings.TrimSuffix(u, "/")
	return strings.TrimSuffix(u, ".git")
}
