package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent/metrics"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent/webhook"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// applicationGVR and applicationSetGVR are Argo CD's resources.
var (
	applicationGVR    = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	applicationSetGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applicationsets"}
)

// Argo CD's refresh annotation: normal or hard; the agent removes it once
// the app is refreshed, as Argo CD's controller does.
const annotationRefresh = "argocd.argoproj.io/refresh"

// runner is the agent's state: the apps it knows (every shard's), the
// shards it holds, and each app's memory of its syncs.
type runner struct {
	o          *Options
	log        *slog.Logger
	metrics    *metrics.Metrics
	cache      *app.RenderCache
	current    *cluster.Client
	sync       *psync.Options
	controller *agent.Controller
	events     *eventSink
	// prunedChildren remember, by the parent's inventory (namespace/name
	// in the child's cluster, and child), the resourceVersion at which a
	// leaving child's prune was seen done, so that a Synced parent does
	// not ask again at every poll.
	prunedChildren sync.Map

	mu sync.Mutex
	// apps are every app known, by key (namespace/name for an Application
	// object, file/name for one of --app-file).
	apps map[string]*appEntry
	// states outlive reloads: what each app's syncs were.
	states map[string]*appState
	// owners map an ApplySet id to the app whose members carry it.
	owners map[string]string
	// shards are the shards this replica holds, each with its context.
	shards   map[int]context.Context
	watchers map[string]*agent.Watcher
	loaded   bool
	loadErr  error
	// objects is the Application informer's store (nil without
	// --app-namespace or when the cluster serves no Applications).
	objects cache.Store
	// sets is the ApplicationSet informer's store (nil when none is read);
	// objSets are those objects as the last load generated them.
	sets      cache.Store
	objSets   []*objectSet
	reloadReq chan struct{}
	drift     *agent.Debouncer
	// stopCtx ends when the agent is told to stop.
	stopCtx context.Context
	setMu   sync.Mutex
	// everLoaded says a load succeeded once (readiness).
	everLoaded bool
}

// appEntry is one app as the last reload mapped it.
type appEntry struct {
	key    string
	target *appflags.Target
	// obj is the Application object (nil for one of --app-file).
	obj *unstructured.Unstructured
	// err says why the Application cannot run (a field not read, a
	// destination not found); it is reported, not reconciled.
	err    error
	loaded *appflags.Loaded
}

// start checks for Argo CD, starts the Application informer and the
// reload loop, and loads the apps once.
func (a *runner) start(ctx context.Context) error {
	a.stopCtx = ctx
	a.shards = map[int]context.Context{}
	a.watchers = map[string]*agent.Watcher{}
	a.apps = map[string]*appEntry{}
	a.reloadReq = make(chan struct{}, 1)
	a.drift = &agent.Debouncer{Wait: a.o.DriftDebounce, Fn: func(key string) { a.controller.Refresh(key, agent.ReasonDrift) }}
	a.events = newEventSink(a.current, a.log)
	if err := a.preflight(ctx); err != nil {
		return err
	}
	if a.o.AppNamespace != "" {
		if err := a.startApplications(ctx); err != nil {
			return err
		}
	}
	a.reload()
	go func() {
		t := time.NewTicker(a.o.ReconcileInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-a.reloadReq:
			}
			a.reload()
		}
	}()
	return nil
}

// reloadSoon asks the reload loop for a reload.
func (a *runner) reloadSoon() {
	select {
	case a.reloadReq <- struct{}{}:
	default:
	}
}

// startApplications refuses to run beside Argo CD's application controller
// (unless told to), and watches the Application objects of --app-namespace.
func (a *runner) startApplications(ctx context.Context) error {
	if !a.o.AllowWithArgoCD {
		pods, err := a.current.Kube.CoreV1().Pods(a.o.AppNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=argocd-application-controller"})
		switch {
		case err != nil:
			a.log.Warn("cannot tell whether Argo CD's application controller runs", "namespace", a.o.AppNamespace, "error", err)
		default:
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending {
					return fmt.Errorf("Argo CD's application controller runs in namespace %s (pod %s): it manages the Application objects there; stop it, or pass --allow-with-argocd to manage them anyway, or --app-namespace \"\" to run only --app-file", a.o.AppNamespace, p.Name)
				}
			}
		}
	}
	if _, _, err := a.current.Resource(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}); err != nil {
		var notServed *cluster.NotServedError
		if errors.As(err, &notServed) {
			a.log.Warn("the cluster serves no Argo CD Applications: only --app-file runs; install the CRDs of deploy/crds to run Application objects", "namespace", a.o.AppNamespace)
			return nil
		}
		return err
	}
	// With tenants, one watch of every namespace's Applications (as Argo
	// CD's controller does), filtered here.
	watched := a.o.AppNamespace
	if len(a.o.ApplicationNamespaces) > 0 {
		watched = metav1.NamespaceAll
	}
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(a.current.Dynamic, 0, watched, nil)
	if _, _, err := a.current.Resource(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "ApplicationSet"}); err == nil {
		sets := factory.ForResource(applicationSetGVR).Informer()
		_, _ = sets.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(any) { a.reloadSoon() },
			UpdateFunc: func(old, cur any) {
				// The agent's own status writes change nothing to generate.
				o, ok1 := old.(*unstructured.Unstructured)
				n, ok2 := cur.(*unstructured.Unstructured)
				if ok1 && ok2 && equality.Semantic.DeepEqual(o.Object["spec"], n.Object["spec"]) && (o.GetDeletionTimestamp() == nil) == (n.GetDeletionTimestamp() == nil) {
					return
				}
				a.reloadSoon()
			},
			DeleteFunc: func(any) { a.reloadSoon() },
		})
		a.sets = sets.GetStore()
		go sets.Run(ctx.Done())
		if !cache.WaitForCacheSync(ctx.Done(), sets.HasSynced) {
			return fmt.Errorf("list the ApplicationSets of namespace %s: %w", a.o.AppNamespace, ctx.Err())
		}
	}
	inf := factory.ForResource(applicationGVR).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { a.reloadSoon() },
		UpdateFunc: func(old, cur any) {
			o, ok1 := old.(*unstructured.Unstructured)
			n, ok2 := cur.(*unstructured.Unstructured)
			if !ok1 || !ok2 {
				return
			}
			// Our own status writes change nothing to run (with Argo CD's
			// CRD, which has no status subresource, they bump the
			// generation: the spec is compared).
			if !definitionChanged(o, n) {
				return
			}
			a.reloadSoon()
		},
		DeleteFunc: func(any) { a.reloadSoon() },
	})
	a.objects = inf.GetStore()
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("list the Applications of namespace %s: %w", a.o.AppNamespace, ctx.Err())
	}
	return nil
}

// definitionChanged says a new version of an Application calls for a
// reconcile: its spec changed, a refresh or a sync (.operation) was asked
// for, its deletion began. The agent's own writes (the status, the refresh
// annotation or the operation removed) do not.
func definitionChanged(o, n *unstructured.Unstructured) bool {
	if !equality.Semantic.DeepEqual(o.Object["spec"], n.Object["spec"]) {
		return true
	}
	if r := n.GetAnnotations()[annotationRefresh]; r != "" && r != o.GetAnnotations()[annotationRefresh] {
		return true
	}
	if op := n.Object["operation"]; op != nil && !equality.Semantic.DeepEqual(o.Object["operation"], op) {
		return true
	}
	return (n.GetDeletionTimestamp() != nil) != (o.GetDeletionTimestamp() != nil) || !slices.Equal(o.GetFinalizers(), n.GetFinalizers())
}

// reload reads every app again: --app-file's manifests (ApplicationSets
// generated anew) and the Application objects, and hands the keys of the
// shards held to the controller. A new definition refreshes its app.
func (a *runner) reload() {
	entries, err := a.load()
	a.mu.Lock()
	a.loaded, a.loadErr = true, err
	a.everLoaded = a.everLoaded || err == nil
	if err != nil {
		a.mu.Unlock()
		a.log.Error("reading the apps failed; the apps read before run on", "error", err)
		return
	}
	var changed []string
	for key, e := range entries {
		if old, ok := a.apps[key]; ok && !sameDefinition(old, e) {
			changed = append(changed, key)
		}
	}
	for key, old := range a.apps {
		if _, ok := entries[key]; !ok {
			a.metrics.DeleteApp(appLabels(old).Namespace, appLabels(old).Name)
			delete(a.states, key)
			for id, k := range a.owners {
				if k == key {
					delete(a.owners, id)
				}
			}
		}
	}
	a.apps = entries
	objSets := a.objSets
	a.mu.Unlock()
	a.applySets(objSets)
	a.setKeys()
	for _, key := range changed {
		a.controller.Refresh(key, agent.ReasonRefresh)
	}
}

// sameDefinition says an app's definition did not change across a reload.
func sameDefinition(a, b *appEntry) bool {
	if (a.err == nil) != (b.err == nil) || (a.obj == nil) != (b.obj == nil) {
		return false
	}
	if a.obj != nil && definitionChanged(a.obj, b.obj) {
		return false
	}
	if a.target == nil || b.target == nil {
		return a.target == b.target
	}
	ao, bo := a.target.Application.Object, b.target.Application.Object
	if ao == nil || bo == nil {
		return ao == bo
	}
	// The spec decides what runs (the status is the agent's own).
	return equality.Semantic.DeepEqual(ao.Object["spec"], bo.Object["spec"]) && a.target.Context == b.target.Context
}

// load maps every app. An Application that cannot be mapped is an entry
// with its error; a file that cannot be read fails the whole load.
func (a *runner) load() (map[string]*appEntry, error) {
	manifests := &argocd.Manifests{}
	if a.o.AppFile.File != "" {
		m, err := argocd.LoadAll(a.o.AppFile.File, nil)
		if err != nil {
			return nil, fmt.Errorf("--app-file: %w", err)
		}
		manifests = m
	}
	fileApps, sets := manifests.Apps, manifests.Sets
	var objSets []*objectSet
	if a.sets != nil {
		for _, item := range a.sets.List() {
			// ApplicationSets are read in the control plane's namespace
			// only (Argo CD's ApplicationSets in any namespace are not).
			if obj, ok := item.(*unstructured.Unstructured); ok && obj.GetNamespace() == a.o.AppNamespace {
				set, err := argocd.AppSetFromObject("ApplicationSet "+obj.GetNamespace()+"/"+obj.GetName(), obj)
				if err != nil {
					a.log.Error("an ApplicationSet cannot be read; its Applications are left as they are", "error", err)
				} else {
					set.Untrusted = true
				}
				objSets = append(objSets, &objectSet{obj: obj, set: set, err: err})
			}
		}
	}
	loaded, err := a.o.AppFile.LoadManifests(a.o.kubeFlags, a.o.InventoryNamespace(), &argocd.Manifests{Projects: manifests.Projects}, logWriter{a.log})
	if err != nil {
		return nil, err
	}
	// An ApplicationSet object's Applications are objects too, written by
	// applySets and run as any Application object.
	for _, s := range objSets {
		if s.err == nil {
			s.apps, s.err = a.generate(loaded.Mapper, s.set)
		}
	}
	a.mu.Lock()
	a.objSets = objSets
	a.mu.Unlock()
	// Each set on its own: one that fails to generate (a generator's
	// repository down) does not hold the others back.
	for _, set := range sets {
		apps, err := a.generate(loaded.Mapper, set)
		if err == nil {
			var targets []*appflags.Target
			for _, app := range apps {
				t, terr := loaded.Mapper.Target(app)
				if terr != nil {
					err = errors.Join(err, terr)
					continue
				}
				targets = append(targets, t)
			}
			loaded.Targets = append(loaded.Targets, targets...)
		}
		if err != nil {
			a.log.Error("an ApplicationSet did not generate all its apps", "set", set.Name, "error", err)
		}
		loaded.Sets = append(loaded.Sets, set)
	}
	entries := map[string]*appEntry{}
	// The agent's Git credentials go to the hosts of --app-file's
	// Applications (the operator's own files) and of
	// --git-credential-hosts; an Application object, which anyone allowed
	// to create one can point anywhere, gets them only for those.
	for _, app := range fileApps {
		loaded.Mapper.Trust(app.Source.RepoURL)
	}
	for _, h := range a.o.CredentialHosts {
		loaded.Mapper.TrustHost(h)
	}
	add := func(key string, app *argocd.Application, obj *unstructured.Unstructured, err error) {
		e := &appEntry{key: key, obj: obj, loaded: loaded, err: err}
		if err == nil {
			e.target, e.err = loaded.Mapper.Target(app)
		}
		entries[key] = e
	}
	for _, app := range fileApps {
		add("file/"+app.Name, app, nil, nil)
	}
	for _, t := range loaded.Targets { // generated by the ApplicationSets
		key := "set/" + t.Application.Name
		entries[key] = &appEntry{key: key, target: t, loaded: loaded}
	}
	if a.objects != nil {
		tenants := a.tenants()
		for _, item := range a.objects.List() {
			obj, ok := item.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			ns := obj.GetNamespace()
			if ns != a.o.AppNamespace && !a.tenantNamespace(ns) {
				continue
			}
			obj = obj.DeepCopy()
			key := ns + "/" + obj.GetName()
			app, err := argocd.FromObject("Application "+key, obj)
			if err != nil || ns == a.o.AppNamespace {
				add(key, app, obj, err)
				continue
			}
			// Two teams may name apps alike: a tenant's app name is its
			// namespace's and its own, hashed (tenantAppName).
			app.Name = tenantAppName(ns, app.Name)
			e := &appEntry{key: key, obj: obj, loaded: loaded}
			var tn *appflags.Tenant
			if tn, e.err = tenants.of(ns, obj.GetName(), app.Source.RepoURL); e.err == nil {
				if e.target, e.err = loaded.Mapper.Target(app); e.err == nil {
					e.target.Tenant = tn
				}
			}
			entries[key] = e
		}
	}
	// One name, one inventory: an app defined twice is refused, both ways.
	byName := map[string][]string{}
	for key, e := range entries {
		if e.target != nil {
			byName[e.target.Application.Name] = append(byName[e.target.Application.Name], key)
		}
	}
	for name, keys := range byName {
		if len(keys) > 1 {
			sort.Strings(keys)
			for _, k := range keys {
				entries[k].err = fmt.Errorf("app %s is defined %d times (%s): each app has one inventory; rename all but one", name, len(keys), strings.Join(keys, ", "))
			}
		}
	}
	return entries, nil
}

// generateTimeout bounds the generation of one ApplicationSet (its git
// generators' fetches): a Git server that hangs holds no reload forever.
const generateTimeout = 2 * time.Minute

// generate makes the Applications of one ApplicationSet.
func (a *runner) generate(m *appflags.Mapper, set *argocd.ApplicationSet) ([]*argocd.Application, error) {
	ctx, cancel := context.WithTimeout(a.stopCtx, generateTimeout)
	defer cancel()
	apps, err := m.GenerateContext(ctx, []*argocd.ApplicationSet{set}, a.o.AppFile.Auth)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("ApplicationSet %s: generating took more than %s: %w", set.Name, generateTimeout, err)
	}
	return apps, err
}

// own runs the apps of shard while ctx lasts: the controller gets
// their keys, and loses them when ctx ends.
func (a *runner) own(ctx context.Context, shard int) {
	a.mu.Lock()
	a.shards[shard] = ctx
	a.mu.Unlock()
	a.setKeys()
	a.reloadSoon() // the ApplicationSet objects of the shard
	<-ctx.Done()
	a.mu.Lock()
	if a.shards[shard] == ctx { // not a later term of the same shard
		delete(a.shards, shard)
	}
	a.mu.Unlock()
	a.setKeys()
}

// setKeys gives the controller the keys of the shards held.
func (a *runner) setKeys() {
	// One at a time, so that the last keys computed are the last set.
	a.setMu.Lock()
	defer a.setMu.Unlock()
	a.mu.Lock()
	var keys []string
	for key := range a.apps {
		if _, ok := a.shards[agent.ShardOf(key, a.o.Shards)]; ok {
			keys = append(keys, key)
		}
	}
	a.mu.Unlock()
	a.controller.Set(keys)
}

// shardContext is the context of the shard key is in, nil when this
// replica does not hold it.
func (a *runner) shardContext(key string) context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.shards[agent.ShardOf(key, a.o.Shards)]
}

// ready says whether the agent serves: its apps were read once.
func (a *runner) ready() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.loaded:
		return errors.New("the apps are not read yet")
	case !a.everLoaded:
		return fmt.Errorf("the apps cannot be read: %v", a.loadErr)
	}
	return nil
}

// push refreshes the apps a webhook push moved: those of a shard held at
// once; the Application objects of other shards through their refresh
// annotation (their holder sees it); ApplicationSets are generated again.
func (a *runner) push(p webhook.Push) {
	a.mu.Lock()
	var mine, others []*appEntry
	sets := len(a.objSets) > 0
	for key, e := range a.apps {
		sets = sets || len(e.loaded.Sets) > 0
		if e.target == nil {
			continue
		}
		src := e.target.Application.Source
		if !p.Matches(src.RepoURL, src.TargetRevision) {
			continue
		}
		if _, ok := a.shards[agent.ShardOf(key, a.o.Shards)]; ok {
			mine = append(mine, e)
		} else if e.obj != nil {
			others = append(others, e)
		}
	}
	a.mu.Unlock()
	for _, e := range mine {
		a.log.Info("webhook push: refreshing", "app", e.key, "provider", p.Provider)
		a.controller.Refresh(e.key, agent.ReasonWebhook)
	}
	// The refresh annotations are written after the answer, a few at a
	// time: a provider gives a webhook ten seconds.
	go func() {
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, e := range others {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				a.annotateRefresh(e.obj)
			})
		}
		wg.Wait()
	}()
	if sets {
		a.reloadSoon() // a git generator may make new apps of the push
	}
}

// annotateRefresh sets Argo CD's refresh annotation on an Application, for
// the replica holding its shard.
func (a *runner) annotateRefresh(obj *unstructured.Unstructured) {
	patch := []byte(`{"metadata":{"annotations":{"` + annotationRefresh + `":"normal"}}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.current.Dynamic.Resource(applicationGVR).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		a.log.Warn("cannot ask for a refresh", "app", obj.GetNamespace()+"/"+obj.GetName(), "error", err)
	}
}

// appLabels are an app's metrics labels.
func appLabels(e *appEntry) metrics.App {
	ns := "argocd"
	if e.obj != nil {
		ns = e.obj.GetNamespace()
	} else if e.target != nil && e.target.Application.Namespace != "" {
		ns = e.target.Application.Namespace
	}
	out := metrics.App{Name: e.key[strings.Index(e.key, "/")+1:], Namespace: ns}
	if t := e.target; t != nil {
		if t.Tenant == nil {
			out.Name = t.Application.Name
		}
		out.Project = t.Application.Project
		if out.Project == "" {
			out.Project = "default"
		}
		out.Repo, out.DestServer, out.DestNamespace = t.Application.Source.RepoURL, t.Server, t.Application.Destination.Namespace
	}
	return out
}

// logWriter writes what the engine says to the log, a line at a time.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			w.log.Warn(strings.TrimPrefix(line, "warning: "))
		}
	}
	return len(p), nil
}

var _ io.Writer = logWriter{}
