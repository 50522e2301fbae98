package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	gosync "sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

// apply runs a change set: see Apply.
func (s *Syncer) apply(ctx context.Context, cs *ChangeSet) (*Result, error) {
	r := cs.run
	ctx = r.context(ctx)
	if s.opts.DryRun {
		err := cs.err
		if err == nil {
			// The hooks' dry-run too: a dry run says what the sync would
			// refuse.
			err = s.prepareHooks(ctx, r, cs, cs.hookChanges(), false)
		}
		return s.result(cs, err, true), r.redactError(err)
	}
	inv := inventory.Inventory{App: cs.App, Namespace: s.opts.InventoryNamespace}
	if cs.err != nil {
		// Nothing is applied; the failure is recorded all the same.
		return s.finish(ctx, cs, inv, cs.err)
	}
	if err := inventory.EnsureNamespace(ctx, s.c, inv.Namespace); err != nil {
		return s.result(cs, err, false), r.redactError(err)
	}
	l, err := lock.Acquire(ctx, s.c.Kube, lock.Options{
		Namespace: inv.Namespace, Name: inv.ParentName(), Duration: s.opts.LockDuration, Wait: s.opts.WaitForLock,
	})
	if err != nil {
		return s.result(cs, err, false), r.redactError(err)
	}
	res, err := s.applyHeld(ctx, cs, inv, l)
	l.Release() // before counting: the release is this run's request too
	res.Requests = r.requests()
	return res, err
}

// applyHeld is apply under the lock l.
func (s *Syncer) applyHeld(ctx context.Context, cs *ChangeSet, inv inventory.Inventory, l *lock.Lock) (*Result, error) {
	r := cs.run
	// A lost lock stops the rest of the sync.
	ctx, stop := l.Context(ctx)
	defer stop()
	r.lock = l

	// Another sync may have run between the comparison and the lock: its
	// changes would make our verdicts stale. Compare again, under the lock.
	state, err := inventory.Load(ctx, s.c, inv)
	if err != nil {
		return s.result(cs, err, false), r.redactError(err)
	}
	if pre, ok := ctx.Value(preconditionKey{}).(Precondition); ok {
		if err := pre(cs.App, state); err != nil {
			// Not a sync that failed: one that is not wanted any more
			// (another replica did it). Nothing is written or recorded.
			return s.result(cs, err, false), err
		}
	}
	if state.ResourceVersion != cs.state.ResourceVersion {
		// Another sync wrote: the run's shared lists may predate it.
		s.forgetAll(cs)
		fresh, err := s.compare(ctx, r, cs.in)
		if fresh == nil {
			return s.result(cs, err, false), r.redactError(err)
		}
		*cs = *fresh
		cs.Recompared = true
		if err != nil {
			return s.record(ctx, cs, inv, s.closeHooks(ctx, cs, err))
		}
	}
	s.forgetLists(cs)
	syncErr := s.closeHooks(ctx, cs, s.execute(ctx, cs, inv))
	s.forgetLists(cs)
	return s.record(ctx, cs, inv, syncErr)
}

// forgetAll drops the run's shared lists of every resource and namespace
// of cs, written to or not.
func (s *Syncer) forgetAll(cs *ChangeSet) {
	if s.opts.Lists == nil {
		return
	}
	keys := map[resourceKey]bool{}
	for _, c := range cs.Changes {
		if c.gvr.Resource != "" {
			keys[resourceKey{c.gvr, c.Namespace}] = true
		}
	}
	s.opts.Lists.forget(s.c, keys)
}

// forgetLists drops the run's shared lists (Options.Lists) of every
// resource and namespace cs writes to, before it writes and after: no app
// of the run compares with a list older than this app's writes.
func (s *Syncer) forgetLists(cs *ChangeSet) {
	if s.opts.Lists == nil {
		return
	}
	keys := map[resourceKey]bool{}
	for _, c := range cs.Changes {
		switch c.Action {
		case ChangeUnchanged, ChangeSkip, ChangeOrphan:
			continue
		}
		if c.gvr.Resource != "" {
			keys[resourceKey{c.gvr, c.Namespace}] = true
		}
	}
	if len(keys) > 0 {
		s.opts.Lists.forget(s.c, keys)
	}
}

// closeHooks ends the hooks' part of a sync: after a failure the SyncFail
// hooks run; then the delete policies apply.
func (s *Syncer) closeHooks(ctx context.Context, cs *ChangeSet, syncErr error) error {
	if syncErr != nil {
		syncErr = s.syncFailed(ctx, cs.run, cs, syncErr)
	}
	s.finishHooks(ctx, cs.run, cs)
	return syncErr
}

// finish records a change set that could not be applied, under the lock,
// and returns its result.
func (s *Syncer) finish(ctx context.Context, cs *ChangeSet, inv inventory.Inventory, cause error) (*Result, error) {
	r := cs.run
	if err := inventory.EnsureNamespace(ctx, s.c, inv.Namespace); err != nil {
		return s.result(cs, cause, false), r.redactError(cause)
	}
	l, err := lock.Acquire(ctx, s.c.Kube, lock.Options{Namespace: inv.Namespace, Name: inv.ParentName(), Duration: s.opts.LockDuration, Wait: s.opts.WaitForLock})
	if err != nil {
		// Another sync holds the app; it records its own outcome.
		return s.result(cs, cause, false), r.redactError(cause)
	}
	r.lock = l
	res, err := s.recordFailure(ctx, cs, inv, cause)
	l.Release()
	res.Requests = r.requests()
	return res, err
}

func (s *Syncer) recordFailure(ctx context.Context, cs *ChangeSet, inv inventory.Inventory, cause error) (*Result, error) {
	state, err := inventory.Load(ctx, s.c, inv)
	if err != nil {
		return s.result(cs, cause, false), cs.run.redactError(errors.Join(cause, err))
	}
	cs.state = state
	lctx, stop := cs.run.lock.Context(ctx)
	cause = s.closeHooks(lctx, cs, cause)
	stop()
	return s.record(ctx, cs, inv, cause)
}

// execute widens the inventory, applies wave after wave with health gates,
// and prunes.
func (s *Syncer) execute(ctx context.Context, cs *ChangeSet, inv inventory.Inventory) error {
	r := cs.run
	// Every hook is dry-run before the first write.
	if err := s.prepareHooks(ctx, r, cs, cs.hookChanges(plan.PhasePreSync, plan.PhaseSync, plan.PhasePostSync), true); err != nil {
		return err
	}
	state := cs.state
	// Record the union of old and new members before writing any, so an
	// interrupted sync leaves no member the inventory does not cover.
	gks, nss := cs.membership(inv)
	covered := &inventory.State{
		GroupKinds:      uniqueGKs(append(append([]schema.GroupKind{}, state.GroupKinds...), gks...)),
		Namespaces:      uniqueStrings(append(append([]string{}, state.Namespaces...), nss...)),
		History:         state.History,
		Automated:       state.Automated,
		Exists:          state.Exists,
		ResourceVersion: state.ResourceVersion,
		// Where this sync's hooks go, before any is created; the leftovers
		// of earlier ones were cleaned up just now.
		HookResources: hookResources(cs.hookChanges(), cs.keepHookResources),
	}
	// Cluster-scoped members add no namespace: compare without "", or
	// every sync of one would rewrite the parent. The parent's own
	// namespace counts (whether members may be there is recorded).
	without := func(nss []string) []string {
		return slices.DeleteFunc(uniqueStrings(nss), func(ns string) bool { return ns == "" })
	}
	if m := s.opts.MarkAutomated; m != nil {
		covered.Automated = *m
	}
	if !state.Exists || !slices.Equal(covered.GroupKinds, uniqueGKs(state.GroupKinds)) || !slices.Equal(without(covered.Namespaces), without(state.Namespaces)) ||
		inventory.FormatHookResources(covered.HookResources) != inventory.FormatHookResources(state.HookResources) || covered.Automated != state.Automated {
		if err := inventory.Save(ctx, s.c, inv, covered); err != nil {
			return err
		}
	}
	cs.state = covered
	if c := cs.destChange; c != nil {
		var err error
		if s.opts.NamespaceMetadata == nil {
			err = inventory.EnsureNamespace(ctx, s.c, s.opts.DestNamespace)
		} else {
			_, err = s.patch(ctx, c, false)
		}
		if err != nil {
			c.result.Action, c.result.Message = Failed, err.Error()
			return fmt.Errorf("%s: %w", c.Ref(), err)
		}
		c.result.Action, c.result.Message, c.applied = Created, c.Reason, true
		if c.Action == ChangeConfigure {
			c.result.Action = Configured
		}
		r.emit(Event{Type: EventObjectApplied, Object: c.snapshot("")})
	}
	// Hooks make every wave wait for the one before, as in Argo CD (a
	// PostSync hook runs only once everything is healthy).
	gate := s.opts.Wait || len(cs.hookChanges()) > 0
	pruned := false
	for _, w := range cs.waves {
		if w.phase == plan.PhaseSyncFail {
			continue // only when the sync fails
		}
		if w.phase == plan.PhasePostSync && !pruned {
			if err := s.prune(ctx, r, cs.prunes); err != nil {
				return err
			}
			pruned = true
		}
		r.emit(Event{Type: EventWaveStarted, Phase: w.phase, Wave: w.wave})
		for _, step := range w.steps {
			// Custom resources whose CRD was applied in an earlier step
			// (of this wave or an earlier one) wait until it is served.
			if err := s.waitServed(ctx, step); err != nil {
				return err
			}
			if err := s.applyStep(ctx, r, step); err != nil {
				return err
			}
		}
		for _, c := range w.all {
			if c.Action == ChangeUnchanged {
				c.applied = true
				r.emit(Event{Type: EventObjectApplied, Phase: c.Phase, Wave: c.Wave, Object: c.snapshot(Unchanged)})
			}
		}
		if err := s.runHooks(ctx, r, w.hooks); err != nil {
			return err
		}
		if !gate {
			continue
		}
		if err := s.waitHealthy(ctx, r, w.all); err != nil {
			return err
		}
		if err := s.waitHooks(ctx, r, w.hooks); err != nil {
			return err
		}
		r.emit(Event{Type: EventWaveHealthy, Phase: w.phase, Wave: w.wave})
	}
	if !pruned {
		if err := s.prune(ctx, r, cs.prunes); err != nil {
			return err
		}
	}
	// Members now: what was applied, what left Git but was kept, and what
	// is being deleted (pruned now, or earlier and still terminating, a
	// finalizer holding it): until it is gone it stays covered, so a later
	// sync, status or kubectl's ApplySet prune can still find it.
	gks, nss = cs.membership(inv)
	for _, c := range cs.prunes {
		gks = append(gks, schema.GroupKind{Group: c.Group, Kind: c.Kind})
		nss = append(nss, c.Namespace)
	}
	for _, m := range cs.deleting {
		gks = append(gks, m.Object.GroupVersionKind().GroupKind())
		nss = append(nss, m.Object.GetNamespace())
	}
	covered.GroupKinds, covered.Namespaces = uniqueGKs(gks), uniqueStrings(nss)
	return nil
}

// membership is the group-kinds and namespaces of the objects to apply and
// of the Skip-hook objects that are members already (kept, so still covered).
func (cs *ChangeSet) membership(inv inventory.Inventory) ([]schema.GroupKind, []string) {
	var gks []schema.GroupKind
	var nss []string
	for _, c := range cs.Changes {
		isSkipHook := c.Action == ChangeSkip && c.Desired != nil
		if c.Action == ChangeRun || c.item == nil && !(isSkipHook && c.Live != nil && inv.Owns(c.Live)) {
			continue
		}
		gks = append(gks, schema.GroupKind{Group: c.Group, Kind: c.Kind})
		nss = append(nss, c.Namespace)
	}
	return uniqueGKs(gks), uniqueStrings(nss)
}

// applyStep writes one step's changes together.
func (s *Syncer) applyStep(ctx context.Context, r *run, step []*Change) error {
	return s.writeEach(ctx, r, step, s.applyOne, "apply failed for %d object(s)")
}

// writeEach runs write for the changes together, reports each, and joins
// the failures under the heading failed (with a %d for their number).
func (s *Syncer) writeEach(ctx context.Context, r *run, changes []*Change, write func(context.Context, *Change) error, failed string) error {
	var errs []error
	var mu gosync.Mutex
	forEach(changes, s.opts.Concurrency, func(c *Change) {
		err := write(ctx, c)
		if err != nil {
			c.result.Action, c.result.Message = Failed, err.Error()
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", c.Ref(), err))
			mu.Unlock()
		}
		r.emit(Event{Type: EventObjectApplied, Phase: c.Phase, Wave: c.Wave, Object: c.snapshot("")})
	})
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return fmt.Errorf(failed+":\n  %w", len(errs), indented(errs))
	}
	return nil
}

func (s *Syncer) applyOne(ctx context.Context, c *Change) error {
	ri := s.c.Dynamic.Resource(c.gvr).Namespace(c.Namespace)
	switch c.Action {
	case ChangeRecreate:
		fg := metav1.DeletePropagationForeground
		if err := ri.Delete(ctx, c.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
			return &apiError{"recreate: delete: " + apiMessage(err), err}
		}
		if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := ri.Get(ctx, c.Name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			return fmt.Errorf("recreate: waiting for the old object to be deleted: %w", err)
		}
		if c.opts.Replace {
			out, err := ri.Create(ctx, c.Desired, metav1.CreateOptions{FieldManager: inventory.FieldManager, FieldValidation: validation(c)})
			if err != nil {
				return &apiError{"recreate: create: " + apiMessage(err), err}
			}
			c.current = out
		} else {
			out, err := s.patch(ctx, c, false)
			if err != nil {
				return err
			}
			c.current = out
		}
		c.result.Action = Replaced
	case ChangeReplace:
		obj := c.Desired.DeepCopy()
		obj.SetResourceVersion(c.Live.GetResourceVersion())
		out, err := ri.Update(ctx, obj, metav1.UpdateOptions{FieldManager: inventory.FieldManager, FieldValidation: validation(c)})
		if err != nil {
			return &apiError{"replace: " + apiMessage(err), err}
		}
		c.current, c.result.Action = out, Replaced
	case ChangeCreate, ChangeConfigure:
		if c.opts.Replace && c.Live == nil {
			created, err := ri.Create(ctx, c.Desired, metav1.CreateOptions{FieldManager: inventory.FieldManager, FieldValidation: validation(c)})
			if err != nil {
				return &apiError{apiMessage(err), err}
			}
			c.current = created
		} else {
			applied, err := s.patch(ctx, c, false)
			if err != nil {
				return err
			}
			c.current = applied
			if c.Adopted {
				if err := s.takeOver(ctx, c); err != nil {
					return err
				}
			}
		}
		c.result.Action = Created
		if c.Action == ChangeConfigure {
			c.result.Action = Configured
		}
	default:
		return nil
	}
	c.applied = true
	return nil
}

// waitServed waits until the custom resources among cs are served (their
// definitions were just applied). Rediscovery is shared and rate-limited by
// the client.
func (s *Syncer) waitServed(ctx context.Context, cs []*Change) error {
	for _, c := range cs {
		if c.served {
			continue
		}
		gvk := schema.GroupVersionKind{Group: c.Group, Version: c.Version, Kind: c.Kind}
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) {
			gvr, _, err := s.c.Resource(gvk)
			if err != nil {
				return false, nil
			}
			c.gvr, c.served = gvr, true
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("%s: its kind is not served yet (CustomResourceDefinition not established): %w", c.Ref(), err)
		}
	}
	return nil
}

// snapshot is the change's result as an event reports it; action, when
// set, is the action to report.
func (c *Change) snapshot(action Action) *ObjectResult {
	out := c.result
	out.ObjectID, out.Phase, out.Wave = c.ObjectID, c.Phase, c.Wave
	if out.Hook != nil {
		h := *out.Hook
		out.Hook = &h
	}
	if action != "" {
		out.Action = action
	}
	return &out
}

// healthOf records and reports an object's health (obj nil: missing).
func healthOf(r *run, c *Change, obj *unstructured.Unstructured) health.Result {
	h := health.Assess(obj)
	if c.result.Health != h.Status {
		c.result.Health = h.Status
		if h.Status != health.Healthy {
			c.result.Message = h.Message
		} else if c.result.Action != Failed {
			c.result.Message = ""
		}
		r.emit(Event{Type: EventObjectHealth, Phase: c.Phase, Wave: c.Wave, Object: c.snapshot("")})
	}
	return h
}
