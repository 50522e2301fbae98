package sync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	gosync "sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

// neverOrphaned are the kinds Argo CD never tracks (its default resource
// exclusions, and Endpoints and EndpointSlices, which their Services'
// controllers make).
var neverOrphaned = map[schema.GroupKind]bool{
	{Kind: "Event"}: true, {Group: "events.k8s.io", Kind: "Event"}: true,
	{Group: "coordination.k8s.io", Kind: "Lease"}: true,
	{Kind: "Endpoints"}:                           true, {Group: "discovery.k8s.io", Kind: "EndpointSlice"}: true,
}

// FindOrphans lists the top-level objects of namespace that no app
// manages, as Argo CD's orphaned resources monitoring finds them: objects
// without an owner that are no member of an ApplySet (of this tool or
// kubectl's), no hook of this tool, no inventory, and not tracked by an Argo
// CD (its tracking-id annotation). Argo CD's exceptions are never orphaned
// (the default ServiceAccount, the kube-root-ca.crt ConfigMap, the kubernetes
// Service of default, a StatefulSet's claims), nor is what ignore says (an AppProject's
// orphanedResources.ignore, and the kinds its namespace resource lists
// deny). Argo CD's excluded groups (metrics.k8s.io, events.k8s.io) are
// not listed. It costs one discovery and one LIST per listable namespaced
// resource. Sorted by kind and name; when discovery failed for some API
// groups, the orphans of the others come with the error.
func (s *Syncer) FindOrphans(ctx context.Context, namespace string, ignore func(gk schema.GroupKind, name string) bool) ([]ObjectID, error) {
	resources, err := s.c.ListableNamespaced()
	if err != nil && len(resources) == 0 {
		return nil, err
	}
	var mu gosync.Mutex
	var out []ObjectID
	var errs []error
	// A StatefulSet's claims (TEMPLATE-SET-N) are its, as gitops-engine
	// infers: their prefixes.
	var claimPrefixes []string
	forEach(resources, s.opts.Concurrency, func(r cluster.ListableResource) {
		gk := schema.GroupKind{Group: r.GVR.Group, Kind: r.Kind}
		if neverOrphaned[gk] || gk.Group == "metrics.k8s.io" || gk.Group == "events.k8s.io" {
			return
		}
		list, err := s.c.Dynamic.Resource(r.GVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s in %q: %w", r.GVR.Resource, namespace, err))
			return
		}
		for _, o := range list.Items {
			if gk == (schema.GroupKind{Group: "apps", Kind: "StatefulSet"}) {
				templates, _, _ := unstructured.NestedSlice(o.Object, "spec", "volumeClaimTemplates")
				for _, t := range templates {
					if tm, ok := t.(map[string]any); ok {
						name, _, _ := unstructured.NestedString(tm, "metadata", "name")
						claimPrefixes = append(claimPrefixes, name+"-"+o.GetName()+"-")
					}
				}
			}
			l, a := o.GetLabels(), o.GetAnnotations()
			switch {
			case len(o.GetOwnerReferences()) > 0,
				l[inventory.LabelPartOf] != "", l[inventory.LabelID] != "", l[LabelHookOf] != "",
				a["argocd.argoproj.io/tracking-id"] != "",
				// A ServiceAccount's token belongs to it.
				gk == (schema.GroupKind{Kind: "Secret"}) && a["kubernetes.io/service-account.name"] != "",
				gk == (schema.GroupKind{Kind: "ServiceAccount"}) && o.GetName() == "default",
				gk == (schema.GroupKind{Kind: "ConfigMap"}) && o.GetName() == "kube-root-ca.crt",
				gk == (schema.GroupKind{Kind: "Service"}) && o.GetName() == "kubernetes" && namespace == "default",
				ignore != nil && ignore(gk, o.GetName()):
				continue
			}
			out = append(out, ObjectID{Group: gk.Group, Version: r.GVR.Version, Kind: gk.Kind, Namespace: namespace, Name: o.GetName()})
		}
	})
	if len(errs) > 0 {
		return nil, errs[0]
	}
	out = slices.DeleteFunc(out, func(id ObjectID) bool {
		if id.Group != "" || id.Kind != "PersistentVolumeClaim" {
			return false
		}
		for _, p := range claimPrefixes {
			if n, ok := strings.CutPrefix(id.Name, p); ok {
				if _, err := strconv.Atoi(n); err == nil {
					return true
				}
			}
		}
		return false
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out, err
}
