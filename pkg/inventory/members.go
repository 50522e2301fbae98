package inventory

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
)

// Member is a live object of the set, with its resource.
type Member struct {
	Object   *unstructured.Unstructured
	Resource schema.GroupVersionResource
	// Deleting says the object is being deleted (a finalizer or foreground
	// deletion holds it): not to prune again, but still a member until gone.
	Deleting bool
}

// Listed returns the objects of a resource in a namespace ("" for cluster
// scope) when the caller has already listed them (unfiltered), so members are
// found without another request; ok is false when it has not.
type Listed func(gvr schema.GroupVersionResource, namespace string) (objs []*unstructured.Unstructured, ok bool)

// ListMembers returns the live members of inv among gks, in namespaces
// (namespaced kinds) or cluster-wide: one LIST per group-kind and namespace,
// by the part-of label, unless listed already has them. Only objects the set
// Owns are returned (a copy whose tracking id names another object is not);
// those being deleted are flagged. A kind the cluster no longer serves has no
// members; one whose discovery failed is an error (its members are unknown,
// not gone). The result is sorted by group-kind, namespace and name.
func ListMembers(ctx context.Context, c *cluster.Client, inv Inventory, gks []schema.GroupKind, namespaces []string, listed Listed) ([]Member, error) {
	selector := LabelPartOf + "=" + inv.ID()
	var out []Member
	for _, gk := range SortedGroupKinds(gks) {
		m, err := c.Mapping(gk)
		if meta.IsNoMatchError(err) {
			continue // the kind is gone from the cluster, and its objects with it
		}
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", gk, err)
		}
		scopes := []string{""}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			scopes = SortedNamespaces(namespaces)
		}
		for _, ns := range scopes {
			objs, ok := []*unstructured.Unstructured(nil), false
			if listed != nil {
				objs, ok = listed(m.Resource, ns)
			}
			if !ok {
				list, err := c.Dynamic.Resource(m.Resource).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
				if err != nil {
					return nil, fmt.Errorf("list %s in %q: %w", m.Resource.Resource, ns, err)
				}
				objs = make([]*unstructured.Unstructured, len(list.Items))
				for i := range list.Items {
					objs[i] = &list.Items[i]
				}
			}
			for _, o := range objs {
				if o.GroupVersionKind().GroupKind() != gk || !inv.Owns(o) {
					continue
				}
				out = append(out, Member{Object: o, Resource: m.Resource, Deleting: o.GetDeletionTimestamp() != nil})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Object, out[j].Object
		if ga, gb := a.GroupVersionKind().GroupKind().String(), b.GroupVersionKind().GroupKind().String(); ga != gb {
			return ga < gb
		}
		if a.GetNamespace() != b.GetNamespace() {
			return a.GetNamespace() < b.GetNamespace()
		}
		return a.GetName() < b.GetName()
	})
	return out, nil
}

// SortedGroupKinds returns the distinct group-kinds of in, sorted.
func SortedGroupKinds(in []schema.GroupKind) []schema.GroupKind {
	seen := map[schema.GroupKind]bool{}
	var out []schema.GroupKind
	for _, gk := range in {
		if !seen[gk] {
			seen[gk] = true
			out = append(out, gk)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// SortedNamespaces returns the distinct non-empty names of in, sorted.
func SortedNamespaces(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
