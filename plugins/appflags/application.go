package appflags

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/agekeys"
)

// AppFile is -f: Argo CD Applications read as written, instead of the
// source flags.
type AppFile struct {
	// File is a file, a directory of manifests, or "-".
	File string
	// RepoMap are --repo-map FROM=TO rewrites of repository URLs.
	RepoMap []string
	// ProjectFile holds AppProjects for the Applications' projects: a file
	// or a directory.
	ProjectFile string
	// ProjectsNamespace is where the current cluster keeps AppProjects
	// ("" reads none from the cluster).
	ProjectsNamespace string
	// ClustersFrom and ClustersNamespace hold Argo CD's cluster Secrets:
	// a file or directory, a namespace of the current cluster.
	ClustersFrom, ClustersNamespace string
	// Auth authenticates the git generators of ApplicationSets.
	Auth gsource.Auth
	// NewGitFileGlobbing globs git file generators as Argo CD's opt-in
	// globbing does.
	NewGitFileGlobbing bool
}

// AddFlags registers -f, --repo-map and --project-file.
func (a *AppFile) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&a.File, "filename", "f", "", "Argo CD Application manifests to sync: a file, a directory of them, or - for standard input (instead of --repo and --path)")
	fs.StringArrayVar(&a.RepoMap, "repo-map", nil, "Rewrite the Applications' repository URLs: FROM=TO replaces the prefix FROM (repeatable; a mirror, or a local path)")
	a.AddProjectFlags(fs)
	a.AddClusterFlags(fs)
}

// AddProjectFlags registers --project-file and --projects-namespace.
func (a *AppFile) AddProjectFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.ProjectFile, "project-file", "", "AppProject manifests (a file or a directory) the Applications' projects are enforced from; first, before those next to the Applications, those their parents render and the cluster's")
	fs.StringVar(&a.ProjectsNamespace, "projects-namespace", "argocd", "Namespace of the current cluster whose AppProjects are read for a project found nowhere else (\"\" reads none)")
}

// AddClusterFlags registers what ApplicationSets' generators read:
// --clusters-from, --clusters-namespace and --new-git-file-globbing.
func (a *AppFile) AddClusterFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&a.NewGitFileGlobbing, "new-git-file-globbing", false, "Git file generators glob as Argo CD's --enable-new-git-file-globbing does (* stays within a directory, ** crosses); default Argo CD's default, where * crosses directories too")
	fs.StringVar(&a.ClustersFrom, "clusters-from", "", "Argo CD cluster Secrets (argocd.argoproj.io/secret-type: cluster) in a file or directory: destinations by their server or name")
	fs.StringVar(&a.ClustersNamespace, "clusters-namespace", "", "Read Argo CD cluster Secrets from this namespace of the current cluster (such as argocd)")
}

// Target is one Application, mapped onto what a sync takes.
type Target struct {
	Application *argocd.Application
	// Flags are the app flags: name, source, destination namespace, sync
	// options, ignoreDifferences.
	Flags Flags
	// Context is the kubeconfig context of the destination cluster.
	Context string
	// Server is the destination's server URL (after resolution).
	Server string
	// Prune, AllowEmpty and Automated come from syncPolicy.automated.
	Prune, AllowEmpty, Automated bool
	// HistoryLimit is revisionHistoryLimit (0: the default).
	HistoryLimit int
	// Retry is syncPolicy.retry (nil: none).
	Retry *gsync.RetryOptions
	// Tenant is set for an Application object outside the agent's
	// control-plane namespace (Argo CD's "applications in any namespace"):
	// it may use only a project that lists its namespace, and gets only the
	// credentials and keys of its own namespace.
	Tenant *Tenant

	raw     *clientcmdapi.Config
	current bool
	// rest reaches a cluster registered by a cluster Secret.
	rest    *rest.Config
	clients *clients
}

// clients shares one client per destination across the apps of a run
// (discovery included).
type clients struct {
	mu sync.Mutex
	m  map[string]*cluster.Client
}

// Connect builds a client for the destination: the command's kubeconfig
// flags as they are for the current context, else that context of the
// kubeconfig.
func (t *Target) Connect(ctx context.Context, kubeFlags *genericclioptions.ConfigFlags) (*cluster.Client, error) {
	if t.clients != nil {
		t.clients.mu.Lock()
		defer t.clients.mu.Unlock()
		if c, ok := t.clients.m[t.Context]; ok {
			return c, nil
		}
	}
	c, err := t.connect(ctx, kubeFlags)
	if err == nil && t.clients != nil {
		t.clients.m[t.Context] = c
	}
	return c, err
}

func (t *Target) connect(ctx context.Context, kubeFlags *genericclioptions.ConfigFlags) (*cluster.Client, error) {
	if t.current && t.rest == nil {
		return Connect(ctx, kubeFlags)
	}
	rc := t.rest
	if rc == nil {
		var err error
		if rc, err = clientcmd.NewNonInteractiveClientConfig(*t.raw, t.Context, &clientcmd.ConfigOverrides{}, nil).ClientConfig(); err != nil {
			return nil, fmt.Errorf("kubeconfig context %s: %w", t.Context, err)
		}
	}
	c, err := cluster.New(rc)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		return nil, fmt.Errorf("%w (context %s, the destination of %s)", err, t.Context, t.Application.Ref())
	}
	return c, nil
}

// Onto gives f, the command's flags (keys, tokens, inventory namespace),
// the Application's name, source, destination namespace, sync options and
// ignoreDifferences.
func (t *Target) Onto(f Flags) Flags {
	f.App, f.DestNamespace = t.Flags.App, t.Flags.DestNamespace
	f.Source.Repo, f.Source.Revision, f.Source.Path, f.Source.Directory = t.Flags.Source.Repo, t.Flags.Source.Revision, t.Flags.Source.Path, t.Flags.Source.Directory
	f.Source.Kustomize = t.Flags.Source.Kustomize
	f.Source.Anonymous = t.Flags.Source.Anonymous
	if tn := t.Tenant; tn != nil {
		// None of the command's own credentials or keys: the tenant's
		// namespace's, or none.
		f.Source.TokenFile, f.Source.SSHKeyFile = "", ""
		f.Source.Anonymous, f.Source.Credentials = tn.Auth == nil, tn.Auth
		f.Source.Keys = agekeys.Flags{Secret: tn.Namespace + "/" + tn.KeySecret, SecretOnly: true}
		// A team's programs would run with the agent's identity.
		f.Source.EnableExec, f.Source.EnableContainerFunctions = false, false
	}
	f.SyncOptions = append(append([]string{}, t.Flags.SyncOptions...), f.SyncOptions...)
	f.IgnoreDifferences, f.ignore = "", t.Flags.ignore
	f.namespaceMetadata = t.Flags.namespaceMetadata
	return f
}

// Targets reads -f and maps each Application; inventoryNamespace is where
// their inventories go, kubeFlags the kubeconfig the destinations are
// matched in.
func (a *AppFile) Targets(kubeFlags *genericclioptions.ConfigFlags, inventoryNamespace string) ([]*Target, error) {
	l, err := a.Load(kubeFlags, inventoryNamespace)
	if err != nil {
		return nil, err
	}
	return l.Targets, nil
}

// Loaded is what Load reads of -f.
type Loaded struct {
	// Mapper maps the children of an app of apps too.
	Mapper *Mapper
	// Targets are the Applications written and generated, in order.
	Targets []*Target
	// Projects are the AppProjects they are checked against.
	Projects *Projects
	// Sets are the ApplicationSets (each generated Target names its set).
	Sets []*argocd.ApplicationSet
}

// Load reads -f: each Application (written, or generated by an
// ApplicationSet) mapped with the Mapper it returns (which the children of
// an app of apps are mapped with too), and the AppProjects they are
// checked against.
func (a *AppFile) Load(kubeFlags *genericclioptions.ConfigFlags, inventoryNamespace string) (*Loaded, error) {
	manifests, err := argocd.LoadAll(a.File, os.Stdin)
	if err != nil {
		return nil, err
	}
	return a.LoadManifests(kubeFlags, inventoryNamespace, manifests, os.Stderr)
}

// LoadManifests maps Applications, ApplicationSets and AppProjects read
// elsewhere (the agent reads them from the cluster) as Load maps those of
// -f; warnings receives what the cluster's projects say once (nil drops
// it).
func (a *AppFile) LoadManifests(kubeFlags *genericclioptions.ConfigFlags, inventoryNamespace string, manifests *argocd.Manifests, warnings io.Writer) (*Loaded, error) {
	apps, sets := manifests.Apps, manifests.Sets
	m, err := a.Mapper(kubeFlags, inventoryNamespace)
	if err != nil {
		return nil, err
	}
	var live *liveProjects
	if a.ProjectsNamespace != "" {
		live = &liveProjects{namespace: a.ProjectsNamespace, warnings: warnings, connect: func(ctx context.Context) (*cluster.Client, error) {
			return m.ContextTarget("", m.current).Connect(ctx, kubeFlags)
		}}
	}
	projects, err := a.LoadProjects(manifests.Projects, live)
	if err != nil {
		return nil, err
	}
	for _, app := range apps {
		m.trusted[hostOf(app.Source.RepoURL)] = true
	}

	if len(sets) > 0 {
		generated, err := m.Generate(sets, a.Auth)
		if err != nil {
			return nil, err
		}
		apps = append(apps, generated...)
	}
	var out []*Target
	var errs []string
	for _, app := range apps {
		t, err := m.Target(app)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, t)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return &Loaded{Mapper: m, Targets: out, Projects: projects, Sets: sets}, nil
}

// Mapper maps Applications onto Targets: the repository map, the
// kubeconfig and its current context, the inventory namespace.
type Mapper struct {
	repoMap            argocd.RepoMap
	raw                *clientcmdapi.Config
	current            string
	inventoryNamespace string
	// registered are the clusters of Argo CD's cluster Secrets.
	registered []argocd.Cluster
	// trusted are the hosts of the repositories the -f files name: only
	// they get the command's Git credentials.
	trusted map[string]bool
	clients *clients
	// newGlobbing is --new-git-file-globbing.
	newGlobbing bool
}

// clusterContext names a registered cluster where a kubeconfig context
// name goes (Target.Context, a child's record).
const clusterContext = "cluster:"

// Mapper is the Mapper of the -f flags.
func (a *AppFile) Mapper(kubeFlags *genericclioptions.ConfigFlags, inventoryNamespace string) (*Mapper, error) {
	repoMap, err := argocd.ParseRepoMap(a.RepoMap)
	if err != nil {
		return nil, err
	}
	raw, err := kubeFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	current := raw.CurrentContext
	if kubeFlags.Context != nil && *kubeFlags.Context != "" {
		current = *kubeFlags.Context
	}
	if a.File == "-" && a.ClustersFrom == "-" {
		return nil, fmt.Errorf("-f - and --clusters-from - cannot both read standard input")
	}
	m := &Mapper{repoMap: repoMap, raw: &raw, current: current, inventoryNamespace: inventoryNamespace, clients: &clients{m: map[string]*cluster.Client{}}, trusted: map[string]bool{}, newGlobbing: a.NewGitFileGlobbing}
	if a.ClustersFrom != "" {
		cs, err := argocd.LoadClusters(a.ClustersFrom, os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("--clusters-from: %w", err)
		}
		m.registered = append(m.registered, cs...)
	}
	if a.ClustersNamespace != "" {
		rc, err := kubeFlags.ToRESTConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		list, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(a.ClustersNamespace).
			List(context.Background(), metav1.ListOptions{LabelSelector: argocd.LabelSecretType + "=" + argocd.SecretTypeCluster})
		if err != nil {
			return nil, fmt.Errorf("--clusters-namespace %s: list the cluster Secrets: %w", a.ClustersNamespace, err)
		}
		var objs []*unstructured.Unstructured
		for i := range list.Items {
			objs = append(objs, &list.Items[i])
		}
		cs, err := argocd.ClustersOf(objs)
		if err != nil {
			return nil, fmt.Errorf("--clusters-namespace %s: %w", a.ClustersNamespace, err)
		}
		m.registered = append(m.registered, cs...)
	}
	return m, nil
}

// registeredCluster is the cluster Secret a destination names, if any.
func (m *Mapper) registeredCluster(d argocd.Destination) (*argocd.Cluster, bool) {
	for i, c := range m.registered {
		if (d.Server != "" && strings.TrimSuffix(c.Server, "/") == strings.TrimSuffix(d.Server, "/")) || (d.Name != "" && c.Name == d.Name) {
			return &m.registered[i], true
		}
	}
	return nil, false
}

// Trust gives the command's Git credentials to the host of repoURL (a
// repository an operator's own Application names, not one Git content
// brings in).
func (m *Mapper) Trust(repoURL string) { m.trusted[hostOf(repoURL)] = true }

// TrustHost gives the command's Git credentials to host (as Trust does
// for a repository's host).
func (m *Mapper) TrustHost(host string) { m.trusted[strings.ToLower(host)] = true }

// Clusters are the registered clusters (the clusters generator's).
func (m *Mapper) Clusters() []argocd.Cluster { return m.registered }

// Generate makes the Applications of ApplicationSets: git generators read
// their repositories (through the repository map, with auth), the clusters
// generator the registered clusters.
func (m *Mapper) Generate(sets []*argocd.ApplicationSet, auth gsource.Auth) ([]*argocd.Application, error) {
	return m.GenerateContext(context.Background(), sets, auth)
}

// GenerateContext is Generate with the git generators' fetches bounded by
// ctx.
func (m *Mapper) GenerateContext(ctx context.Context, sets []*argocd.ApplicationSet, auth gsource.Auth) ([]*argocd.Application, error) {
	git := &gitTrees{ctx: ctx, repoMap: m.repoMap, auth: auth, trusted: m.trusted}
	defer git.close()
	var out []*argocd.Application
	for _, s := range sets {
		if s.Untrusted {
			continue
		}
		// The repositories the set writes are the command's own: their
		// hosts get its credentials (for the generators and the apps).
		for _, u := range s.WrittenRepoURLs() {
			m.trusted[hostOf(u)] = true
		}
	}
	for _, s := range sets {
		s.NewGitFileGlobbing = m.newGlobbing
		apps, err := s.Generate(git, m.registered)
		if err != nil {
			return nil, err
		}
		out = append(out, apps...)
	}
	return out, nil
}

// Target maps one Application.
func (m *Mapper) Target(app *argocd.Application) (*Target, error) {
	t := &Target{Application: app, raw: m.raw, clients: m.clients}
	dest := app.Destination
	c, ok := m.registeredCluster(dest)
	if ok && strings.TrimSuffix(c.Server, "/") == argocd.InCluster {
		// A Secret that registers Argo CD's own cluster (to label it, or
		// to name it): from here, that cluster is the current context's.
		ok, dest = false, argocd.Destination{Server: argocd.InCluster, Namespace: dest.Namespace}
	}
	if ok {
		rc, err := c.RESTConfig()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", app.Ref(), err)
		}
		t.Context, t.Server, t.rest = clusterContext+c.Name, c.Server, rc
	} else {
		ctxName, server, err := ResolveDestination(m.raw, m.current, dest)
		if err != nil {
			if len(m.registered) > 0 {
				var names []string
				for _, c := range m.registered {
					names = append(names, c.Name+" ("+c.Server+")")
				}
				err = fmt.Errorf("%w; registered clusters: %s", err, strings.Join(names, ", "))
			}
			return nil, fmt.Errorf("%s: %v", app.Ref(), err)
		}
		t.Context, t.Server, t.current = ctxName, server, ctxName == m.current
	}
	src := app.Source
	t.Flags = Flags{App: app.Name, DestNamespace: app.Destination.Namespace, InventoryNamespace: m.inventoryNamespace,
		SyncOptions: app.SyncPolicy.SyncOptions}
	t.Flags.Source.Repo = m.repoMap.Map(src.RepoURL)
	t.Flags.Source.Revision = src.TargetRevision
	if t.Flags.Source.Revision == "" {
		t.Flags.Source.Revision = "HEAD"
	}
	// Credentials go only to hosts the command's own files name, never to
	// one that Git content (a child, a generated app) brings in.
	t.Flags.Source.Anonymous = !m.trusted[hostOf(src.RepoURL)]
	t.Flags.Source.Path = src.Path
	if t.Flags.Source.Path == "" {
		t.Flags.Source.Path = "."
	}
	if d := src.Directory; d != nil {
		t.Flags.Source.Directory = &render.Directory{Recurse: d.Recurse, Include: d.Include, Exclude: d.Exclude}
	} else {
		// Argo CD reads a plain directory without its subdirectories
		// unless told to recurse.
		t.Flags.Source.Directory = &render.Directory{}
	}
	if k := src.Kustomize; k != nil {
		kc := *k
		// Argo CD's build environment (the render adds the revision).
		project := app.Project
		if project == "" {
			project = "default"
		}
		// The repository URL without credentials: the environment is
		// recorded with the sync.
		kc.Env = map[string]string{"ARGOCD_APP_NAME": app.Name, "ARGOCD_APP_NAMESPACE": app.Destination.Namespace, "ARGOCD_APP_PROJECT_NAME": project,
			"ARGOCD_APP_SOURCE_PATH": src.Path, "ARGOCD_APP_SOURCE_REPO_URL": gsource.RedactURL(src.RepoURL), "ARGOCD_APP_SOURCE_TARGET_REVISION": src.TargetRevision}
		t.Flags.Source.Kustomize = &kc
	}
	t.Flags.ignore = ignoreFile{loaded: true, rules: app.IgnoreDifferences}
	if md := app.SyncPolicy.ManagedNamespaceMetadata; md != nil {
		t.Flags.namespaceMetadata = &gsync.NamespaceMetadata{Labels: md.Labels, Annotations: md.Annotations}
	}
	if au := app.SyncPolicy.Automated; au != nil {
		t.Automated, t.Prune, t.AllowEmpty = true, au.Prune, au.AllowEmpty
	}
	if app.RevisionHistoryLimit != nil {
		t.HistoryLimit = *app.RevisionHistoryLimit
	}
	if r := app.SyncPolicy.Retry; r != nil {
		limit := r.Limit
		if limit < 0 {
			limit = 1 << 20 // unlimited, as Argo CD: bounded by --timeout per attempt
		}
		t.Retry = &gsync.RetryOptions{Limit: limit, Backoff: r.Backoff, Factor: r.Factor, MaxBackoff: r.MaxDuration}
	}
	return t, nil
}

// ContextTarget is a Target of no Application that reaches the named
// kubeconfig context (a child app recorded by its parent), for pruning it.
func (m *Mapper) ContextTarget(name, context string) *Target {
	t := &Target{Application: &argocd.Application{Name: name}, Context: context, raw: m.raw, clients: m.clients, current: context == m.current || context == ""}
	if n, ok := strings.CutPrefix(context, clusterContext); ok {
		if c, found := m.registeredCluster(argocd.Destination{Name: n}); found {
			t.rest, _ = c.RESTConfig()
		}
	}
	return t
}

// ChildTarget reaches the cluster of a child app its parent recorded: by
// its recorded context when this kubeconfig has it (or it is a registered
// cluster), else by the recorded server URL, as a destination.server is
// matched.
func (m *Mapper) ChildTarget(ch inventory.ChildApp) *Target {
	_, known := m.raw.Contexts[ch.Context]
	if known || ch.Context == "" || ch.Server == "" || strings.HasPrefix(ch.Context, clusterContext) {
		return m.ContextTarget(ch.Name, ch.Context)
	}
	if c, ok := m.registeredCluster(argocd.Destination{Server: ch.Server}); ok {
		return m.ContextTarget(ch.Name, clusterContext+c.Name)
	}
	if ctx, _, err := ResolveDestination(m.raw, m.current, argocd.Destination{Server: ch.Server}); err == nil {
		return m.ContextTarget(ch.Name, ctx)
	}
	return m.ContextTarget(ch.Name, ch.Context) // fails naming the context
}

// ResolveDestination finds the kubeconfig context of an Application's
// destination: the in-cluster server (https://kubernetes.default.svc) or
// name (in-cluster) is the current context's cluster; another server is
// the context whose cluster has that server URL (the current one first);
// a name is a context's name. It returns the context and the server URL.
func ResolveDestination(raw *clientcmdapi.Config, current string, d argocd.Destination) (string, string, error) {
	serverOf := func(ctx string) string {
		if c, ok := raw.Contexts[ctx]; ok {
			if cl, ok := raw.Clusters[c.Cluster]; ok {
				return cl.Server
			}
		}
		return ""
	}
	contexts := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		contexts = append(contexts, name)
	}
	sort.Strings(contexts)
	known := func() string {
		var parts []string
		for _, c := range contexts {
			parts = append(parts, c+" ("+serverOf(c)+")")
		}
		if len(parts) == 0 {
			return "none"
		}
		return strings.Join(parts, ", ")
	}
	inCluster := d.Server == argocd.InCluster || strings.TrimSuffix(d.Server, "/") == argocd.InCluster || (d.Server == "" && d.Name == argocd.InClusterName)
	switch {
	case inCluster:
		if _, ok := raw.Contexts[current]; !ok {
			return "", "", fmt.Errorf("destination %s is the current context's cluster, and the kubeconfig has no current context; pass --context", describeDest(d))
		}
		return current, serverOf(current), nil
	case d.Server != "":
		want := strings.TrimSuffix(d.Server, "/")
		if strings.TrimSuffix(serverOf(current), "/") == want {
			return current, serverOf(current), nil
		}
		for _, c := range contexts {
			if strings.TrimSuffix(serverOf(c), "/") == want {
				return c, serverOf(c), nil
			}
		}
		return "", "", fmt.Errorf("destination server %s is no cluster of the kubeconfig; contexts: %s", d.Server, known())
	default:
		if _, ok := raw.Contexts[d.Name]; ok {
			return d.Name, serverOf(d.Name), nil
		}
		return "", "", fmt.Errorf("destination name %s is no context of the kubeconfig; contexts: %s", d.Name, known())
	}
}

func describeDest(d argocd.Destination) string {
	if d.Server != "" {
		return "server " + d.Server
	}
	return "name " + d.Name
}

// Pick is the Application of targets named name, or the only one.
func Pick(targets []*Target, name string) (*Target, error) {
	var names []string
	for _, t := range targets {
		if name != "" && t.Application.Name == name {
			return t, nil
		}
		names = append(names, t.Application.Name)
	}
	switch {
	case name != "":
		return nil, fmt.Errorf("-f holds no Application %s; it holds %s", name, strings.Join(names, ", "))
	case len(targets) > 1:
		return nil, fmt.Errorf("-f holds %d Applications (%s); name one as APP", len(targets), strings.Join(names, ", "))
	}
	return targets[0], nil
}

// UseApplication makes f the flags of one Application of a (the one
// named name, else the only one), as if its source, path, revision and
// destination namespace were given on the command line (fs marks them
// given, so a recorded source fills nothing); Connect then reaches its
// destination.
func (f *Flags) UseApplication(a *AppFile, fs *pflag.FlagSet, kubeFlags *genericclioptions.ConfigFlags, name string) error {
	l, err := a.Load(kubeFlags, f.InventoryNamespace)
	if err != nil {
		return err
	}
	t, err := Pick(l.Targets, name)
	if err != nil {
		return err
	}
	*f = t.Onto(*f)
	f.target, f.projects = t, l.Projects
	for flag, value := range map[string]string{"repo": f.Source.Repo, "path": f.Source.Path, "revision": f.Source.Revision, "dest-namespace": f.DestNamespace} {
		if fs.Lookup(flag) != nil {
			if err := fs.Set(flag, value); err != nil {
				return err
			}
		}
	}
	return nil
}

// Connect reaches the cluster: an Application's destination when the
// flags came from one, else the kubeconfig flags' cluster.
func (f *Flags) Connect(ctx context.Context, kubeFlags *genericclioptions.ConfigFlags) (*cluster.Client, error) {
	if f.target != nil {
		return f.target.Connect(ctx, kubeFlags)
	}
	return Connect(ctx, kubeFlags)
}

// Target is the Application of -f the flags were taken from, or nil.
func (f *Flags) Target() *Target { return f.target }

// Project is the AppProject of the Application of -f the flags were taken
// from (see Projects.For); nil without one.
func (f *Flags) Project(ctx context.Context) (*Project, error) {
	if f.target == nil {
		return nil, nil
	}
	return f.projects.For(ctx, f.target)
}

// hostOf is a repository URL's host ("" for a local path): of
// scheme://[user@]host[:port]/path, or of scp-style user@host:path.
func hostOf(repo string) string {
	if u, err := url.Parse(repo); err == nil && u.Host != "" {
		return strings.ToLower(u.Hostname())
	}
	if at := strings.Index(repo, "@"); at >= 0 {
		if colon := strings.Index(repo[at:], ":"); colon > 0 {
			return strings.ToLower(repo[at+1 : at+colon])
		}
	}
	return ""
}

// Tenant is where an Application object outside the control plane's
// namespace lives, and what of its namespace it may use.
type Tenant struct {
	// Namespace and Name are the Application object's.
	Namespace, Name string
	// Auth are the Git credentials of a repository Secret of Namespace
	// for the app's repository; nil fetches anonymously.
	Auth *gsource.Auth
	// KeySecret names the Secret of Namespace whose values are age key
	// files (none: no keys).
	KeySecret string
}

// RefuseChildren refuses an app of another namespace (a tenant) whose
// render holds n child Applications that its destination cluster cannot
// hold: synced from here they would be apps of the agent's own, with its
// credentials, keys and projects. With Argo CD's CRDs in the destination
// the children are applied as objects instead, and are then the team's
// Applications, held as the parent is. nil for any other app.
func (t *Target) RefuseChildren(n int) error {
	if t.Tenant == nil || n == 0 {
		return nil
	}
	return fmt.Errorf("%s renders %d child Application(s) for a cluster that serves no argoproj.io Applications; an Application of another namespace than the agent's cannot sync children as apps of its own there: install Argo CD's CRDs (deploy/crds) in the destination cluster; nothing was applied", t.Application.Ref(), n)
}
