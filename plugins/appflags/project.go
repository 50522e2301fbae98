package appflags

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gobwas/glob"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/validateproject"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// Project is an AppProject read for enforcement.
type Project struct {
	validateproject.AppProject
	// SourceRepos are spec.sourceRepos: globs, "!" for deny entries.
	SourceRepos []string
	// Windows are spec.syncWindows.
	Windows *argocd.Windows
	// Unenforced names the restrictions set that are not enforced yet.
	Unenforced []string
}

// LoadProject reads an AppProject manifest (--project-file); "" is none.
func LoadProject(file string) (*Project, error) {
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := &Project{}
	if err := sigsyaml.UnmarshalStrict(data, &p.AppProject); err != nil {
		return nil, fmt.Errorf("--project-file %s: %w", file, err)
	}
	if p.Kind != "AppProject" || !strings.HasPrefix(p.APIVersion, "argoproj.io/") {
		return nil, fmt.Errorf("--project-file %s: a %s %s, not an Argo CD AppProject (argoproj.io/v1alpha1)", file, p.APIVersion, p.Kind)
	}
	if v := p.Spec.SourceRepos; v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("--project-file %s: spec.sourceRepos: want a list of repository URL globs", file)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("--project-file %s: spec.sourceRepos: %v is not a string", file, e)
			}
			p.SourceRepos = append(p.SourceRepos, s)
		}
	}
	if v := p.Spec.SyncWindows; v != nil {
		var list []argocd.SyncWindow
		data, err := json.Marshal(v)
		if err == nil {
			err = sigsyaml.UnmarshalStrict(data, &list)
		}
		if err != nil {
			return nil, fmt.Errorf("--project-file %s: spec.syncWindows: %w", file, err)
		}
		if p.Windows, err = argocd.ParseWindows(p.Metadata.Name, list); err != nil {
			return nil, fmt.Errorf("--project-file %s: %w", file, err)
		}
	}
	for name, v := range map[string]any{"signatureKeys": p.Spec.SignatureKeys, "destinationServiceAccounts": p.Spec.DestinationServiceAccounts,
		"permitOnlyProjectScopedClusters": p.Spec.PermitOnlyProjectScopedClusters, "sourceIntegrity": p.Spec.SourceIntegrity} {
		if v != nil && v != false {
			p.Unenforced = append(p.Unenforced, name)
		}
	}
	sort.Strings(p.Unenforced)
	return p, nil
}

// projectOf is the project that governs t: nil for the default project
// when no default AppProject was given.
func (t *Target) projectOf(p *Project) (*Project, error) {
	name := t.Application.Project
	if name == "" {
		name = "default"
	}
	if name == "default" && (p == nil || p.Metadata.Name != "default") {
		return nil, nil
	}
	if p == nil || p.Metadata.Name != name {
		return nil, fmt.Errorf("%s: project %s: give its AppProject with --project-file; an app of another project than default is never synced unchecked", t.Application.Ref(), name)
	}
	return p, nil
}

// CheckSource checks, before anything is fetched, what the project says of
// the app's source and settings: sourceRepos, and the restrictions not
// enforced yet (which refuse the sync rather than pass unchecked).
func (t *Target) CheckSource(p *Project) error {
	p, err := t.projectOf(p)
	if err != nil || p == nil {
		return err
	}
	var errs []string
	for _, f := range p.Unenforced {
		errs = append(errs, fmt.Sprintf("AppProject %s sets %s, which is not enforced yet; refusing to sync rather than ignore it", p.Metadata.Name, f))
	}
	if repo := t.Application.Source.RepoURL; !repoPermitted(p.SourceRepos, repo) {
		errs = append(errs, fmt.Sprintf("repository %s is not permitted by AppProject %s (sourceRepos: %s)", gsource.RedactURL(repo), p.Metadata.Name, strings.Join(p.SourceRepos, ", ")))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s breaks its project; nothing was fetched or applied:\n  %s", t.Application.Ref(), strings.Join(errs, "\n  "))
	}
	return nil
}

// CheckWindows applies the project's sync windows to a sync of t at now
// (manual: started by a person or a pipeline, not by the agent). A
// blocked sync is an error naming the windows and when syncs open again;
// a sync that passes only because the windows allow manual syncs returns
// a note saying so.
func (t *Target) CheckWindows(p *Project, manual bool, now time.Time) (note string, err error) {
	p, err = t.projectOf(p)
	if err != nil || p == nil || p.Windows == nil {
		return "", err
	}
	d := t.Application.Destination
	v := p.Windows.Check(argocd.WindowApp{Name: t.Application.Name, Namespace: d.Namespace, Cluster: d.Name, Server: d.Server}, manual, now)
	if v.Allowed {
		return v.Reason, nil
	}
	when := "no window opens within a year"
	if !v.Opens.IsZero() {
		when = "syncs open at " + v.Opens.Format(time.RFC3339)
	}
	return "", fmt.Errorf("%s: sync refused by its sync windows (%s); nothing was fetched or applied:\n  %s", t.Application.Ref(), when, v.Reason)
}

// EnforceProject checks a target's rendered objects against its project
// before any write, as Argo CD does: the default project permits
// everything; any other needs its AppProject (--project-file), whose
// sourceRepos, destinations and resource lists the app must keep. Every
// violation is reported, each naming the rule.
func (t *Target) EnforceProject(p *Project, objs []*unstructured.Unstructured, c *cluster.Client) error {
	if err := t.CheckSource(p); err != nil {
		return err
	}
	p, err := t.projectOf(p)
	if err != nil || p == nil {
		return err
	}
	var errs []error
	cfg := &validateproject.Config{Project: &p.AppProject,
		Destination: validateproject.Destination{Server: strings.TrimSuffix(t.Server, "/"), Name: t.Application.Destination.Name, Namespace: t.Application.Destination.Namespace},
		// Child Applications of an app of apps are the project's objects
		// too, whether or not the cluster serves their kind.
		NamespacedKinds: []validateproject.GroupKind{{Group: "argoproj.io", Kind: "Application"}}}
	if s := t.Application.Destination.Server; s != "" {
		cfg.Destination.Server = strings.TrimSuffix(s, "/")
	}
	var items []*yaml.RNode
	seen := map[validateproject.GroupKind]bool{}
	for _, o := range objs {
		data, err := o.MarshalJSON()
		if err != nil {
			return err
		}
		n, err := yaml.Parse(string(data))
		if err != nil {
			return err
		}
		items = append(items, n)
		gvk := o.GroupVersionKind()
		gk := validateproject.GroupKind{Group: gvk.Group, Kind: gvk.Kind}
		if seen[gk] {
			continue
		}
		seen[gk] = true
		// The cluster says the scope of kinds the function does not know.
		if _, namespaced, err := c.Resource(gvk); err == nil {
			if namespaced {
				cfg.NamespacedKinds = append(cfg.NamespacedKinds, gk)
			} else {
				cfg.ClusterScopedKinds = append(cfg.ClusterScopedKinds, gk)
			}
		}
	}
	for _, r := range validateproject.Check(cfg, items) {
		if r.Severity == framework.Error {
			errs = append(errs, errors.New(r.Message))
		}
	}
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s breaks its project; nothing was applied:\n  %s", t.Application.Ref(), strings.Join(msgs, "\n  "))
	}
	return nil
}

// repoPermitted applies sourceRepos as Argo CD does: URLs are compared
// normalized (lower case, no ".git", scp-like SSH as ssh://); a repository
// must match an entry and no "!" entry; "*" alone matches every
// repository, otherwise "*" and "?" stop at "/" and "**" crosses it.
func repoPermitted(patterns []string, repo string) bool {
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
	g, err := glob.Compile(pattern, '/')
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
