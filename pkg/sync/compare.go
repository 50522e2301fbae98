package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ssaproof"
)

// compare builds the change set. It only reads, and dry-runs.
func (s *Syncer) compare(ctx context.Context, r *run, in Input) (*ChangeSet, error) {
	if err := validateAppName(in.App); err != nil {
		return nil, err
	}
	appOpts, err := plan.SyncOptions{}.Apply(s.opts.SyncOptions...)
	if err != nil {
		return nil, fmt.Errorf("app sync options: %w", err)
	}
	rules, err := ignore.Compile(s.opts.IgnoreDifferences)
	if err != nil {
		return nil, err
	}
	inv := inventory.Inventory{App: in.App, Namespace: s.opts.InventoryNamespace}
	state := in.State
	if state != nil {
		st := *state // ours to replace; the caller's stays as it was
		state = &st
	} else if state, err = inventory.Load(ctx, s.c, inv); err != nil {
		return nil, err
	}
	cs := &ChangeSet{App: in.App, ComparedAt: time.Now().UTC(), run: r, in: in, state: state,
		Source: in.source()}
	defer func() { cs.Requests = r.requests() }()
	fail := func(err error) (*ChangeSet, error) {
		cs.err = err
		return cs, err
	}

	// The input is not ours to change: resolve fills in namespaces and
	// marks members on copies.
	objs := make([]*unstructured.Unstructured, len(in.Objects))
	for i, o := range in.Objects {
		objs[i] = o.DeepCopy()
	}
	changes, hooks, skipped, p, err := s.resolve(objs, appOpts)
	if err != nil {
		return fail(err)
	}
	for _, c := range changes {
		// As the server stores it, so the fields applied are the fields
		// stored and the local proof can see them.
		render.FoldStringData(c.Desired.Object)
		inv.Mark(c.Desired)
	}
	// Hooks are created by Apply, never compared: Compare reads nothing
	// for them.
	for _, c := range hooks {
		render.FoldStringData(c.Desired.Object)
		markHook(inv, c.Desired)
	}
	if len(changes) == 0 && len(state.GroupKinds) > 0 && !s.opts.AllowEmpty {
		return fail(fmt.Errorf("the render is empty but app %s has members in the cluster; refusing to prune them all%s", in.App, hint(s.opts.Hints.AllowEmpty)))
	}
	// Hooks sync never runs are read only when named: one may be a member
	// still, kept and covered.
	lists, err := s.fetchLive(ctx, append(append([]*Change{}, changes...), slices.DeleteFunc(slices.Clone(skipped), func(c *Change) bool { return c.hook != nil && c.Name == "" })...))
	if err != nil {
		return fail(err)
	}
	for _, c := range changes {
		respectIgnored(c, rules)
		markReplace(c)
	}
	newNamespaces, dest, err := s.namespacesToCreate(ctx, changes, appOpts)
	if err != nil {
		return fail(err)
	}
	cs.newNamespaces = newNamespaces
	ownerErr := s.checkOwners(r, inv, changes)
	judgeErr := errors.Join(ownerErr, s.judge(ctx, r, changes, newNamespaces))

	prunes, deleting, err := s.findPrunable(ctx, inv, state, appOpts, changes, skipped, hooks, lists)
	if err != nil {
		return fail(errors.Join(judgeErr, err))
	}
	cs.prunes, cs.deleting = prunes, deleting

	// Execution order: per wave, Namespaces and CRDs, then the rest, then
	// the wave's hooks; prunes one at a time after the Sync phase, before
	// PostSync; SyncFail last (run only when the sync fails).
	byItem := map[*plan.Item]*Change{}
	for _, c := range append(append([]*Change{}, changes...), hooks...) {
		byItem[c.item] = c
	}
	var step int
	prunesNumbered := false
	numberPrunes := func() {
		for _, c := range prunes {
			if c.Action == ChangePrune {
				step++
				c.Step = step
			}
			cs.Changes = append(cs.Changes, c)
		}
		prunesNumbered = true
	}
	if c := dest; c != nil {
		// CreateNamespace=true: created (or its managed metadata applied)
		// before everything, not a member (as with Argo CD, it is never
		// pruned).
		step++
		c.Step, c.served = step, true
		cs.Changes = append(cs.Changes, c)
		cs.destChange = c
	}
	for _, w := range p.Waves {
		if !prunesNumbered && (w.Phase == plan.PhasePostSync || w.Phase == plan.PhaseSyncFail) {
			numberPrunes()
		}
		ws := waveSteps{phase: w.Phase, wave: w.Wave}
		var first, rest []*Change
		for _, it := range w.Items {
			c := byItem[it]
			if c.hook != nil {
				ws.hooks = append(ws.hooks, c)
				continue
			}
			ws.all = append(ws.all, c)
			switch it.Object.GetKind() {
			case "Namespace", "CustomResourceDefinition":
				first = append(first, c)
			default:
				rest = append(rest, c)
			}
		}
		for _, group := range [][]*Change{first, rest} {
			if len(group) == 0 {
				continue
			}
			step++
			var exec []*Change
			for _, c := range group {
				cs.Changes = append(cs.Changes, c)
				if c.Action != ChangeUnchanged {
					c.Step = step
					exec = append(exec, c)
				}
			}
			ws.steps = append(ws.steps, exec)
		}
		if len(ws.hooks) > 0 {
			step++
			for _, c := range ws.hooks {
				c.Step = step
				cs.Changes = append(cs.Changes, c)
			}
		}
		cs.waves = append(cs.waves, ws)
	}
	if !prunesNumbered {
		numberPrunes()
	}
	cs.Changes = append(cs.Changes, skipped...)
	for _, c := range cs.Changes {
		c.Reason = r.red.String(c.Reason)
	}
	if judgeErr != nil {
		return fail(judgeErr)
	}
	return cs, nil
}

// resolve maps every object to its resource, fills in the destination
// namespace, and orders the set. Custom resources whose definition is in the
// set but not served yet take their scope from that definition. Hooks are
// returned apart (one change per phase a hook runs in), and so are objects
// with the Skip hook and hooks a sync never runs: never applied, never
// pruned.
func (s *Syncer) resolve(objs []*unstructured.Unstructured, appOpts plan.SyncOptions) (changes, hooks, skipped []*Change, p *plan.Plan, err error) {
	crdScope := map[schema.GroupKind]bool{} // namespaced?
	crdPlural := map[schema.GroupKind]string{}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" && o.GroupVersionKind().Group == "apiextensions.k8s.io" {
			group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
			plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
			scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
			gk := schema.GroupKind{Group: group, Kind: kind}
			crdScope[gk] = scope != "Cluster"
			crdPlural[gk] = plural
		}
	}

	// One mapping per kind: a kind the cluster does not know costs one
	// rediscovery for the whole set, not one per object.
	type mapping struct {
		gvr        schema.GroupVersionResource
		namespaced bool
		err        error
	}
	mapped := map[schema.GroupVersionKind]mapping{}
	byObject := map[*unstructured.Unstructured]*Change{}
	seen := sets.New[string]()
	var errs []error
	var planned []*unstructured.Unstructured
	for _, o := range objs {
		skip := plan.IsSkipHook(o)
		if enc, recipients := sops.ObjectEncrypted(o.Object); enc && !skip {
			why := "it holds ENC[...] values"
			if len(recipients) > 0 {
				why = "for age recipients " + strings.Join(recipients, ", ") + "; no key given opened it"
			}
			errs = append(errs, fmt.Errorf("%s: still SOPS-encrypted (%s)%s", plan.Ref(o), why, hint(s.opts.Hints.AgeKey)))
			continue
		}
		gvk := o.GroupVersionKind()
		m, known := mapped[gvk]
		if !known {
			m.gvr, m.namespaced, m.err = s.c.Resource(gvk)
			mapped[gvk] = m
		}
		gvr, namespaced, err := m.gvr, m.namespaced, m.err
		served := true
		var notServed *cluster.NotServedError
		if errors.As(err, &notServed) {
			if ns, ok := crdScope[gvk.GroupKind()]; ok {
				gvr = gvk.GroupVersion().WithResource(crdPlural[gvk.GroupKind()])
				namespaced, served, err = ns, false, nil
			}
		}
		if err != nil && skip {
			// Never applied: its kind need not be served.
			skipped = append(skipped, newChange(o, ChangeSkip, "argocd.argoproj.io/hook: Skip: never applied"))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", plan.Ref(o), err))
			continue
		}
		switch {
		case namespaced && o.GetNamespace() == "" && s.opts.DestNamespace != "":
			o.SetNamespace(s.opts.DestNamespace)
		case namespaced && o.GetNamespace() == "":
			errs = append(errs, fmt.Errorf("%s: namespaced object without a namespace; set metadata.namespace (or namespace: in the kustomization)%s", plan.Ref(o), hint(s.opts.Hints.DestNamespace)))
			continue
		case !namespaced && o.GetNamespace() != "":
			o.SetNamespace("") // as the API server would ignore it
		}
		isHook := plan.IsHook(o)
		switch {
		case o.GetName() == "" && isHook && o.GetGenerateName() != "":
			// The server names it when the hook is created.
		case o.GetName() == "" && o.GetGenerateName() != "":
			errs = append(errs, fmt.Errorf("%s: metadata.generateName works only for hooks (argocd.argoproj.io/hook); a synced object needs metadata.name", plan.Ref(o)))
			continue
		case o.GetName() == "":
			errs = append(errs, fmt.Errorf("%s: metadata.name is required", plan.Ref(o)))
			continue
		}
		if o.GetName() != "" {
			key := objectKey(gvk.GroupKind(), o.GetNamespace(), o.GetName())
			if seen.Has(key) {
				errs = append(errs, fmt.Errorf("%s: rendered twice; each object must appear once", plan.Ref(o)))
				continue
			}
			seen.Insert(key)
		}
		c := newChange(o, "", "")
		c.gvr, c.namespaced, c.served = gvr, namespaced, served
		if skip {
			c.Action, c.Judged, c.Reason = ChangeSkip, NotJudged, "argocd.argoproj.io/hook: Skip: never applied, and kept"
			skipped = append(skipped, c)
			continue
		}
		byObject[o] = c
		planned = append(planned, o)
	}
	if len(errs) > 0 {
		return nil, nil, nil, nil, errors.Join(errs...)
	}
	p, err = plan.New(planned, appOpts)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	for _, w := range p.Waves {
		for _, it := range w.Items {
			c := byObject[it.Object]
			if c.item != nil {
				// A hook of several phases runs once in each.
				c = c.clone()
				byObject[it.Object] = c
			}
			c.item, c.opts, c.Phase, c.Wave, c.hook = it, it.Options, it.Phase, it.Wave, it.Hook
			if it.Hook == nil {
				changes = append(changes, c)
				continue
			}
			c.Action, c.Judged, c.Reason = ChangeRun, NotJudged, "hook: created in the "+string(it.Phase)+" phase"
			c.result.Hook = &HookResult{DeletePolicies: it.Hook.Policies}
			hooks = append(hooks, c)
		}
	}
	for _, it := range p.NotRun {
		c := byObject[it.Object]
		c.hook, c.Wave, c.opts = it.Hook, it.Wave, it.Options
		c.Action, c.Judged, c.Reason = ChangeSkip, NotJudged, it.Hook.NotRun
		skipped = append(skipped, c)
	}
	return changes, hooks, skipped, p, nil
}

// clone is a copy of a change not run yet, with its own desired object.
func (c *Change) clone() *Change {
	d := *c
	d.Desired = c.Desired.DeepCopy()
	d.result = ObjectResult{Action: Pending}
	d.prev = c
	return &d
}

func newChange(o *unstructured.Unstructured, action ChangeAction, reason string) *Change {
	gvk := o.GroupVersionKind()
	id := ObjectID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
	if id.Name == "" {
		id.GenerateName = o.GetGenerateName()
	}
	return &Change{ObjectID: id, Action: action, Judged: NotJudged, Reason: reason, Desired: o, result: ObjectResult{Action: Pending}}
}

func objectKey(gk schema.GroupKind, ns, name string) string {
	return gk.String() + "/" + ns + "/" + name
}

// respectIgnored finds the ignoreDifferences rules of c and, under
// RespectIgnoreDifferences=true, gives its desired object the live values of
// the ignored fields (nothing changes for an object not in the cluster yet).
func respectIgnored(c *Change, rules []ignore.Rule) {
	c.ignore = ignore.For(rules, c.Desired)
	if len(c.ignore) == 0 || !c.opts.RespectIgnoreDifferences || c.Live == nil {
		return
	}
	c.git = c.Desired
	c.Desired = ignore.Respect(c.ignore, c.git, c.Live)
}

// markReplace records, on a Replace=true object, the digest of what Git
// sets (see replaceUnchanged); an object once replaced and now applied
// gets an empty record, which can vouch for nothing.
func markReplace(c *Change) {
	digest := ""
	switch {
	case c.opts.Replace:
		digest = replaceHash(c.Desired)
	case c.Live == nil:
		return
	default:
		if _, replaced := c.Live.GetAnnotations()[AnnotationReplaceHash]; !replaced {
			return
		}
	}
	ann := c.Desired.GetAnnotations()
	ann[AnnotationReplaceHash] = digest
	c.Desired.SetAnnotations(ann)
}

// resourceKey is a resource in one namespace ("" for cluster scope): what one
// LIST reads.
type resourceKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

// byResource groups served changes by resource and namespace.
func byResource(changes []*Change) map[resourceKey][]*Change {
	groups := map[resourceKey][]*Change{}
	for _, c := range changes {
		if c.served && c.gvr.Resource != "" {
			k := resourceKey{c.gvr, c.Namespace}
			groups[k] = append(groups[k], c)
		}
	}
	return groups
}

// fetchLive reads the live state of every change with one LIST per
// resource and namespace (Concurrency at once), so reads grow with kinds and
// namespaces, not with objects. The lists are returned for finding members
// without reading again.
func (s *Syncer) fetchLive(ctx context.Context, changes []*Change) (map[resourceKey][]*unstructured.Unstructured, error) {
	groups := byResource(changes)
	keys := make([]resourceKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	lists := make(map[resourceKey][]*unstructured.Unstructured, len(keys))
	var mu gosync.Mutex
	var errs []error
	forEach(keys, s.opts.Concurrency, func(k resourceKey) {
		var objs []*unstructured.Unstructured
		var err error
		shared := s.opts.Lists != nil
		if shared {
			objs, err = s.opts.Lists.list(ctx, s.c, k.gvr, k.ns)
		} else {
			var list *unstructured.UnstructuredList
			if list, err = s.c.Dynamic.Resource(k.gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{}); err == nil {
				objs = make([]*unstructured.Unstructured, len(list.Items))
				for i := range list.Items {
					objs[i] = &list.Items[i]
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s in %q: %w", k.gvr.Resource, k.ns, err))
			return
		}
		byName := make(map[string]*unstructured.Unstructured, len(objs))
		for _, o := range objs {
			byName[o.GetName()] = o
		}
		lists[k] = objs
		for _, c := range groups[k] {
			c.Live = byName[c.Name]
			if shared && c.Live != nil {
				c.Live = c.Live.DeepCopy() // the app's own copy
			}
			c.current = c.Live
		}
	})
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	return lists, nil
}

// namespacesToCreate returns the namespaces this sync creates: Namespace
// objects not yet in the cluster, and the destination namespace under
// CreateNamespace=true when it is missing. dest is the change of the
// destination namespace: its creation, or its managed metadata
// (NamespaceMetadata) when the live namespace does not have them as this
// tool applied them; nil for none.
func (s *Syncer) namespacesToCreate(ctx context.Context, changes []*Change, appOpts plan.SyncOptions) (out map[string]bool, dest *Change, err error) {
	out = map[string]bool{}
	inRender := false
	for _, c := range changes {
		if c.Kind == "Namespace" && c.Group == "" && c.Live == nil {
			out[c.Name] = true
		}
		inRender = inRender || c.Kind == "Namespace" && c.Group == "" && c.Name == s.opts.DestNamespace
	}
	// Apply creates the inventory namespace before any write: objects in it
	// are judged as those of any namespace the sync creates.
	for _, c := range changes {
		if c.namespaced && c.Namespace == s.opts.InventoryNamespace && !out[c.Namespace] {
			_, err := s.c.Kube.CoreV1().Namespaces().Get(ctx, c.Namespace, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				out[c.Namespace] = true
			} else if err != nil {
				return nil, nil, err
			}
			break
		}
	}
	// A Namespace of the render wins over CreateNamespace=true.
	if !appOpts.CreateNamespace || s.opts.DestNamespace == "" || inRender {
		return out, nil, nil
	}
	meta := s.opts.NamespaceMetadata
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": s.opts.DestNamespace}}}
	if meta != nil {
		if len(meta.Labels) > 0 {
			ns.SetLabels(meta.Labels)
		}
		if len(meta.Annotations) > 0 {
			ns.SetAnnotations(meta.Annotations)
		}
	}
	live, err := s.c.Dynamic.Resource(namespacesGVR).Get(ctx, s.opts.DestNamespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		out[s.opts.DestNamespace] = true
		dest = newChange(ns, ChangeCreate, "CreateNamespace=true: the destination namespace is missing")
	case err != nil:
		return nil, nil, err
	case meta != nil:
		if v := ssaproof.Prove(live, ns, inventory.FieldManager); !v.Unchanged {
			dest = newChange(ns, ChangeConfigure, "managedNamespaceMetadata: "+v.Reason)
			dest.Live = live
		}
	}
	if dest != nil {
		dest.gvr = namespacesGVR
	}
	return out, dest, nil
}

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// judge decides every change's action: proven unchanged locally where the
// live object's managedFields allow it, else by a server-side dry-run.
// Objects in a namespace this sync creates are judged by a dry-run create in
// an existing namespace. Every refusal is collected; any fails the whole
// change set.
func (s *Syncer) judge(ctx context.Context, r *run, changes []*Change, newNamespaces map[string]bool) error {
	var mu gosync.Mutex
	var errs []error
	forEach(changes, s.opts.Concurrency, func(c *Change) {
		err := s.judgeOne(ctx, r, c, newNamespaces)
		if err != nil {
			c.Error = r.red.String(err.Error())
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", c.Ref(), err))
			mu.Unlock()
		}
	})
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return fmt.Errorf("server-side dry-run failed for %d object(s), nothing was applied:\n  %w", len(errs), indented(errs))
	}
	return nil
}

func (s *Syncer) judgeOne(ctx context.Context, r *run, c *Change, newNamespaces map[string]bool) error {
	switch {
	case !c.served:
		c.Action, c.Judged, c.Reason = ChangeCreate, NotJudged, "not dry-run: its CustomResourceDefinition is applied in this sync"
		return nil
	case c.opts.SkipDryRunOnMissingResource && c.Live == nil:
		c.Action, c.Judged, c.Reason = ChangeCreate, NotJudged, "not dry-run (SkipDryRunOnMissingResource=true)"
		return nil
	}
	c.Judged = JudgedByServer
	var unproven string
	if c.Live != nil && !c.opts.Replace {
		ok, why := proveUnchanged(c.Live, c.Desired)
		if ok {
			c.Action, c.Judged = ChangeUnchanged, JudgedLocally
			return nil
		}
		unproven = why
		// Proven apart from the ignored fields: the same proof on both
		// objects without them (values and field ownership alike).
		if len(c.ignore) > 0 {
			if ok, _ := proveUnchanged(ignore.RemoveLive(c.ignore, c.Live), ignore.Remove(c.ignore, c.Desired, c.Live)); ok {
				c.Action, c.Judged, c.Reason = ChangeUnchanged, JudgedLocally, onlyIgnored
				return nil
			}
		}
	}
	if c.namespaced && newNamespaces[c.Namespace] {
		ns, err := r.probeNamespace(ctx, s)
		if err != nil {
			return err
		}
		if err := s.dryRunCreateIn(ctx, c, ns); err != nil {
			if !apierrors.IsForbidden(err) {
				return err
			}
			// Permissions, quota or policy of the probe namespace, not of
			// the object's own: only the real write can tell.
			c.Action, c.Judged = ChangeCreate, NotJudged
			c.Reason = fmt.Sprintf("not judged: its namespace is created by this sync, and the dry-run create in namespace %s was forbidden there (%s)", ns, apiMessage(err))
			return nil
		}
		c.Action, c.Reason = ChangeCreate, fmt.Sprintf("judged by a dry-run create in namespace %s: its own namespace is created by this sync", ns)
		return nil
	}
	if c.opts.Replace {
		return s.judgeReplace(ctx, c)
	}
	out, err := s.patch(ctx, c, true)
	if managers := conflictManagers(err); len(managers) > 0 && len(c.ignore) > 0 && c.Live != nil {
		// A conflict only on ignored fields (an HPA's replicas) does not
		// matter when nothing else changed: the object is not applied.
		if forced, ferr := s.patchWith(ctx, c, true, true); ferr == nil && len(c.diffOf(forced)) == 0 {
			c.Merged, c.Action, c.Reason = forced, ChangeUnchanged, onlyIgnored+" (owned by "+strings.Join(managers, ", ")+")"
			return nil
		}
		if !c.opts.RespectIgnoreDifferences {
			err = &apiError{err.Error() + "; if these are ignored fields, the sync option RespectIgnoreDifferences=true keeps their live values", err}
		}
	}
	if err != nil {
		if c.opts.Force && c.Live != nil && isImmutable(err) {
			if perr := s.dryRunCreateIn(ctx, c, c.Namespace); perr != nil {
				return perr
			}
			c.Action, c.Reason = ChangeRecreate, "Force=true: an immutable field changed; deleted and created again"
			return nil
		}
		return err
	}
	c.Merged = out
	switch {
	case c.Live == nil:
		c.Action = ChangeCreate
	case sameObject(c.Live, out):
		c.Action = ChangeUnchanged
		if unproven != "" {
			c.Reason = "the server found no change (not provable locally: " + unproven + ")"
		}
	case len(c.ignore) > 0 && len(c.diffOf(out)) == 0:
		c.Action, c.Reason = ChangeUnchanged, onlyIgnored
	default:
		c.Action = ChangeConfigure
		c.Diff = c.diffOf(out)
	}
	return nil
}

// onlyIgnored is the reason of an object whose only differences are in
// fields its ignoreDifferences rules ignore.
const onlyIgnored = "only ignored fields differ (ignoreDifferences)"

// judgeReplace judges a Replace=true object: a dry-run create when it is
// missing, else a dry-run update (replace) of the whole object.
func (s *Syncer) judgeReplace(ctx context.Context, c *Change) error {
	ri := s.c.Dynamic.Resource(c.gvr).Namespace(c.Namespace)
	if c.Live == nil {
		out, err := ri.Create(ctx, c.Desired, metav1.CreateOptions{FieldManager: inventory.FieldManager, DryRun: []string{metav1.DryRunAll}, FieldValidation: validation(c)})
		if err != nil {
			return &apiError{apiMessage(err), err}
		}
		c.Action, c.Merged = ChangeCreate, out
		return nil
	}
	obj := c.Desired.DeepCopy()
	obj.SetResourceVersion(c.Live.GetResourceVersion())
	out, err := ri.Update(ctx, obj, metav1.UpdateOptions{FieldManager: inventory.FieldManager, DryRun: []string{metav1.DryRunAll}, FieldValidation: validation(c)})
	if err != nil {
		if c.opts.Force && isImmutable(err) {
			if perr := s.dryRunCreateIn(ctx, c, c.Namespace); perr != nil {
				return perr
			}
			c.Action, c.Reason = ChangeRecreate, "Replace=true,Force=true: deleted and created again"
			return nil
		}
		msg := apiMessage(err)
		if isImmutable(err) {
			msg += "; the field is immutable: add the sync option Force=true next to Replace=true to delete and recreate the object"
		}
		return &apiError{msg, err}
	}
	c.Merged = out
	switch {
	case sameObject(c.Live, out), replaceUnchanged(c.Live, c.Desired, out):
		c.Action = ChangeUnchanged
	case len(c.ignore) > 0 && len(c.diffOf(out)) == 0:
		c.Action, c.Reason = ChangeUnchanged, onlyIgnored
	case c.opts.Force:
		c.Action, c.Reason = ChangeRecreate, "Replace=true,Force=true: deleted and created again"
		c.Diff = c.diffOf(out)
	default:
		c.Action = ChangeReplace
		c.Diff = c.diffOf(out)
	}
	return nil
}

// probeNamespace finds an existing namespace to judge objects of new
// namespaces in: the inventory namespace, else default.
func (r *run) probeNamespace(ctx context.Context, s *Syncer) (string, error) {
	r.probeOnce.Do(func() {
		for _, ns := range []string{s.opts.InventoryNamespace, "default"} {
			_, err := s.c.Kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err == nil {
				r.probeNS = ns
				return
			}
			if !apierrors.IsNotFound(err) {
				r.probeErr = err
				return
			}
		}
		r.probeErr = fmt.Errorf("no existing namespace (%s or default) to judge the objects of new namespaces in", s.opts.InventoryNamespace)
	})
	return r.probeNS, r.probeErr
}

// findPrunable lists the members of the inventory that the render no
// longer has, and decides for each: prune, orphan (prune off) or skip
// (Prune=false, or options that cannot be read), in prune order.
func (s *Syncer) findPrunable(ctx context.Context, inv inventory.Inventory, state *inventory.State, appOpts plan.SyncOptions, changes, skipped, hooks []*Change, lists map[resourceKey][]*unstructured.Unstructured) ([]*Change, []inventory.Member, error) {
	desired := map[string]bool{}
	// A member that became a hook is not pruned: its hook run replaces it.
	// Hooks add no kinds or namespaces to search (no reads).
	for _, c := range hooks {
		if c.Name != "" {
			desired[objectKey(schema.GroupKind{Group: c.Group, Kind: c.Kind}, c.Namespace, c.Name)] = true
		}
	}
	gks := append([]schema.GroupKind{}, state.GroupKinds...)
	// The parent's namespace is among the State's when members may be
	// there (inventory.AnnotationParentNamespaceMembers).
	namespaces := append([]string{}, state.Namespaces...)
	for _, c := range append(append([]*Change{}, changes...), skipped...) {
		gk := schema.GroupKind{Group: c.Group, Kind: c.Kind}
		desired[objectKey(gk, c.Namespace, c.Name)] = true
		gks = append(gks, gk)
		namespaces = append(namespaces, c.Namespace)
	}
	members, err := inventory.ListMembers(ctx, s.c, inv, gks, namespaces, func(gvr schema.GroupVersionResource, ns string) ([]*unstructured.Unstructured, bool) {
		objs, ok := lists[resourceKey{gvr, ns}]
		return objs, ok
	})
	if err != nil {
		return nil, nil, fmt.Errorf("find members that left Git: %w", err)
	}
	var out []*Change
	var deleting []inventory.Member
	for _, m := range members {
		if s.opts.Lists != nil {
			m.Object = m.Object.DeepCopy() // lists are shared by the run's apps
		}
		live := m.Object
		if m.Deleting {
			deleting = append(deleting, m)
			continue
		}
		if desired[objectKey(live.GroupVersionKind().GroupKind(), live.GetNamespace(), live.GetName())] {
			continue
		}
		c := newChange(live, ChangePrune, "")
		c.Desired, c.Live, c.current, c.gvr, c.served = nil, live, live, m.Resource, true
		opts, optErr := appOpts.Apply(live.GetAnnotations()[plan.AnnotationSyncOptions])
		c.opts = opts
		wave, _ := strconv.Atoi(strings.TrimSpace(live.GetAnnotations()[plan.AnnotationSyncWave]))
		c.Wave = wave
		switch {
		case optErr != nil:
			// Defaults lean toward deleting; an annotation we cannot read
			// may have said Prune=false.
			c.Action, c.Reason = ChangeSkip, fmt.Sprintf("kept: its %s annotation cannot be read (%v); fix the annotation", plan.AnnotationSyncOptions, optErr)
		case opts.NoPrune:
			c.Action, c.Reason = ChangeSkip, "Prune=false: kept although it left Git"
		case !s.opts.Prune:
			c.Action, c.Reason = ChangeOrphan, "left Git; not pruned (pruning is off)"
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return pruneBefore(out[i], out[j]) })
	return out, deleting, nil
}

// pruneBefore orders deletions: PruneLast objects at the very end, then
// reverse wave order, reverse kind order, and name.
func pruneBefore(a, b *Change) bool {
	if a.opts.PruneLast != b.opts.PruneLast {
		return !a.opts.PruneLast
	}
	if a.Wave != b.Wave {
		return a.Wave > b.Wave
	}
	ka, kb := plan.KindRank(a.Kind), plan.KindRank(b.Kind)
	if ka != kb {
		return ka > kb
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// proveUnchanged is the local proof that server-side applying desired with
// our field manager changes nothing in live (see pkg/ssaproof).
func proveUnchanged(live, desired *unstructured.Unstructured) (bool, string) {
	v := ssaproof.Prove(live, desired, inventory.FieldManager)
	return v.Unchanged, v.Reason
}
