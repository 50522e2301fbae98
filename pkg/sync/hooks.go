package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

// Hooks carry their own label and a finalizer, never the ApplySet's
// part-of label: they are not members of the app.
const (
	// LabelHookOf marks the hooks of an app's syncs with the app's ApplySet
	// ID.
	LabelHookOf = "gitops.kubectl-gitops.dev/hook-of"
	// HookFinalizer holds a hook object until the sync that created it has
	// read its outcome (a Job's ttlSecondsAfterFinished, or a person, could
	// delete it first); the sync removes it then, and the next sync of the
	// app removes any an interrupted sync left.
	HookFinalizer = "gitops.kubectl-gitops.dev/hook"
	// AnnotationHookRun marks a hook object with the run of it that created
	// it: a digest of the app, the commit, the render (Secret values left
	// out), the hook's phase and wave and its identity. A sync of the same
	// app, commit and render that finds a hook of that mark still holding
	// HookFinalizer (its sync died before it finished) continues that run
	// instead of creating the hook again.
	AnnotationHookRun = "gitops.kubectl-gitops.dev/hook-run"
)

// HookStatus is how a hook's run went.
type HookStatus string

// Hook statuses.
const (
	HookRunning   HookStatus = "Running"
	HookSucceeded HookStatus = "Succeeded"
	HookFailed    HookStatus = "Failed"
)

// HookResult is a hook's run, in its ObjectResult.
type HookResult struct {
	// Status is empty until the hook is created.
	Status HookStatus `json:"status,omitempty"`
	// DeletePolicies are the hook's delete policies.
	DeletePolicies []plan.DeletePolicy `json:"deletePolicies,omitempty"`
	// Deleted says the hook object was deleted by its policy after it ran.
	Deleted bool `json:"deleted,omitempty"`
	// Continued says an interrupted sync of the same commit and render
	// created the hook: this sync waited for it (or counted its outcome)
	// and did not create it again.
	Continued bool `json:"continued,omitempty"`
}

// markHook labels a hook object as the app's and adds the finalizer that
// keeps it until its outcome is read.
func markHook(inv inventory.Inventory, o *unstructured.Unstructured) {
	labels := o.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelHookOf] = inv.ID()
	o.SetLabels(labels)
	if !slices.Contains(o.GetFinalizers(), HookFinalizer) {
		o.SetFinalizers(append(o.GetFinalizers(), HookFinalizer))
	}
}

// hookChanges are the hooks of cs, in execution order; phases limits them
// to those phases (none: all).
func (cs *ChangeSet) hookChanges(phases ...plan.Phase) []*Change {
	var out []*Change
	for _, w := range cs.waves {
		if len(phases) == 0 || slices.Contains(phases, w.phase) {
			out = append(out, w.hooks...)
		}
	}
	return out
}

// prepareHooks reads the live objects of the named hooks (one LIST per
// resource and namespace, so an existing hook is handled by its delete
// policy) and dry-runs every hook on the server. Nothing is created: a
// refusal fails the sync before any write. With cleanup (under the lock,
// never in a dry run) it also removes the finalizers an interrupted sync
// of this app left on its hooks, there and wherever the inventory says
// hooks were created (a LIST by the hook label each).
func (s *Syncer) prepareHooks(ctx context.Context, r *run, cs *ChangeSet, hooks []*Change, cleanup bool) error {
	var todo []*Change
	for _, c := range hooks {
		if !c.prepared {
			todo = append(todo, c)
		}
	}
	if len(todo) == 0 && !cleanup {
		return nil
	}
	inv := inventory.Inventory{App: cs.App, Namespace: s.opts.InventoryNamespace}
	id := inv.ID()
	markRuns(r, cs)
	groups := byResource(todo)
	keys := make([]resourceKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	var mu gosync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	// Leftovers where no hook of this render goes: by the label only. A
	// place that cannot be cleaned now (discovery or the LIST failed) stays
	// recorded for the next sync, and fails nothing.
	recorded := map[resourceKey]inventory.HookResource{}
	if cleanup && cs.state != nil {
		for _, hr := range cs.state.HookResources {
			m, err := s.c.Mapping(hr.GroupKind)
			if meta.IsNoMatchError(err) {
				continue // a kind no longer served holds nothing
			}
			if err != nil {
				cs.keepHookResources = append(cs.keepHookResources, hr)
				continue
			}
			if k := (resourceKey{m.Resource, hr.Namespace}); groups[k] == nil {
				recorded[k] = hr
			}
		}
	}
	release := func(k resourceKey, o *unstructured.Unstructured) error {
		if cleanup && o.GetLabels()[LabelHookOf] == id && slices.Contains(o.GetFinalizers(), HookFinalizer) {
			if _, err := s.removeHookFinalizer(ctx, k, o); err != nil {
				return fmt.Errorf("%s/%s: remove the finalizer an earlier sync left: %w", k.gvr.Resource, o.GetName(), err)
			}
		}
		return nil
	}
	forEach(slices.Collect(maps.Keys(recorded)), s.opts.Concurrency, func(k resourceKey) {
		list, err := s.c.Dynamic.Resource(k.gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{LabelSelector: LabelHookOf + "=" + id})
		if err == nil {
			for i := range list.Items {
				if rerr := release(k, &list.Items[i]); rerr != nil {
					err = rerr
				}
			}
		}
		if err != nil {
			mu.Lock()
			cs.keepHookResources = append(cs.keepHookResources, recorded[k])
			mu.Unlock()
		}
	})
	forEach(keys, s.opts.Concurrency, func(k resourceKey) {
		list, err := s.c.Dynamic.Resource(k.gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			fail(fmt.Errorf("list %s in %q: %w", k.gvr.Resource, k.ns, err))
			return
		}
		// The hooks an interrupted sync of this commit and render created
		// are its run of them: continued, not created again.
		// Only a sync that took over a dead holder's lease continues: one
		// that created the lease follows a sync that ended (and released
		// it), whose leftovers are released and run anew.
		byRun := map[string]*Change{}
		if cleanup && r.lock != nil && r.lock.TookOver() {
			for _, c := range groups[k] {
				byRun[c.Desired.GetAnnotations()[AnnotationHookRun]] = c
			}
		}
		byName := map[string]*unstructured.Unstructured{}
		for i := range list.Items {
			o := &list.Items[i]
			byName[o.GetName()] = o
			if c := byRun[o.GetAnnotations()[AnnotationHookRun]]; c != nil && continuable(id, o) {
				delete(byRun, o.GetAnnotations()[AnnotationHookRun])
				c.Name, c.Live, c.current = o.GetName(), o, o
				c.result.Hook.Continued = true
				continue
			}
			if err := release(k, o); err != nil {
				fail(err)
			}
		}
		for _, c := range groups[k] {
			live := byName[c.Name]
			switch {
			case c.result.Hook.Continued:
			case c.Name == "" || live == nil:
			case live.GetLabels()[LabelHookOf] == id, inv.Owns(live):
				// An earlier run of this hook, or a member of the app that
				// became a hook: its delete policy decides.
				c.Live = live
			default:
				// Argo CD would fail to create it; never delete or take
				// over what is not this app's.
				err := fmt.Errorf("%s: an object of this name exists and is not a hook or member of app %s (no label %s=%s); delete it, or rename the hook", c.Ref(), cs.App, LabelHookOf, id)
				c.Error = r.red.String(err.Error())
				fail(err)
			}
		}
	})
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return fmt.Errorf("hooks cannot run, nothing was applied:\n  %w", indented(errs))
	}
	forEach(todo, s.opts.Concurrency, func(c *Change) {
		if c.result.Hook.Continued {
			// Nothing is sent for it: it exists, and runs or ran.
			c.Judged, c.Reason, c.prepared = NotJudged, "hook: created by an interrupted sync of this commit and render; its run is continued, not started again", true
			return
		}
		err := s.judgeHook(ctx, r, cs, c)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			c.Error = r.red.String(err.Error())
			errs = append(errs, fmt.Errorf("%s: %w", c.Ref(), err))
			return
		}
		c.prepared = true
	})
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return fmt.Errorf("server-side dry-run failed for %d hook(s), nothing was applied:\n  %w", len(errs), indented(errs))
	}
	return nil
}

// judgeHook dry-runs what running the hook sends: a create under a
// generated name (the hook's own namespace, or an existing one when the sync
// creates its namespace), or the apply of a named hook that exists and is
// not deleted before creation.
func (s *Syncer) judgeHook(ctx context.Context, r *run, cs *ChangeSet, c *Change) error {
	if !c.served {
		c.Judged, c.Reason = NotJudged, "not dry-run: its CustomResourceDefinition is applied in this sync"
		return nil
	}
	c.Judged = JudgedByServer
	switch {
	case c.namespaced && cs.newNamespaces[c.Namespace]:
		ns, err := r.probeNamespace(ctx, s)
		if err != nil {
			return err
		}
		if err := s.dryRunCreateIn(ctx, c, ns); err != nil {
			if !apierrors.IsForbidden(err) {
				return err
			}
			c.Judged = NotJudged
		}
		return nil
	case c.Live != nil && !c.hook.Has(plan.BeforeHookCreation):
		_, err := s.patch(ctx, c, true)
		return err
	default:
		return s.dryRunCreateIn(ctx, c, c.Namespace)
	}
}

// runHooks runs one wave's hooks: an existing object of a hook's name with
// BeforeHookCreation is deleted and waited out, then every hook is created
// (a named hook that exists without that policy is applied: it runs once, as
// in Argo CD). It does not wait for them to complete.
func (s *Syncer) runHooks(ctx context.Context, r *run, hooks []*Change) error {
	if err := s.waitServed(ctx, hooks); err != nil {
		return err
	}
	return s.writeEach(ctx, r, hooks, s.runHook, "creating hooks failed for %d hook(s)")
}

func (s *Syncer) runHook(ctx context.Context, c *Change) error {
	if c.result.Hook.Continued {
		// The interrupted sync created it: waitHooks reads how it went.
		c.applied, c.result.Action, c.result.Hook.Status = true, Unchanged, HookRunning
		return nil
	}
	ri := s.c.Dynamic.Resource(c.gvr).Namespace(c.Namespace)
	if p := c.prev; p != nil && p.applied && p.current != nil && c.Name != "" {
		// A named hook of several phases: what its earlier phase created
		// (and did not delete yet) is the object there now.
		c.Live = p.current
	}
	if c.Live != nil && c.hook.Has(plan.BeforeHookCreation) {
		if _, err := s.deleteHook(ctx, c, c.Live); err != nil {
			return fmt.Errorf("BeforeHookCreation: %w", err)
		}
		c.Live = nil
	}
	if c.Live != nil {
		// Over that very object: the UID makes the server refuse another
		// object of the name.
		c.Desired.SetUID(c.Live.GetUID())
		out, err := s.patch(ctx, c, false)
		c.Desired.SetUID("")
		if err != nil {
			return err
		}
		c.current, c.result.Action = out, Configured
	} else {
		out, err := ri.Create(ctx, c.Desired, metav1.CreateOptions{FieldManager: inventory.FieldManager, FieldValidation: validation(c)})
		if err != nil {
			msg := apiMessage(err)
			if apierrors.IsAlreadyExists(err) {
				msg += "; an object of this name appeared after the sync read it: delete it, or give the hook the delete policy BeforeHookCreation"
			}
			return &apiError{"create: " + msg, err}
		}
		c.current, c.result.Action = out, Created
	}
	if c.Name == "" {
		c.Name = c.current.GetName() // the name the server generated
	}
	c.applied = true
	c.result.Hook.Status = HookRunning
	return nil
}

// waitHooks waits until every hook of the wave has completed, each poll one
// LIST per resource and namespace by the hook label. A hook's finalizer
// stays until finishHooks, when the sync is over. Failed hooks fail the wave
// once all have completed; the sync's deadline bounds the wait.
func (s *Syncer) waitHooks(ctx context.Context, r *run, hooks []*Change) error {
	var pending []*Change
	for _, c := range hooks {
		if c.applied {
			pending = append(pending, c)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	selector := LabelHookOf + "=" + pending[0].Desired.GetLabels()[LabelHookOf]
	first := true
	for len(pending) > 0 {
		if !first {
			select {
			case <-ctx.Done():
				return s.hookTimeout(ctx, r, pending)
			case <-time.After(s.opts.PollInterval):
			}
		}
		var next []*Change
		for k, cs := range byResource(pending) {
			byName := map[string]*unstructured.Unstructured{}
			if first {
				for _, c := range cs {
					byName[c.Name] = c.current // what the create returned
				}
			} else {
				list, err := s.c.Dynamic.Resource(k.gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
				if err != nil {
					if ctx.Err() != nil {
						return s.hookTimeout(ctx, r, pending)
					}
					return fmt.Errorf("read %s in %q for hook status: %w", k.gvr.Resource, k.ns, err)
				}
				for i := range list.Items {
					byName[list.Items[i].GetName()] = &list.Items[i]
				}
			}
			for _, c := range cs {
				obj := byName[c.Name]
				if obj != nil {
					c.current = obj
				}
				status, msg := hookState(obj)
				if status == HookFailed {
					msg = s.hookFailure(ctx, c, obj, msg)
				}
				changed := status != c.result.Hook.Status
				c.result.Hook.Status, c.result.Message = status, msg
				if changed {
					r.emit(Event{Type: EventHookStatus, Phase: c.Phase, Wave: c.Wave, Object: c.snapshot("")})
				}
				if status == HookRunning {
					next = append(next, c)
				}
				// The finalizer stays until finishHooks: while the sync
				// runs, a hook that completed still says (to a sync that
				// continues this one, should it die) that it ran.
			}
		}
		pending, first = next, false
	}
	var failed []error
	for _, c := range hooks {
		if c.result.Hook.Status == HookFailed {
			failed = append(failed, fmt.Errorf("hook %s failed: %s", c.Ref(), c.result.Message))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d hook(s) failed:\n  %w", len(failed), indented(failed))
	}
	return nil
}

func (s *Syncer) hookTimeout(ctx context.Context, r *run, pending []*Change) error {
	why := make([]string, len(pending))
	for i, c := range pending {
		why[i] = fmt.Sprintf("hook %s is %s%s", c.Ref(), c.result.Hook.Status, suffixMsg(c.result.Message))
	}
	return s.healthTimeout(ctx, r, why)
}

func suffixMsg(m string) string {
	if m == "" {
		return ""
	}
	return ": " + m
}

// hookState is a hook's status from its live object, as Argo CD judges
// hooks: a Job by its Complete or Failed condition, a Pod by its phase (a
// restartPolicy Always pod once it is ready), anything else by its health
// (Healthy succeeded, Degraded or Unknown failed).
func hookState(obj *unstructured.Unstructured) (HookStatus, string) {
	if obj == nil {
		return HookFailed, "deleted before it completed"
	}
	gk := obj.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "batch" && gk.Kind == "Job":
		conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["status"] != "True" {
				continue
			}
			msg, _ := m["message"].(string)
			switch m["type"] {
			case "Complete":
				return HookSucceeded, msg
			case "Failed":
				if reason, _ := m["reason"].(string); reason != "" {
					msg = strings.TrimSuffix(reason+": "+msg, ": ")
				}
				return HookFailed, msg
			}
		}
		if suspended, _, _ := unstructured.NestedBool(obj.Object, "spec", "suspend"); suspended {
			return HookRunning, "suspended"
		}
		if active, _, _ := unstructured.NestedInt64(obj.Object, "status", "active"); active > 0 {
			return HookRunning, fmt.Sprintf("%d pod(s) active", active)
		}
		return HookRunning, "waiting for its pods"
	case gk.Group == "" && gk.Kind == "Pod":
		phase, _, _ := unstructured.NestedString(obj.Object, "status", "phase")
		msg, _, _ := unstructured.NestedString(obj.Object, "status", "message")
		switch phase {
		case "Succeeded":
			return HookSucceeded, msg
		case "Failed":
			return HookFailed, msg
		case "Running":
			restart, _, _ := unstructured.NestedString(obj.Object, "spec", "restartPolicy")
			if (restart == "" || restart == "Always") && podReady(obj) {
				return HookSucceeded, "running and ready"
			}
		}
		if phase == "" {
			phase = "Pending"
		}
		return HookRunning, "pod " + phase
	}
	h := health.Assess(obj)
	switch h.Status {
	case health.Healthy:
		return HookSucceeded, h.Message
	case health.Degraded, health.Unknown, health.Missing:
		return HookFailed, h.Message
	}
	return HookRunning, h.Message
}

func podReady(obj *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

// hookFailure adds to a failed hook's message which container failed and
// why: from a Pod's own statuses, or a Job's pods (one LIST, by the Job's
// controller-uid label).
func (s *Syncer) hookFailure(ctx context.Context, c *Change, obj *unstructured.Unstructured, msg string) string {
	if obj == nil {
		return msg
	}
	var details []string
	gk := obj.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "" && gk.Kind == "Pod":
		details = containerFailures(obj)
	case gk.Group == "batch" && gk.Kind == "Job":
		pods, err := s.c.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace(obj.GetNamespace()).
			List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/controller-uid=" + string(obj.GetUID())})
		if err != nil {
			break
		}
		for i := range pods.Items {
			for _, d := range containerFailures(&pods.Items[i]) {
				details = append(details, "pod "+pods.Items[i].GetName()+": "+d)
			}
		}
		sort.Strings(details)
	}
	if len(details) > 0 {
		msg = strings.TrimPrefix(msg+"; "+strings.Join(details, "; "), "; ")
	}
	return msg
}

// containerFailures says, per container of a pod that terminated with an
// error or waits in an error state, its name, reason and exit code.
func containerFailures(pod *unstructured.Unstructured) []string {
	var out []string
	for _, key := range []string{"initContainerStatuses", "containerStatuses"} {
		statuses, _, _ := unstructured.NestedSlice(pod.Object, "status", key)
		for _, st := range statuses {
			m, _ := st.(map[string]any)
			name, _ := m["name"].(string)
			if t, ok, _ := unstructured.NestedMap(m, "state", "terminated"); ok {
				code, _, _ := unstructured.NestedInt64(t, "exitCode")
				if code == 0 {
					continue
				}
				reason, _ := t["reason"].(string)
				line := fmt.Sprintf("container %s terminated: %s (exit code %d)", name, reason, code)
				if m, _ := t["message"].(string); m != "" {
					line += ": " + strings.TrimSpace(m)
				}
				out = append(out, line)
			} else if w, ok, _ := unstructured.NestedMap(m, "state", "waiting"); ok {
				reason, _ := w["reason"].(string)
				if strings.HasPrefix(reason, "Err") || strings.HasSuffix(reason, "Error") || strings.HasSuffix(reason, "BackOff") {
					line := "container " + name + " waiting: " + reason
					if m, _ := w["message"].(string); m != "" {
						line += ": " + m
					}
					out = append(out, line)
				}
			}
		}
	}
	return out
}

// removeHookFinalizer takes our finalizer off obj, that very object (its
// UID): a JSON patch that tests the UID and the entry it removes, read
// again when they moved. It returns the object as patched (nil when it is
// gone, or is another object now).
func (s *Syncer) removeHookFinalizer(ctx context.Context, k resourceKey, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri := s.c.Dynamic.Resource(k.gvr).Namespace(obj.GetNamespace())
	uid := obj.GetUID()
	for attempt := 0; ; attempt++ {
		i := slices.Index(obj.GetFinalizers(), HookFinalizer)
		if i < 0 {
			return obj, nil
		}
		path := fmt.Sprintf("/metadata/finalizers/%d", i)
		patch, _ := json.Marshal([]map[string]any{{"op": "test", "path": "/metadata/uid", "value": uid},
			{"op": "test", "path": path, "value": HookFinalizer}, {"op": "remove", "path": path}})
		out, err := ri.Patch(ctx, obj.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: inventory.FieldManager})
		switch {
		case err == nil:
			return out, nil
		case apierrors.IsNotFound(err):
			return nil, nil
		case attempt < 3 && (apierrors.IsInvalid(err) || apierrors.IsConflict(err)):
			fresh, gerr := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			if apierrors.IsNotFound(gerr) {
				return nil, nil
			}
			if gerr != nil {
				return nil, gerr
			}
			if fresh.GetUID() != uid {
				return nil, nil // another object of the name: not ours to touch
			}
			obj = fresh
		default:
			return nil, &apiError{apiMessage(err), err}
		}
	}
}

// deleteHook deletes a hook object (the one read: its UID) in the
// background, so that its pods do not hold it, and waits until it is gone.
// deleted is false when it was gone already, or another object has its
// name now.
func (s *Syncer) deleteHook(ctx context.Context, c *Change, obj *unstructured.Unstructured) (deleted bool, err error) {
	k := resourceKey{c.gvr, obj.GetNamespace()}
	if _, err := s.removeHookFinalizer(ctx, k, obj); err != nil {
		return false, err
	}
	ri := s.c.Dynamic.Resource(c.gvr).Namespace(obj.GetNamespace())
	bg := metav1.DeletePropagationBackground
	uid := obj.GetUID()
	err = ri.Delete(ctx, obj.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return false, nil
	case err != nil:
		return false, &apiError{"delete: " + apiMessage(err), err}
	}
	err = wait.PollUntilContextCancel(ctx, s.opts.PollInterval, true, func(ctx context.Context) (bool, error) {
		live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && live.GetUID() != uid, nil // the old object is gone
	})
	if err != nil {
		return true, fmt.Errorf("waiting for %s to be deleted (another finalizer may hold it): %w", obj.GetName(), err)
	}
	return true, nil
}

// finishHooks applies the delete policies once the sync is over: a hook
// that succeeded is deleted under HookSucceeded, one that failed under
// HookFailed, each waited out; a hook still running (the sync stopped) loses
// only its finalizer. It runs on a context of its own, so a sync that timed
// out still cleans up.
func (s *Syncer) finishHooks(ctx context.Context, r *run, cs *ChangeSet) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	// A named hook of two phases without BeforeHookCreation is one object
	// for both: it is acted on once, by the later phase.
	var last []*Change
	seen := map[types.UID]bool{}
	hooks := cs.hookChanges()
	for i := len(hooks) - 1; i >= 0; i-- {
		c := hooks[i]
		if !c.applied || c.current == nil || seen[c.current.GetUID()] {
			continue
		}
		seen[c.current.GetUID()] = true
		last = append(last, c)
	}
	forEach(last, s.opts.Concurrency, func(c *Change) {
		st := c.result.Hook.Status
		del := (st == HookSucceeded && c.hook.Has(plan.HookSucceeded)) || (st == HookFailed && c.hook.Has(plan.HookFailed))
		if !del {
			if _, err := s.removeHookFinalizer(ctx, resourceKey{c.gvr, c.Namespace}, c.current); err != nil {
				c.result.Message = strings.TrimPrefix(c.result.Message+"; finalizer "+HookFinalizer+" not removed: "+err.Error(), "; ")
			}
			return
		}
		deleted, err := s.deleteHook(ctx, c, c.current)
		if err != nil {
			c.result.Message = strings.TrimPrefix(c.result.Message+"; not deleted ("+string(policyOf(st))+"): "+err.Error(), "; ")
			return
		}
		if !deleted {
			return // gone already, or replaced by a later run of it
		}
		c.result.Hook.Deleted = true
		r.emit(Event{Type: EventHookDeleted, Phase: c.Phase, Wave: c.Wave, Object: c.snapshot("")})
	})
}

func policyOf(st HookStatus) plan.DeletePolicy {
	if st == HookSucceeded {
		return plan.HookSucceeded
	}
	return plan.HookFailed
}

// syncFailed runs the SyncFail hooks after cause failed the sync, wave by
// wave, on a deadline of their own (the sync's may have passed); they are
// not run when the sync was interrupted or lost its lock. The sync fails
// with cause in any case; a SyncFail hook that fails is added to it.
func (s *Syncer) syncFailed(ctx context.Context, r *run, cs *ChangeSet, cause error) error {
	hooks := cs.hookChanges(plan.PhaseSyncFail)
	if len(hooks) == 0 || errors.Is(cause, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) || r.lock == nil || r.lostLock() != nil {
		return cause
	}
	// Not the sync's deadline (it may be what failed), but still the
	// caller's context (a signal) and the lock: either stops them too.
	base := r.caller
	if base == nil {
		base = context.WithoutCancel(ctx)
	}
	ctx, stopLock := r.lock.Context(base)
	defer stopLock()
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	inv := inventory.Inventory{App: cs.App, Namespace: s.opts.InventoryNamespace}
	if err := s.coverHooks(ctx, inv, cs, hooks); err != nil {
		return errors.Join(cause, fmt.Errorf("SyncFail hooks not run: %w", err))
	}
	if err := s.prepareHooks(ctx, r, cs, hooks, true); err != nil {
		return errors.Join(cause, fmt.Errorf("SyncFail hooks not run: %w", err))
	}
	for _, w := range cs.waves {
		if w.phase != plan.PhaseSyncFail {
			continue
		}
		r.emit(Event{Type: EventWaveStarted, Phase: w.phase, Wave: w.wave})
		err := s.runHooks(ctx, r, w.hooks)
		if err == nil {
			err = s.waitHooks(ctx, r, w.hooks)
		}
		if err != nil {
			return errors.Join(cause, fmt.Errorf("SyncFail: %w", err))
		}
		r.emit(Event{Type: EventWaveHealthy, Phase: w.phase, Wave: w.wave})
	}
	return cause
}

// hookResources are where hooks of cs are created, with those already
// recorded in the inventory (extra) kept.
func hookResources(hooks []*Change, extra []inventory.HookResource) []inventory.HookResource {
	out := append([]inventory.HookResource{}, extra...)
	for _, c := range hooks {
		hr := inventory.HookResource{GroupKind: schema.GroupKind{Group: c.Group, Kind: c.Kind}, Namespace: c.Namespace}
		if !slices.Contains(out, hr) {
			out = append(out, hr)
		}
	}
	return out
}

// coverHooks records in the inventory, before hooks are created, where
// they go (if it does not say so already), so that a sync that dies while
// they run leaves finalizers only where the next sync looks.
func (s *Syncer) coverHooks(ctx context.Context, inv inventory.Inventory, cs *ChangeSet, hooks []*Change) error {
	want := hookResources(hooks, cs.state.HookResources)
	if inventory.FormatHookResources(want) == inventory.FormatHookResources(cs.state.HookResources) {
		return nil
	}
	st := *cs.state
	st.HookResources = want
	if err := inventory.Save(ctx, s.c, inv, &st); err != nil {
		return err
	}
	st.Exists = true
	cs.state = &st
	return nil
}

// markRuns gives every hook of cs, once, its AnnotationHookRun: the run of
// it this sync would create, the same for every sync of the app, commit
// and render.
func markRuns(r *run, cs *ChangeSet) {
	hooks := cs.hookChanges()
	if len(hooks) == 0 || hooks[0].Desired.GetAnnotations()[AnnotationHookRun] != "" {
		return
	}
	render := renderDigest(r, cs.in)
	seen := map[string]int{}
	for _, c := range hooks {
		key := fmt.Sprintf("%s\x00%d\x00%s\x00%s\x00%s\x00%s\x00%s", c.Phase, c.Wave, c.Group, c.Kind, c.Namespace, c.Name, c.GenerateName)
		n := seen[key] // hooks alike in all of that are told apart by their order
		seen[key]++
		sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", render, key, n)))
		a := c.Desired.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[AnnotationHookRun] = hex.EncodeToString(sum[:16])
		c.Desired.SetAnnotations(a)
	}
}

// renderDigest is a digest of the app, the commit and every rendered
// object. Secret data are left out and Secret values masked first: no
// digest of a secret goes into an annotation (the commit covers them).
func renderDigest(r *run, in Input) string {
	sums := make([]string, 0, len(in.Objects))
	for _, o := range in.Objects {
		obj := o.Object
		if gvk := o.GroupVersionKind(); gvk.Group == "" && gvk.Kind == "Secret" {
			c := o.DeepCopy()
			unstructured.RemoveNestedField(c.Object, "data")
			unstructured.RemoveNestedField(c.Object, "stringData")
			obj = c.Object
		}
		b, _ := json.Marshal(obj) // map keys sorted: the same object, the same bytes
		sum := sha256.Sum256([]byte(r.red.String(string(b))))
		sums = append(sums, hex.EncodeToString(sum[:]))
	}
	sort.Strings(sums)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", in.App, in.Commit, strings.Join(sums, ","))
	return hex.EncodeToString(h.Sum(nil))
}

// continuable reports whether the live hook o, of the app with ApplySet ID
// id, is a run an interrupted sync left: it still holds HookFinalizer
// (every sync that ends takes it off, or deletes the hook), and it is not
// being deleted while it still runs.
func continuable(id string, o *unstructured.Unstructured) bool {
	if o.GetLabels()[LabelHookOf] != id || !slices.Contains(o.GetFinalizers(), HookFinalizer) {
		return false
	}
	if o.GetDeletionTimestamp() != nil {
		st, _ := hookState(o)
		return st != HookRunning
	}
	return true
}
