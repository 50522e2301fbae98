package sync

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

// prunable is a member that is no longer rendered.
type prunable struct {
	live   *unstructured.Unstructured
	gvr    schema.GroupVersionResource
	opts   plan.SyncOptions
	wave   int
	result ObjectResult
}

// findPrunable lists the members of the inventory that the render no
// longer has: one LIST per recorded group-kind and namespace, by the
// ApplySet label, keeping only objects whose tracking id names themselves.
func (s *Syncer) findPrunable(ctx context.Context, inv inventory.Inventory, state *inventory.State, targets []*target) ([]prunable, error) {
	desired := map[string]bool{}
	gks := append([]schema.GroupKind{}, state.GroupKinds...)
	namespaces := append([]string{inv.Namespace}, state.Namespaces...)
	for _, t := range targets {
		o := t.item.Object
		desired[o.GroupVersionKind().GroupKind().String()+"/"+o.GetNamespace()+"/"+o.GetName()] = true
		gks = append(gks, o.GroupVersionKind().GroupKind())
		if o.GetNamespace() != "" {
			namespaces = append(namespaces, o.GetNamespace())
		}
	}
	appOpts, _ := plan.SyncOptions{}.Apply(s.opts.SyncOptions...)
	selector := inventory.LabelPartOf + "=" + inv.ID()
	var out []prunable
	for _, gk := range uniqueGKs(gks) {
		m, err := s.c.Mapper.RESTMapping(gk)
		if meta.IsNoMatchError(err) {
			continue // the kind is gone from the cluster, and its objects with it
		}
		if err != nil {
			return nil, fmt.Errorf("prune: map %s: %w", gk, err)
		}
		scopes := []string{""}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			scopes = uniqueStrings(namespaces)
		}
		for _, ns := range scopes {
			list, err := s.c.Dynamic.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				return nil, fmt.Errorf("prune: list %s in %q: %w", m.Resource.Resource, ns, err)
			}
			for i := range list.Items {
				live := &list.Items[i]
				key := gk.String() + "/" + live.GetNamespace() + "/" + live.GetName()
				if desired[key] || !inv.Owns(live) || live.GetDeletionTimestamp() != nil {
					continue
				}
				opts, err := appOpts.Apply(live.GetAnnotations()[plan.AnnotationSyncOptions])
				if err != nil {
					opts = appOpts
				}
				wave, _ := strconv.Atoi(strings.TrimSpace(live.GetAnnotations()[plan.AnnotationSyncWave]))
				gvk := live.GroupVersionKind()
				p := prunable{live: live, gvr: m.Resource, opts: opts, wave: wave, result: ObjectResult{
					Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: live.GetNamespace(), Name: live.GetName(), Wave: wave, Action: Pruned,
				}}
				switch {
				case opts.NoPrune:
					p.result.Action, p.result.Message = Skipped, "Prune=false: kept although it left Git"
				case !s.opts.Prune:
					p.result.Action, p.result.Message = Orphaned, "left Git; not pruned (--prune=false)"
				}
				out = append(out, p)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return pruneBefore(out[i], out[j]) })
	return out, nil
}

// pruneBefore orders deletions: PruneLast objects at the very end, then
// reverse wave order, reverse kind order, and name.
func pruneBefore(a, b prunable) bool {
	if a.opts.PruneLast != b.opts.PruneLast {
		return !a.opts.PruneLast
	}
	if a.wave != b.wave {
		return a.wave > b.wave
	}
	ka, kb := plan.KindRank(a.live.GetKind()), plan.KindRank(b.live.GetKind())
	if ka != kb {
		return ka > kb
	}
	return a.live.GetName() < b.live.GetName()
}

// prune deletes the prunable members in order, and returns every member
// that left Git with what happened to it.
func (s *Syncer) prune(ctx context.Context, inv inventory.Inventory, state *inventory.State, targets []*target) ([]prunable, error) {
	candidates, err := s.findPrunable(ctx, inv, state, targets)
	if err != nil {
		return nil, err
	}
	if len(candidates) > 0 {
		s.emit(Event{Type: EventPruneStarted})
	}
	for i := range candidates {
		p := &candidates[i]
		if p.result.Action != Pruned {
			s.emit(Event{Type: EventObjectPruned, Object: snapshot(&p.result)})
			continue
		}
		policy := metav1.DeletePropagationForeground
		switch p.opts.PropagationPolicy {
		case plan.PropagationBackground:
			policy = metav1.DeletePropagationBackground
		case plan.PropagationOrphan:
			policy = metav1.DeletePropagationOrphan
		}
		uid := p.live.GetUID()
		err := s.c.Dynamic.Resource(p.gvr).Namespace(p.live.GetNamespace()).Delete(ctx, p.live.GetName(), metav1.DeleteOptions{
			PropagationPolicy: &policy,
			Preconditions:     &metav1.Preconditions{UID: &uid}, // the very object we listed
		})
		if err != nil && !apierrors.IsNotFound(err) {
			p.result.Action, p.result.Message = Failed, "prune: "+apiMessage(err)
			s.emit(Event{Type: EventObjectPruned, Object: snapshot(&p.result)})
			return candidates, fmt.Errorf("%s: prune failed: %s", p.result.Ref(), apiMessage(err))
		}
		s.emit(Event{Type: EventObjectPruned, Object: snapshot(&p.result)})
	}
	return candidates, nil
}

func keptGroupKinds(ps []prunable) []schema.GroupKind {
	var out []schema.GroupKind
	for _, p := range ps {
		if p.result.Action != Pruned {
			out = append(out, p.live.GroupVersionKind().GroupKind())
		}
	}
	return out
}

func keptNamespaces(ps []prunable) []string {
	var out []string
	for _, p := range ps {
		if p.result.Action != Pruned && p.live.GetNamespace() != "" {
			out = append(out, p.live.GetNamespace())
		}
	}
	return out
}
