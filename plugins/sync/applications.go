package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/interrupt"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
)

// ChildConcurrency bounds the children of one wave of an app of apps
// synced at once.
const ChildConcurrency = 4

// ListMaxAge is how old a LIST shared by the apps of one run may be when an
// app compares with it (see gsync.ListCache).
const ListMaxAge = 10 * time.Second

// AppResult is one app's sync in an app of apps: its result, and its
// children's, in the order they ran. JSON nests them.
type AppResult struct {
	*gsync.Result
	// Error says why the app failed when there is no result (its render,
	// its project, its destination).
	Error    string       `json:"error,omitempty"`
	Children []*AppResult `json:"children,omitempty"`
	// Removed are children that left Git: pruned (the resources
	// finalizer) or left in place.
	Removed []RemovedChild `json:"removed,omitempty"`
}

// RemovedChild is a child Application that left the parent's render.
type RemovedChild struct {
	Name string `json:"name"`
	// Pruned says its resources were pruned (it had the resources
	// finalizer); else they were left in place.
	Pruned bool   `json:"pruned"`
	Error  string `json:"error,omitempty"`
}

// runApplications syncs each Application of -f in turn, each into the
// cluster its destination names; an app of apps syncs its children after
// it. It fails when any app failed.
func (o *Options) runApplications(ctx context.Context) (err error) {
	if o.AppFile.Auth, err = o.App.Source.Auth(); err != nil {
		return err
	}
	loaded, err := o.AppFile.Load(o.kubeFlags, o.App.InventoryNamespace)
	if err != nil {
		return err
	}
	mapper, targets, projects := loaded.Mapper, loaded.Targets, loaded.Projects
	// The apps of this run share checkouts (one per repository and
	// revision) and LISTs (one per resource and namespace until an app
	// writes there): a no-op of 100 generated apps reads each once.
	checkouts := gsource.NewCheckouts()
	defer checkouts.Close()
	o.App.Source.Checkouts = checkouts
	o.Sync.Lists = gsync.NewListCache(ListMaxAge)
	ctx, stop := interrupt.Graceful(ctx, o.ErrOut, Interrupted)
	defer stop()
	progress := o.Out
	if o.Output != "" {
		progress = o.ErrOut
	}
	// Independent apps (several Applications, an ApplicationSet's) run at
	// once, at most ChildConcurrency, each one's output in one piece; a
	// single one writes as it goes.
	results, errs := o.syncEach(ctx, targets, mapper, projects, nil, progress, 0)
	var failed []error
	var done []*AppResult
	for i := range targets {
		if results[i] != nil {
			done = append(done, results[i])
		}
		if errs[i] != nil {
			failed = append(failed, errs[i])
		}
	}
	results = done
	// Each ApplicationSet owns what it generates: an Application that left
	// it since the last sync is removed as Argo CD's ApplicationSet
	// controller deletes it.
	for _, set := range loaded.Sets {
		var mine []*appflags.Target
		ok := true
		for i, t := range targets {
			if t.Application.GeneratedBy == set {
				mine = append(mine, t)
				ok = ok && errs[i] == nil
			}
		}
		if !ok {
			fmt.Fprintf(progress, "ApplicationSet %s: an Application failed; those that left the set are removed after a sync where all succeed\n", set.Name)
			continue
		}
		removed, err := o.syncSet(ctx, set, mine, mapper, progress)
		if err != nil {
			failed = append(failed, err)
		}
		if len(removed) > 0 {
			done = append(done, &AppResult{Result: &gsync.Result{App: setApp(set)}, Removed: removed})
		}
	}
	results = done
	if o.Output != "" {
		var doc any = results
		if len(results) == 1 {
			doc = results[0]
		}
		if _, err := output.Print(o.Out, o.Output, doc); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// syncTree syncs one Application and, when its render holds Applications
// that the cluster does not serve (or --expand-apps), syncs each as its own
// app after it: wave by wave (their sync-wave annotations), a wave's
// children at once (at most ChildConcurrency), each recursively. A child
// that fails fails the parent and stops the waves after it. Children that
// left Git since the last sync are pruned when they had the resources
// finalizer, else left in place and reported. path are the apps above, for
// cycles; depth indents the output.
func (o *Options) syncTree(ctx context.Context, t *appflags.Target, mapper *appflags.Mapper, projects *appflags.Projects, path []string, w io.Writer, depth int) (*AppResult, error) {
	name := t.Application.Name
	out := &AppResult{}
	fail := func(err error) (*AppResult, error) {
		err = fmt.Errorf("%s: %w", name, err)
		out.Error = err.Error()
		if depth > 0 { // the command prints the top app's error
			fmt.Fprintf(w, "%serror: %v\n", indent(depth), err)
		}
		return out, err
	}
	o.synced.Store(name+"@"+t.Server, t.Application.GeneratedBy)
	for i, p := range path {
		if p == name {
			return fail(fmt.Errorf("app of apps cycle: %s → %s", strings.Join(path[i:], " → "), name))
		}
	}
	// The project's word on the source comes before anything is fetched:
	// a repository it refuses is never contacted (nor given credentials).
	project, err := projects.For(ctx, t)
	if err != nil {
		return fail(err)
	}
	if err := t.CheckSource(project); err != nil {
		return fail(err)
	}
	// A sync from this command is a manual sync in Argo CD's terms; the
	// agent's are automated.
	note, err := t.CheckWindows(project, !o.Automated, time.Now())
	if err != nil {
		return fail(err)
	}
	if note != "" {
		fmt.Fprintf(w, "%s%s: %s\n", indent(depth), name, note)
	}
	c, err := t.Connect(ctx, o.kubeFlags)
	if err != nil {
		return fail(err)
	}
	flags := t.Onto(o.App)
	r, err := flags.Source.Render(ctx, nil, c.Kube, o.ErrOut)
	if err != nil {
		return fail(err)
	}
	if err := r.RefuseEncrypted(); err != nil {
		return fail(flags.Source.Hint(err))
	}
	// Child Applications are synced as apps of their own (expand), and
	// checked against the AppProjects rendered with them; a cluster
	// without Argo CD cannot hold those, so they are then read, not
	// applied.
	childProjects, err := projects.Rendered(name, r.Objects)
	if err != nil {
		return fail(err)
	}
	objects, childObjs, err := SplitRender(c, r.Objects, o.ExpandApps)
	if err != nil {
		return fail(err)
	}
	if o.Select != nil && depth == 0 {
		objects = o.Select(objects)
	}
	if err := t.RefuseChildren(len(childObjs)); err != nil {
		return fail(err)
	}
	var children []*appflags.Target
	var errs []string
	for _, obj := range childObjs {
		app, err := argocd.FromObject("rendered by "+name, obj)
		if err == nil {
			var ct *appflags.Target
			if ct, err = mapper.Target(app); err == nil {
				children = append(children, ct)
				continue
			}
		}
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fail(fmt.Errorf("child Applications:\n  %s", strings.Join(errs, "\n  ")))
	}
	// The parent's project governs the child Application objects too (as
	// in Argo CD, it must permit argoproj.io Applications); each child is
	// then checked against its own project.
	if err := t.EnforceProject(project, r.Objects, c); err != nil {
		return fail(err)
	}
	// The children of the last sync, to find those that left Git.
	inv := inventory.Inventory{App: name, Namespace: flags.InventoryNamespace}
	var before []inventory.ChildApp
	state, err := inventory.Load(ctx, c, inv)
	if err != nil {
		return fail(err)
	}
	if last, ok := inventory.LastWithCommit(state.History); ok {
		before = last.Children
	}
	var now []inventory.ChildApp
	for _, ct := range children {
		now = append(now, inventory.ChildApp{Name: ct.Application.Name, Context: ct.Context, Server: ct.Server, Finalizer: ct.Application.HasResourcesFinalizer()})
	}

	opts := o.Sync
	opts.SyncOptions = nil
	flags.Options(&opts)
	if !o.changed("prune") {
		opts.Prune = t.Prune // Argo CD prunes only when automated.prune says so
	}
	opts.AllowEmpty = opts.AllowEmpty || t.AllowEmpty || len(children) > 0
	if t.HistoryLimit > 0 && !o.changed("history-limit") {
		opts.HistoryLimit = t.HistoryLimit
	}
	automated := t.Automated
	opts.MarkAutomated = &automated
	retry := o.Retry
	if t.Retry != nil && !o.changed("retry-limit") {
		retry = *t.Retry
	}
	fmt.Fprintf(w, "%sapp %s (%s, context %s): %s@%s (%s) path %s, %d objects", indent(depth), name, t.Application.File, t.Context, r.Source.Repo, output.ShortSHA(r.Source.Commit), r.Source.Message, r.Source.Path, len(objects))
	if len(children) > 0 {
		fmt.Fprintf(w, ", %d child Applications", len(children))
	}
	fmt.Fprintln(w)
	opts.OnEvent = newProgress(indented{w, indent(depth)}).event
	retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		fmt.Fprintf(w, "%sretry %d in %s after: %v\n", indent(depth), attempt, wait, err)
	}
	in := flags.InputWithCommit(r)
	// The comparison reuses the inventory just read.
	// Children that left Git and are to be pruned stay recorded (leaving)
	// until their prune is done: the parent's record is written before
	// they are pruned, and a prune that fails is tried again next time.
	fresh, retrying, recorded := o.leavingChildren(ctx, before, now, mapper, flags.InventoryNamespace, opts.Prune)
	in.Objects, in.Children, in.State = objects, recorded, state
	res, syncErr := gsync.New(c, opts).RunWithRetry(ctx, in, retry)
	syncErr = lockHint(syncErr, o.Sync.WaitForLock)
	out.Result = res
	if res != nil && o.Output == "" {
		if err := PrintResult(indented{w, indent(depth)}, "", res); err != nil {
			return out, err
		}
	}
	if syncErr != nil {
		return out, fmt.Errorf("%s: %w", name, syncErr)
	}

	// Children that left Git.
	var removeErr error
	out.Removed, removeErr = o.removeChildren(ctx, fresh, now, mapper, flags.InventoryNamespace, opts.Prune, "", indented{w, indent(depth)})
	if removeErr != nil {
		return out, fmt.Errorf("%s: %w", name, removeErr)
	}
	// A prune tried again that fails again does not hold the parent's
	// children back (its cluster may be gone); it stays recorded.
	for _, ch := range retrying {
		again, err := o.removeChildren(ctx, []inventory.ChildApp{ch}, nil, mapper, flags.InventoryNamespace, opts.Prune, "", indented{w, indent(depth)})
		out.Removed = append(out.Removed, again...)
		if err != nil {
			fmt.Fprintf(w, "%swarning: %v; tried again by the next sync\n", indent(depth), err)
		}
	}

	// The children, wave by wave.
	waves := map[int][]*appflags.Target{}
	for _, ct := range children {
		waves[ct.Application.Wave()] = append(waves[ct.Application.Wave()], ct)
	}
	order := make([]int, 0, len(waves))
	for wv := range waves {
		order = append(order, wv)
	}
	sort.Ints(order)
	for _, wv := range order {
		wave := waves[wv]
		results, errs := o.syncEach(ctx, wave, mapper, childProjects, append(append([]string{}, path...), name), w, depth+1)
		var failed []error
		for i := range wave {
			if results[i] != nil {
				out.Children = append(out.Children, results[i])
			}
			if errs[i] != nil {
				failed = append(failed, errs[i])
			}
		}
		if len(failed) > 0 {
			return out, fmt.Errorf("%s: child wave %d failed; later waves were not started: %w", name, wv, errors.Join(failed...))
		}
	}
	return out, nil
}

// SyncTarget syncs one Application as sync -f does, its children (an app
// of apps) after it, writing progress to w; projects are the AppProjects it
// is checked against. The agent syncs each app it runs with it. Safe for
// concurrent use with other targets.
func (o *Options) SyncTarget(ctx context.Context, t *appflags.Target, mapper *appflags.Mapper, projects *appflags.Projects, w io.Writer) (*AppResult, error) {
	return o.syncTree(ctx, t, mapper, projects, nil, w, 0)
}

// syncEach syncs targets as syncTree does, at most ChildConcurrency at
// once. Each app's output goes to w in one piece, in the targets' order, as
// soon as it and the apps before it are done; a single app writes as it
// goes. An app not started before the context ended has no result, and
// that error.
func (o *Options) syncEach(ctx context.Context, targets []*appflags.Target, mapper *appflags.Mapper, projects *appflags.Projects, path []string, w io.Writer, depth int) ([]*AppResult, []error) {
	results := make([]*AppResult, len(targets))
	errs := make([]error, len(targets))
	if len(targets) == 1 {
		results[0], errs[0] = o.syncTree(ctx, targets[0], mapper, projects, path, w, depth)
		return results, errs
	}
	bufs := make([]bytes.Buffer, len(targets))
	var mu gosync.Mutex
	next, finished := 0, make([]bool, len(targets))
	sem := make(chan struct{}, ChildConcurrency)
	var wg gosync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := ctx.Err(); err != nil {
				errs[i] = fmt.Errorf("%s: not started: %w", t.Application.Name, err)
			} else {
				results[i], errs[i] = o.syncTree(ctx, t, mapper, projects, path, &bufs[i], depth)
			}
			mu.Lock()
			defer mu.Unlock()
			finished[i] = true
			for next < len(targets) && finished[next] {
				_, _ = w.Write(bufs[next].Bytes())
				next++
			}
		}()
	}
	wg.Wait()
	return results, errs
}

// SplitRender splits an Application's render into the objects its sync
// applies and the child Applications synced as apps of their own: these
// when the cluster does not serve Argo CD's Applications (or expand, for
// --expand-apps); rendered AppProjects the cluster cannot hold are read
// (for the children), not applied. sync, status and diff of -f split
// alike, so a view shows what the sync does. Discovery is asked only about
// kinds the render holds.
func SplitRender(c *cluster.Client, objs []*unstructured.Unstructured, expand bool) (objects, children []*unstructured.Unstructured, err error) {
	served := func(gvk schema.GroupVersionKind) (bool, error) {
		_, _, err := c.Resource(gvk)
		var notServed *cluster.NotServedError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &notServed):
			return false, nil
		}
		return false, fmt.Errorf("cannot tell whether the cluster serves %s: %w", gvk.Kind, err)
	}
	if !expand && slices.ContainsFunc(objs, argocd.IsApplication) {
		ok, err := served(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"})
		if err != nil {
			return nil, nil, err
		}
		expand = !ok
	}
	keepProjects := true
	if slices.ContainsFunc(objs, argocd.IsAppProject) {
		if keepProjects, err = served(appProjectGVK); err != nil {
			return nil, nil, err
		}
	}
	for _, obj := range objs {
		switch {
		case expand && argocd.IsApplication(obj):
			children = append(children, obj)
		case argocd.IsAppProject(obj) && !keepProjects:
		default:
			objects = append(objects, obj)
		}
	}
	return objects, children, nil
}

var appProjectGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "AppProject"}

// PruneTarget prunes every member of the app t names, as deleting its
// Application with the resources finalizer does (the agent's cascading
// delete): a sync of no objects that may prune everything.
func (o *Options) PruneTarget(ctx context.Context, t *appflags.Target, inventoryNamespace string) error {
	return o.pruneChild(ctx, t, inventoryNamespace)
}

// pruneChild prunes every member of a child app that left Git: a sync of
// no objects that may prune everything.
func (o *Options) pruneChild(ctx context.Context, t *appflags.Target, inventoryNamespace string) error {
	c, err := t.Connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	opts := o.Sync
	opts.InventoryNamespace, opts.Prune, opts.AllowEmpty, opts.SyncOptions = inventoryNamespace, true, true, nil
	opts.OnEvent = nil
	_, err = gsync.New(c, opts).Run(ctx, gsync.Input{App: t.Application.Name, Subject: pruneSubject})
	return err
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

func indent(depth int) string { return strings.Repeat("  ", depth) }

// indented prefixes every line written with prefix.
type indented struct {
	w      io.Writer
	prefix string
}

func (i indented) Write(p []byte) (int, error) {
	if i.prefix == "" {
		return i.w.Write(p)
	}
	s := strings.ReplaceAll(string(p), "\n", "\n"+i.prefix)
	s = i.prefix + strings.TrimSuffix(s, i.prefix)
	if _, err := io.WriteString(i.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (o *Options) changed(flag string) bool { return o.flags != nil && o.flags.Changed(flag) }

// removeChildren handles the child apps of before that are not in now: a
// child with the resources finalizer is pruned when prune (as deleting its
// Application would), else left in place and reported; keep, when set,
// says why resources are kept anyway (preserveResourcesOnDeletion). It
// stops at the first prune that fails.
func (o *Options) removeChildren(ctx context.Context, before, now []inventory.ChildApp, mapper *appflags.Mapper, inventoryNamespace string, prune bool, keep string, w io.Writer) ([]RemovedChild, error) {
	kept := map[string]bool{}
	for _, ch := range now {
		kept[ch.Name] = true
	}
	var out []RemovedChild
	for _, ch := range before {
		if kept[ch.Name] {
			continue
		}
		rc := RemovedChild{Name: ch.Name, Pruned: ch.Finalizer && prune && keep == ""}
		switch {
		case ch.Finalizer && keep != "":
			fmt.Fprintf(w, "child %s left Git: its resources are left in place (%s)\n", ch.Name, keep)
		case ch.Finalizer && !prune:
			fmt.Fprintf(w, "child %s left Git: its resources are left in place (pruning is off)\n", ch.Name)
		case ch.Finalizer:
			if err := o.pruneChild(ctx, mapper.ChildTarget(ch), inventoryNamespace); err != nil {
				rc.Error = err.Error()
			}
			fmt.Fprintf(w, "child %s left Git: its resources are pruned (resources finalizer)%s\n", ch.Name, errSuffix(rc.Error))
		default:
			fmt.Fprintf(w, "child %s left Git: its resources are left in place (no %s finalizer)\n", ch.Name, argocd.ResourcesFinalizer)
		}
		out = append(out, rc)
		if rc.Error != "" {
			return out, fmt.Errorf("prune child %s: %s", ch.Name, rc.Error)
		}
	}
	return out, nil
}

// setApp is the app name under which an ApplicationSet's Applications
// are recorded (its inventory in the current cluster).
func setApp(set *argocd.ApplicationSet) string { return set.Name + "-appset" }

// syncSet removes the Applications that left set since its last sync
// (pruned when they had the resources finalizer, unless the set preserves
// resources on deletion), then records what it generates now. A prune
// that fails leaves the record as it was, so the next sync tries again.
func (o *Options) syncSet(ctx context.Context, set *argocd.ApplicationSet, generated []*appflags.Target, mapper *appflags.Mapper, w io.Writer) ([]RemovedChild, error) {
	name := setApp(set)
	c, err := mapper.ContextTarget(name, "").Connect(ctx, o.kubeFlags)
	if err != nil {
		return nil, fmt.Errorf("ApplicationSet %s: %w", set.Name, err)
	}
	inv := inventory.Inventory{App: name, Namespace: o.App.InventoryNamespace}
	state, err := inventory.Load(ctx, c, inv)
	if err != nil {
		return nil, fmt.Errorf("ApplicationSet %s: %w", set.Name, err)
	}
	if len(state.GroupKinds) > 0 {
		// An app of that name has members: this is not the set's record.
		return nil, fmt.Errorf("ApplicationSet %s: the inventory of app %s (where the set records its Applications) holds an app's objects; rename that app or the ApplicationSet", set.Name, name)
	}
	var before, now []inventory.ChildApp
	if n := len(state.History); n > 0 {
		// An Application that left the set but that another app of this
		// run (another set, a file, an app of apps' child) synced in the
		// same cluster is not removed.
		for _, ch := range state.History[n-1].Children {
			if by, ok := o.synced.Load(ch.Name + "@" + ch.Server); !ok || by == set {
				before = append(before, ch)
			}
		}
	}
	for _, t := range generated {
		now = append(now, inventory.ChildApp{Name: t.Application.Name, Context: t.Context, Server: t.Server, Finalizer: t.Application.HasResourcesFinalizer()})
	}
	keep := ""
	switch {
	case !set.MayDelete():
		keep = "the ApplicationSet's applicationsSync: " + set.ApplicationsSync
	case set.PreserveResourcesOnDeletion:
		keep = "the ApplicationSet's preserveResourcesOnDeletion"
	}
	removed, err := o.removeChildren(ctx, before, now, mapper, o.App.InventoryNamespace, o.Sync.Prune, keep, indented{w, "ApplicationSet " + set.Name + ": "})
	if err != nil {
		return removed, fmt.Errorf("ApplicationSet %s: %w", set.Name, err)
	}
	opts := o.Sync
	opts.InventoryNamespace, opts.AllowEmpty, opts.SyncOptions, opts.OnEvent, opts.DestNamespace = o.App.InventoryNamespace, true, nil, nil, ""
	opts.NamespaceMetadata, opts.MarkAutomated = nil, nil
	_, err = gsync.New(c, opts).Run(ctx, gsync.Input{App: name, Repo: set.File, Path: ".", Children: now, Subject: fmt.Sprintf("ApplicationSet %s: %d Applications", set.Name, len(now))})
	if err != nil {
		return removed, fmt.Errorf("ApplicationSet %s: recording its Applications: %w", set.Name, err)
	}
	return removed, nil
}

// leavingChildren sorts the children of before that left (not in now):
// fresh ones left since the last sync (pruned or reported now, as ever);
// retry ones were being pruned by an earlier sync whose prune failed (or
// cannot be told), tried again. recorded are the children to record: now,
// plus every child being pruned, until its own inventory shows the prune
// done — or shows that another app synced it since (it moved: never
// pruned again).
func (o *Options) leavingChildren(ctx context.Context, before, now []inventory.ChildApp, mapper *appflags.Mapper, inventoryNamespace string, prune bool) (fresh, retry, recorded []inventory.ChildApp) {
	recorded = append(recorded, now...)
	for _, ch := range before {
		if slices.ContainsFunc(now, func(n inventory.ChildApp) bool { return n.Name == ch.Name }) {
			continue
		}
		if !ch.Leaving {
			fresh = append(fresh, ch)
			if ch.Finalizer && prune {
				ch.Leaving = true
				recorded = append(recorded, ch)
			}
			continue
		}
		if !ch.Finalizer || !prune {
			recorded = append(recorded, ch) // pruning is off now: kept for later
			continue
		}
		if o.PruneDone(ctx, mapper, ch, inventoryNamespace) {
			continue
		}
		retry = append(retry, ch)
		recorded = append(recorded, ch)
	}
	return fresh, retry, recorded
}

// pruneSubject is the subject of a removed child's prune record.
const pruneSubject = "pruned: the Application left its parent's render"

// pruneDone says a leaving child needs no more pruning: its inventory's
// newest record is a prune that succeeded, or a sync by another app (it
// moved), or there is none. A child whose cluster or inventory cannot be
// read is not done.
func (o *Options) PruneDone(ctx context.Context, mapper *appflags.Mapper, ch inventory.ChildApp, inventoryNamespace string) bool {
	c, err := mapper.ChildTarget(ch).Connect(ctx, o.kubeFlags)
	if err != nil {
		return false
	}
	st, err := inventory.Load(ctx, c, inventory.Inventory{App: ch.Name, Namespace: inventoryNamespace})
	if err != nil {
		return false
	}
	n := len(st.History)
	if n == 0 {
		return true
	}
	last := st.History[n-1]
	return last.Subject != pruneSubject || last.Phase == gsync.PhaseSucceeded
}
