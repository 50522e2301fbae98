package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	gosync "sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

// forEach runs fn over items with at most n at once.
func forEach[T any](items []T, n int, fn func(T)) {
	sem := make(chan struct{}, n)
	var wg gosync.WaitGroup
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(it)
		}()
	}
	wg.Wait()
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

func validation(c *Change) string {
	if c.opts.NoValidate {
		return "Ignore"
	}
	return "Strict"
}

// patch server-side applies c's desired object. A conflict only with fields
// last changed by hand through kubectl (edit, scale, patch, client-side
// apply) is drift, and is taken back; a conflict with any other manager is
// reported unless ForceConflicts is set.
func (s *Syncer) patch(ctx context.Context, c *Change, dryRun bool) (*unstructured.Unstructured, error) {
	return s.patchWith(ctx, c, dryRun, s.opts.ForceConflicts)
}

// patchWith is patch, forcing conflicts when forceAll.
//
// Under RespectIgnoreDifferences=true the desired object carries the live
// values of the ignored fields, so applying it keeps them and raises no
// conflict over them (server-side apply conflicts only over a different
// value; our manager becomes a co-owner). A conflict in the real write means
// the live object changed since it was read (an HPA scaled again): the
// object is read again and its ignored fields taken anew, before anything
// is forced, so that a forced apply never writes back a stale ignored value.
func (s *Syncer) patchWith(ctx context.Context, c *Change, dryRun, forceAll bool) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(c.Desired.Object)
	if err != nil {
		return nil, err
	}
	force := forceAll
	opts := metav1.PatchOptions{FieldManager: inventory.FieldManager, Force: &force, FieldValidation: validation(c)}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ri := s.c.Dynamic.Resource(c.gvr).Namespace(c.Namespace)
	out, err := ri.Patch(ctx, c.Name, types.ApplyPatchType, body, opts)
	if len(conflictManagers(err)) > 0 && !forceAll && !dryRun && c.git != nil {
		if fresh, gerr := ri.Get(ctx, c.Name, metav1.GetOptions{}); gerr == nil {
			c.Desired = ignore.Respect(c.ignore, c.git, fresh)
			if body, err = json.Marshal(c.Desired.Object); err != nil {
				return nil, err
			}
			out, err = ri.Patch(ctx, c.Name, types.ApplyPatchType, body, opts)
		}
	}
	if managers := conflictManagers(err); len(managers) > 0 && !forceAll {
		// An adopted object's fields move from its former managers anyway.
		if allHumanDrift(managers) || (c.Adopted && allIn(managers, takenManagers(c.Owner))) {
			force = true
			out, err = ri.Patch(ctx, c.Name, types.ApplyPatchType, body, opts)
		} else {
			return nil, &apiError{fmt.Sprintf("fields are owned by another manager (%s): %v%s", strings.Join(managers, ", "), apiMessage(err), hint(s.opts.Hints.ForceConflicts)), err}
		}
	}
	if err != nil {
		if isImmutable(err) {
			return nil, &apiError{apiMessage(err) + "; the field is immutable: add the sync option Force=true to the object to delete and recreate it" + hint(s.opts.Hints.Replace), err}
		}
		if isNamespaceMissing(err) {
			return nil, &apiError{apiMessage(err) + "; create the namespace, add it to the app, or set the sync option CreateNamespace=true", err}
		}
		return nil, &apiError{apiMessage(err), err}
	}
	return out, nil
}

// dryRunCreateIn judges a create of c's object in namespace ns (its own, or
// an existing one when its own does not exist yet) under a generated name, so
// that neither the live object nor a namesake is merged into the verdict.
func (s *Syncer) dryRunCreateIn(ctx context.Context, c *Change, ns string) error {
	probe := c.Desired.DeepCopy()
	name := probe.GetName()
	if name == "" { // a hook the server names
		name = strings.TrimSuffix(probe.GetGenerateName(), "-")
	}
	if len(name) > 50 {
		name = name[:50]
	}
	probe.SetName("")
	probe.SetGenerateName(name + "-")
	if c.namespaced {
		probe.SetNamespace(ns)
	}
	opts := metav1.CreateOptions{FieldManager: inventory.FieldManager, DryRun: []string{metav1.DryRunAll}, FieldValidation: validation(c)}
	_, err := s.c.Dynamic.Resource(c.gvr).Namespace(probe.GetNamespace()).Create(ctx, probe, opts)
	if err != nil {
		return &apiError{"dry-run create: " + apiMessage(err), err}
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

// allIn says every manager is one of in.
func allIn(managers, in []string) bool {
	for _, m := range managers {
		if !slices.Contains(in, m) {
			return false
		}
	}
	return true
}

// allHumanDrift reports whether every manager is kubectl used by hand, or
// our own manager by another operation (an earlier Replace=true update).
func allHumanDrift(managers []string) bool {
	for _, m := range managers {
		if m != "kubectl" && m != "before-first-apply" && !strings.HasPrefix(m, "kubectl-") {
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

func isNamespaceMissing(err error) bool {
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d != nil && d.Kind == "namespaces"
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
