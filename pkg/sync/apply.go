package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	gosync "sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

// forEach runs fn over targets with at most n at once.
func forEach(targets []*target, n int, fn func(*target)) {
	sem := make(chan struct{}, n)
	var wg gosync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func(t *target) {
			defer func() { <-sem; wg.Done() }()
			fn(t)
		}(t)
	}
	wg.Wait()
}

// dryRun applies every target with dryRun=All and decides its action:
// created, configured or unchanged (the dry-run result equals the live
// object). Any failure fails the whole sync before anything is written.
//
// Objects the server cannot judge yet are not dry-run: custom resources
// whose definition is applied in this sync, and objects in a namespace this
// sync creates.
func (s *Syncer) dryRun(ctx context.Context, targets []*target, newNamespaces map[string]bool) error {
	var mu gosync.Mutex
	var errs []error
	forEach(targets, s.opts.Concurrency, func(t *target) {
		if !t.served {
			// Its definition arrives in this sync: the server cannot judge
			// it yet (Argo CD's SkipDryRunOnMissingResource, implied).
			t.result.Action = Created
			t.result.Message = "dry-run skipped: its CustomResourceDefinition is applied in this sync"
			return
		}
		if ns := t.item.Object.GetNamespace(); ns != "" && newNamespaces[ns] {
			t.result.Action, t.result.Message = Created, "dry-run skipped: its namespace is created in this sync"
			return
		}
		if t.item.Options.SkipDryRunOnMissingResource && t.live == nil {
			t.result.Action, t.result.Message = Created, "dry-run skipped (SkipDryRunOnMissingResource=true)"
			return
		}
		var out *unstructured.Unstructured
		var err error
		if t.item.Options.Replace && t.live != nil {
			err = s.dryRunReplace(ctx, t)
		} else {
			out, err = s.patch(ctx, t, true)
		}
		if err != nil {
			t.result.Action, t.result.Message = Failed, err.Error()
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", t.ref(), err))
			mu.Unlock()
			return
		}
		switch {
		case t.live == nil:
			t.result.Action = Created
		case t.item.Options.Replace:
			t.result.Action = Replaced
		case sameObject(t.live, out):
			t.result.Action = Unchanged
		default:
			t.result.Action = Configured
		}
	})
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return fmt.Errorf("server-side dry-run failed for %d object(s), nothing was applied:\n  %w", len(errs), indented(errs))
	}
	return nil
}

// indented joins errors one per indented line, keeping them reachable by
// errors.Is and errors.As.
type indented []error

func (e indented) Error() string {
	msgs := make([]string, len(e))
	for i, err := range e {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n  ")
}

func (e indented) Unwrap() []error { return e }

// apiError carries the API server's message and keeps the original error
// for errors.As (retry decisions look at its status code).
type apiError struct {
	msg string
	err error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// patch server-side applies t's object. A conflict only with fields last
// changed by hand through kubectl (edit, scale, patch, client-side apply) is
// drift, and is taken back; a conflict with any other manager is reported
// unless ForceConflicts is set.
func (s *Syncer) patch(ctx context.Context, t *target, dryRun bool) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(t.item.Object.Object)
	if err != nil {
		return nil, err
	}
	opts := metav1.PatchOptions{FieldManager: inventory.FieldManager, Force: &s.opts.ForceConflicts}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if t.item.Options.NoValidate {
		opts.FieldValidation = "Ignore"
	} else {
		opts.FieldValidation = "Strict"
	}
	ri := s.c.Dynamic.Resource(t.gvr).Namespace(t.item.Object.GetNamespace())
	out, err := ri.Patch(ctx, t.item.Object.GetName(), types.ApplyPatchType, body, opts)
	if managers := conflictManagers(err); len(managers) > 0 && !s.opts.ForceConflicts {
		if allHumanDrift(managers) {
			force := true
			opts.Force = &force
			out, err = ri.Patch(ctx, t.item.Object.GetName(), types.ApplyPatchType, body, opts)
		} else {
			return nil, &apiError{fmt.Sprintf("fields are owned by another manager (%s): %v; pass --force-conflicts to take them", strings.Join(managers, ", "), apiMessage(err)), err}
		}
	}
	if err != nil {
		if isImmutable(err) {
			return nil, &apiError{apiMessage(err) + "; the field is immutable: add the sync option Replace=true to the object (or pass --sync-option Replace=true) to delete and recreate it", err}
		}
		return nil, &apiError{apiMessage(err), err}
	}
	return out, nil
}

// dryRunReplace checks an object that Replace=true will delete and
// recreate. Applying over the live object would judge the wrong thing (an
// immutable field is the usual reason for Replace), so the server judges a
// create of the object under a generated name instead.
func (s *Syncer) dryRunReplace(ctx context.Context, t *target) error {
	probe := t.item.Object.DeepCopy()
	name := probe.GetName()
	if len(name) > 50 {
		name = name[:50]
	}
	probe.SetName("")
	probe.SetGenerateName(name + "-")
	opts := metav1.CreateOptions{FieldManager: inventory.FieldManager, DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}
	if t.item.Options.NoValidate {
		opts.FieldValidation = "Ignore"
	}
	_, err := s.c.Dynamic.Resource(t.gvr).Namespace(probe.GetNamespace()).Create(ctx, probe, opts)
	if err != nil {
		return &apiError{"dry-run of the replacement: " + apiMessage(err), err}
	}
	return nil
}

// conflictManagers lists the managers named in an apply conflict.
func conflictManagers(err error) []string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !apierrors.IsConflict(err) {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	details := status.Status().Details
	if details == nil {
		return nil
	}
	for _, c := range details.Causes {
		if c.Type != metav1.CauseTypeFieldManagerConflict {
			continue
		}
		// "conflict with \"kubectl-edit\" using apps/v1" or "... with \"m\": .spec"
		msg := c.Message
		if i := strings.Index(msg, `"`); i >= 0 {
			if j := strings.Index(msg[i+1:], `"`); j >= 0 {
				m := msg[i+1 : i+1+j]
				if !seen[m] {
					seen[m] = true
					out = append(out, m)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// allHumanDrift reports whether every manager is kubectl used by hand.
func allHumanDrift(managers []string) bool {
	for _, m := range managers {
		if m != "kubectl" && m != "before-first-apply" && !(strings.HasPrefix(m, "kubectl-") && m != inventory.FieldManager) {
			return false
		}
	}
	return true
}

func isImmutable(err error) bool {
	if !apierrors.IsInvalid(err) {
		return false
	}
	return strings.Contains(strings.ToLower(err.Error()), "immutable")
}

// apiMessage is the API server's own message for err.
func apiMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Message != "" {
		return status.Status().Message
	}
	return err.Error()
}

// sameObject compares a live object with the result of applying to it,
// ignoring what every write changes (resourceVersion, managedFields times).
func sameObject(live, applied *unstructured.Unstructured) bool {
	return reflect.DeepEqual(comparable(live), comparable(applied))
}

func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c.Object, "metadata", "generation")
	if mf, ok, _ := unstructured.NestedSlice(c.Object, "metadata", "managedFields"); ok {
		for _, e := range mf {
			if m, ok := e.(map[string]any); ok {
				delete(m, "time")
			}
		}
		_ = unstructured.SetNestedSlice(c.Object, mf, "metadata", "managedFields")
	}
	return c.Object
}

// applyWaves applies wave after wave, waiting for health between them.
func (s *Syncer) applyWaves(ctx context.Context, p *plan.Plan, targets []*target) error {
	byItem := map[*plan.Item]*target{}
	for _, t := range targets {
		byItem[t.item] = t
	}
	for _, w := range p.Waves {
		var wave []*target
		for _, it := range w.Items {
			wave = append(wave, byItem[it])
		}
		s.emit(Event{Type: EventWaveStarted, Phase: w.Phase, Wave: w.Wave})
		if err := s.applyWave(ctx, wave); err != nil {
			return err
		}
		if !s.opts.Wait {
			continue
		}
		if err := s.waitHealthy(ctx, wave); err != nil {
			return err
		}
		s.emit(Event{Type: EventWaveHealthy, Phase: w.Phase, Wave: w.Wave})
	}
	return nil
}

// applyWave applies one wave: Namespaces and CustomResourceDefinitions
// first (waiting until the definitions are served), then the rest, each
// group with bounded concurrency.
func (s *Syncer) applyWave(ctx context.Context, wave []*target) error {
	var first, rest []*target
	for _, t := range wave {
		switch t.item.Object.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			first = append(first, t)
		default:
			rest = append(rest, t)
		}
	}
	for i, group := range [][]*target{first, rest} {
		if err := s.applyGroup(ctx, group); err != nil {
			return err
		}
		if i == 0 {
			if err := s.waitServed(ctx, rest); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Syncer) applyGroup(ctx context.Context, group []*target) error {
	var mu gosync.Mutex
	var errs []error
	forEach(group, s.opts.Concurrency, func(t *target) {
		err := s.applyOne(ctx, t)
		if err != nil {
			t.result.Action, t.result.Message = Failed, err.Error()
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", t.ref(), err))
			mu.Unlock()
		}
		s.emit(Event{Type: EventObjectApplied, Phase: t.item.Phase, Wave: t.item.Wave, Object: snapshot(t.result)})
	})
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return fmt.Errorf("apply failed for %d object(s):\n  %w", len(errs), indented(errs))
	}
	return nil
}

func (s *Syncer) applyOne(ctx context.Context, t *target) (err error) {
	defer func() { t.applied = err == nil }()
	if t.result.Action == Unchanged {
		return nil
	}
	if t.item.Options.Replace && t.live != nil {
		ri := s.c.Dynamic.Resource(t.gvr).Namespace(t.item.Object.GetNamespace())
		fg := metav1.DeletePropagationForeground
		if err := ri.Delete(ctx, t.item.Object.GetName(), metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace: delete: %s", apiMessage(err))
		}
		if err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := ri.Get(ctx, t.item.Object.GetName(), metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}); err != nil {
			return fmt.Errorf("replace: waiting for the old object to be deleted: %w", err)
		}
		t.result.Action = Replaced
	}
	out, err := s.patch(ctx, t, false)
	if err != nil {
		return err
	}
	t.live = out
	t.result.Message = "" // a dry-run note no longer applies
	return nil
}

// waitServed waits until the custom resources in ts are served (their
// definitions were just applied).
func (s *Syncer) waitServed(ctx context.Context, ts []*target) error {
	for _, t := range ts {
		if t.served {
			continue
		}
		gvk := t.item.Object.GroupVersionKind()
		err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(context.Context) (bool, error) {
			gvr, _, err := s.c.Resource(gvk)
			if err != nil {
				return false, nil
			}
			t.gvr, t.served = gvr, true
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("%s: its kind is not served yet (CustomResourceDefinition not established): %w", t.ref(), err)
		}
	}
	return nil
}

func (s *Syncer) emit(e Event) {
	if s.opts.OnEvent != nil {
		e.Time = time.Now()
		if e.Object != nil {
			e.Object.Message = s.redactor.String(e.Object.Message)
		}
		s.opts.OnEvent(e)
	}
}

func snapshot(r *ObjectResult) *ObjectResult {
	c := *r
	return &c
}

// healthOf records and reports an object's health.
func (s *Syncer) healthOf(t *target, live *unstructured.Unstructured) health.Result {
	h := health.Assess(live)
	if t.result.Health != h.Status {
		t.result.Health = h.Status
		if h.Status != health.Healthy {
			t.result.Message = h.Message
		} else if t.result.Action != Failed {
			t.result.Message = ""
		}
		s.emit(Event{Type: EventObjectHealth, Phase: t.item.Phase, Wave: t.item.Wave, Object: snapshot(t.result)})
	}
	return h
}
