package appflags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/glob"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/validateproject"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// Project is an AppProject read for enforcement.
type Project struct {
	validateproject.AppProject
	// SourceRepos are spec.sourceRepos: globs, "!" for deny entries.
	SourceRepos []string
	// SourceNamespaces are spec.sourceNamespaces: the namespaces (globs,
	// or /regular expressions/) whose Application objects may use the
	// project, besides the control plane's.
	SourceNamespaces []string
	// Windows are spec.syncWindows.
	Windows *argocd.Windows
	// Orphaned is spec.orphanedResources; nil when not set.
	Orphaned *OrphanedResources
	// Unenforced names the restrictions set that are not enforced yet.
	Unenforced []string
	// from says where it was read, for messages.
	from string
}

// OrphanedResources is an AppProject's spec.orphanedResources: status
// lists the live objects of the app's destination namespace that no app
// manages, and warns when Warn.
type OrphanedResources struct {
	Warn   bool                            `json:"warn,omitempty"`
	Ignore []validateproject.ResourceEntry `json:"ignore,omitempty"`
}

// OrphanIgnored says whether an object of kind gk named name is never
// orphaned for the project: an ignore entry (group, kind and name globs)
// matches it, or the project does not permit its kind in namespaces.
func (p *Project) OrphanIgnored(gk schema.GroupKind, name string) bool {
	if !p.NamespacedPermitted(validateproject.GroupKind{Group: gk.Group, Kind: gk.Kind}) {
		return true
	}
	// As Argo CD: an empty kind or name matches any, an empty group the
	// core group only.
	for _, e := range p.Orphaned.Ignore {
		if (e.Kind == "" || orphanGlob(e.Kind, gk.Kind)) && orphanGlob(e.Group, gk.Group) && (e.Name == "" || orphanGlob(e.Name, name)) {
			return true
		}
	}
	return false
}

func orphanGlob(pattern, value string) bool {
	g, err := glob.Compile(pattern)
	return err == nil && g.Match(value)
}

// projectFrom reads one AppProject object (where names it in messages).
func projectFrom(where string, o *unstructured.Unstructured) (*Project, error) {
	data, err := o.MarshalJSON()
	if err != nil {
		return nil, err
	}
	p := &Project{}
	name := fmt.Sprintf("%s: AppProject %s", where, o.GetName())
	if err := sigsyaml.UnmarshalStrict(data, &p.AppProject); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if v := p.Spec.SourceRepos; v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: spec.sourceRepos: want a list of repository URL globs", name)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: spec.sourceRepos: %v is not a string", name, e)
			}
			p.SourceRepos = append(p.SourceRepos, s)
		}
	}
	if v := p.Spec.SourceNamespaces; v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s: spec.sourceNamespaces: want a list of namespaces (globs, or /regular expressions/)", name)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: spec.sourceNamespaces: %v is not a string", name, e)
			}
			if _, err := NamespaceMatches([]string{s}, ""); err != nil {
				return nil, fmt.Errorf("%s: spec.sourceNamespaces: %w", name, err)
			}
			p.SourceNamespaces = append(p.SourceNamespaces, s)
		}
	}
	if v := p.Spec.SyncWindows; v != nil {
		var list []argocd.SyncWindow
		data, err := json.Marshal(v)
		if err == nil {
			err = sigsyaml.UnmarshalStrict(data, &list)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: spec.syncWindows: %w", name, err)
		}
		if p.Windows, err = argocd.ParseWindows(p.Metadata.Name, list); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	if v := p.Spec.OrphanedResources; v != nil {
		p.Orphaned = &OrphanedResources{}
		data, err := json.Marshal(v)
		if err == nil {
			err = sigsyaml.UnmarshalStrict(data, p.Orphaned)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: spec.orphanedResources: %w", name, err)
		}
	}
	for field, v := range map[string]any{"signatureKeys": p.Spec.SignatureKeys, "destinationServiceAccounts": p.Spec.DestinationServiceAccounts,
		"permitOnlyProjectScopedClusters": p.Spec.PermitOnlyProjectScopedClusters, "sourceIntegrity": p.Spec.SourceIntegrity} {
		if v != nil && v != false {
			p.Unenforced = append(p.Unenforced, field)
		}
	}
	sort.Strings(p.Unenforced)
	p.from = where
	return p, nil
}

// Projects are the AppProjects apps are checked against, found by name in
// this order: those given (--project-file, then the -f files), those the
// apps above render (the nearest first), then the current cluster's (in
// Argo CD's namespace), as Argo CD reads the project of an app from the
// cluster it runs in.
type Projects struct {
	// given are --project-file's, then those next to the Applications.
	given    []map[string]*Project
	rendered []map[string]*Project
	live     *liveProjects
}

// addAll adds the AppProjects of objs to to, where naming their origin; a
// name given twice is an error.
func addAll(to map[string]*Project, where string, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		p, err := projectFrom(where, o)
		if err != nil {
			return err
		}
		if prev, dup := to[p.Metadata.Name]; dup {
			return fmt.Errorf("AppProject %s is given twice: %s and %s", p.Metadata.Name, prev.from, where)
		}
		to[p.Metadata.Name] = p
	}
	return nil
}

// LoadProjects reads --project-file (a file or a directory of AppProject
// manifests; "" is none) and the AppProjects found next to the
// Applications of -f.
func (a *AppFile) LoadProjects(nextToApps []argocd.FileObject, live *liveProjects) (*Projects, error) {
	fromFile, next := map[string]*Project{}, map[string]*Project{}
	ps := &Projects{given: []map[string]*Project{fromFile, next}, live: live}
	if a.ProjectFile != "" {
		files, err := argocd.ManifestFiles(a.ProjectFile)
		if err != nil {
			return nil, fmt.Errorf("--project-file: %w", err)
		}
		found := 0
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("--project-file: %w", err)
			}
			objs, err := render.Decode(data)
			if err != nil {
				return nil, fmt.Errorf("--project-file %s: %w", f, err)
			}
			var projects []*unstructured.Unstructured
			for _, o := range objs {
				if !argocd.IsAppProject(o) {
					return nil, fmt.Errorf("--project-file %s: %s %s %s is not an Argo CD AppProject (%s)", f, o.GetAPIVersion(), o.GetKind(), o.GetName(), argocd.APIVersion)
				}
				projects = append(projects, o)
			}
			if err := addAll(fromFile, "--project-file "+f, projects); err != nil {
				return nil, err
			}
			found += len(projects)
		}
		if found == 0 {
			return nil, fmt.Errorf("--project-file %s: no AppProject found", a.ProjectFile)
		}
	}
	for _, fo := range nextToApps {
		if err := addAll(next, fo.File, []*unstructured.Unstructured{fo.Object}); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// Rendered is ps with the AppProjects of a parent app's render (app
// names it): its children find them before those further up.
func (ps *Projects) Rendered(app string, objs []*unstructured.Unstructured) (*Projects, error) {
	var projects []*unstructured.Unstructured
	for _, o := range objs {
		if argocd.IsAppProject(o) {
			projects = append(projects, o)
		}
	}
	if len(projects) == 0 {
		return ps, nil
	}
	m := map[string]*Project{}
	if err := addAll(m, "rendered by "+app, projects); err != nil {
		return nil, err
	}
	out := *ps
	out.rendered = append([]map[string]*Project{m}, ps.rendered...)
	return &out, nil
}

// For is the project that governs t: nil for the default project when no
// AppProject default is found (it permits everything, as Argo CD's default
// project does unless edited).
func (ps *Projects) For(ctx context.Context, t *Target) (*Project, error) {
	name := t.Application.Project
	if name == "" {
		name = "default"
	}
	if t.Tenant != nil {
		return ps.forTenant(ctx, t, name)
	}
	if ps != nil {
		for _, m := range append(append([]map[string]*Project{}, ps.given...), ps.rendered...) {
			if p, ok := m[name]; ok {
				return p, nil
			}
		}
		if ps.live != nil {
			p, err := ps.live.get(ctx, name)
			switch {
			case err != nil && name == "default":
				// The default project needs no AppProject: one that cannot
				// be read (no access to the projects namespace, no
				// cluster) is none.
				ps.live.warn(fmt.Sprintf("the AppProject default is not read from namespace %s (%v); syncing as Argo CD's default project, which permits everything (--projects-namespace \"\" reads none)", ps.live.namespace, err))
			case err != nil:
				return nil, fmt.Errorf("%s: project %s: %w; give the AppProject with --project-file, or --projects-namespace \"\" to read none from the cluster", t.Application.Ref(), name, err)
			case p != nil:
				return p, nil
			}
		}
	}
	if name == "default" {
		return nil, nil
	}
	where := "--project-file, the -f files or the apps that render them"
	if ps != nil && ps.live != nil {
		where += fmt.Sprintf(", or namespace %s of the current cluster", ps.live.namespace)
	}
	return nil, fmt.Errorf("%s: project %s: no AppProject %s in %s; an app of another project than default is never synced unchecked", t.Application.Ref(), name, name, where)
}

// forTenant is the project of an Application object outside the control
// plane's namespace, as Argo CD checks it: the AppProject must exist (the
// operator's, given or in the cluster: never one an app renders, nor an
// implicit default) and list the Application's namespace in
// spec.sourceNamespaces.
func (ps *Projects) forTenant(ctx context.Context, t *Target, name string) (*Project, error) {
	ns, obj := t.Tenant.Namespace, t.Tenant.Namespace+"/"+t.Tenant.Name
	var p *Project
	if ps != nil {
		for _, m := range ps.given {
			if p = m[name]; p != nil {
				break
			}
		}
		if p == nil && ps.live != nil {
			var err error
			if p, err = ps.live.get(ctx, name); err != nil {
				return nil, fmt.Errorf("Application %s: project %s: %w; nothing was fetched or applied", obj, name, err)
			}
		}
	}
	if p == nil {
		return nil, fmt.Errorf("Application %s may not use project %s: there is no AppProject %s where the agent reads projects; an Application outside the control plane's namespace needs an AppProject that lists %s in spec.sourceNamespaces; nothing was fetched or applied", obj, name, name, ns)
	}
	ok, err := NamespaceMatches(p.SourceNamespaces, ns)
	if err != nil {
		return nil, fmt.Errorf("Application %s: AppProject %s: spec.sourceNamespaces: %w", obj, name, err)
	}
	if !ok {
		return nil, fmt.Errorf("Application %s in namespace %s is not allowed to use project %s: add %s to the AppProject's spec.sourceNamespaces (now: %s), or use a project that lists it; nothing was fetched or applied", obj, ns, name, ns, orNone(p.SourceNamespaces))
	}
	return p, nil
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ", ")
}

// NamespaceMatches says whether ns matches one of patterns, as Argo CD
// matches --application-namespaces and spec.sourceNamespaces: a shell glob,
// or a regular expression between slashes (Go's syntax: no lookaround). A
// pattern that cannot be compiled is an error.
func NamespaceMatches(patterns []string, ns string) (bool, error) {
	for _, p := range patterns {
		if len(p) > 1 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
			re, err := regexp.Compile(p[1 : len(p)-1])
			if err != nil {
				return false, fmt.Errorf("%s is not a regular expression Go accepts: %v", p, err)
			}
			if re.MatchString(ns) {
				return true, nil
			}
			continue
		}
		g, err := glob.Compile(p)
		if err != nil {
			return false, fmt.Errorf("%s is not a glob: %v", p, err)
		}
		if g.Match(ns) {
			return true, nil
		}
	}
	return false, nil
}

// liveProjects reads AppProjects from a namespace of the current cluster,
// once each.
type liveProjects struct {
	namespace string
	connect   func(ctx context.Context) (*cluster.Client, error)
	// warnings receives what is said once per run; nil drops it.
	warnings io.Writer
	mu       sync.Mutex
	got      map[string]*Project
	warned   bool
}

func (l *liveProjects) warn(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.warned && l.warnings != nil {
		fmt.Fprintf(l.warnings, "warning: %s\n", msg)
	}
	l.warned = true
}

var appProjectGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "AppProject"}

// get is the AppProject name, nil when the cluster has none (or does not
// serve AppProjects).
func (l *liveProjects) get(ctx context.Context, name string) (*Project, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p, ok := l.got[name]; ok {
		return p, nil
	}
	c, err := l.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading AppProject %s from the current cluster: %w", name, err)
	}
	var p *Project
	gvr, _, err := c.Resource(appProjectGVK)
	var notServed *cluster.NotServedError
	if err != nil && !errors.As(err, &notServed) {
		return nil, fmt.Errorf("reading AppProject %s from the current cluster: %w", name, err)
	}
	if err == nil {
		o, err := c.Dynamic.Resource(gvr).Namespace(l.namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading AppProject %s/%s from the current cluster: %w", l.namespace, name, err)
		default:
			if p, err = projectFrom("namespace "+l.namespace+" of the current cluster", o); err != nil {
				return nil, err
			}
		}
	}
	if l.got == nil {
		l.got = map[string]*Project{}
	}
	l.got[name] = p
	return p, nil
}

// CheckSource checks, before anything is fetched, what the project says of
// the app's source and settings: sourceRepos, and the restrictions not
// enforced yet (which refuse the sync rather than pass unchecked).
func (t *Target) CheckSource(p *Project) error {
	if p == nil {
		return nil
	}
	var errs []string
	for _, f := range p.Unenforced {
		errs = append(errs, fmt.Sprintf("AppProject %s sets %s, which is not enforced yet; refusing to sync rather than ignore it", p.Metadata.Name, f))
	}
	if repo := t.Application.Source.RepoURL; !validateproject.RepoPermitted(p.SourceRepos, repo) {
		errs = append(errs, fmt.Sprintf("repository %s is not permitted by AppProject %s (sourceRepos: %s)", gsource.RedactURL(repo), p.Metadata.Name, strings.Join(p.SourceRepos, ", ")))
	}
	// The app's own destination, as Argo CD checks it before anything
	// else (its objects' namespaces are checked before the write).
	if err := p.CheckDestination(t.destination()); err != nil {
		errs = append(errs, err.Error())
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
	if p == nil || p.Windows == nil {
		return "", nil
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

// destination is the app's destination as projects judge it: the server
// it names (else the one it resolved to), its name and namespace.
func (t *Target) destination() validateproject.Destination {
	d := validateproject.Destination{Server: strings.TrimSuffix(t.Server, "/"), Name: t.Application.Destination.Name, Namespace: t.Application.Destination.Namespace}
	if s := t.Application.Destination.Server; s != "" {
		d.Server = strings.TrimSuffix(s, "/")
	}
	return d
}

// EnforceProject checks a target's rendered objects against its project
// before any write, as Argo CD does: the default project permits
// everything; any other needs its AppProject (--project-file), whose
// sourceRepos, destinations and resource lists the app must keep. Every
// violation is reported, each naming the rule.
func (t *Target) EnforceProject(p *Project, objs []*unstructured.Unstructured, c *cluster.Client) error {
	if err := t.CheckSource(p); err != nil || p == nil {
		return err
	}
	var errs []error
	cfg := &validateproject.Config{Project: &p.AppProject, Destination: t.destination(),
		// Child Applications of an app of apps are the project's objects
		// too, whether or not the cluster serves their kind.
		NamespacedKinds: []validateproject.GroupKind{{Group: "argoproj.io", Kind: "Application"}, {Group: "argoproj.io", Kind: "AppProject"}}}
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
