package sync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// resolve maps every object to its resource, fills in the destination
// namespace, and orders the set. Custom resources whose definition is in the
// set but not served yet take their scope from that definition.
func (s *Syncer) resolve(objs []*unstructured.Unstructured, appOpts plan.SyncOptions) ([]*target, *plan.Plan, error) {
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

	type mapping struct {
		gvr                schema.GroupVersionResource
		namespaced, served bool
	}
	maps := map[*unstructured.Unstructured]mapping{}
	seen := sets.New[string]()
	var errs []error
	for _, o := range objs {
		if enc, recipients := sops.ObjectEncrypted(o.Object); enc {
			why := "it holds ENC[...] values"
			if len(recipients) > 0 {
				why = "for age recipients " + strings.Join(recipients, ", ") + "; no key given opened it"
			}
			errs = append(errs, fmt.Errorf("%s: still SOPS-encrypted (%s); give the age key with --age-key-file, --age-key-secret NAMESPACE/NAME, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY", plan.Ref(o), why))
			continue
		}
		gvk := o.GroupVersionKind()
		gvr, namespaced, err := s.c.Resource(gvk)
		served := true
		var notServed *cluster.NotServedError
		if errors.As(err, &notServed) {
			if ns, ok := crdScope[gvk.GroupKind()]; ok {
				gvr = gvk.GroupVersion().WithResource(crdPlural[gvk.GroupKind()])
				namespaced, served, err = ns, false, nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", plan.Ref(o), err))
			continue
		}
		switch {
		case namespaced && o.GetNamespace() == "" && s.opts.DestNamespace != "":
			o.SetNamespace(s.opts.DestNamespace)
		case namespaced && o.GetNamespace() == "":
			errs = append(errs, fmt.Errorf("%s: namespaced object without a namespace; set metadata.namespace (or namespace: in the kustomization), or pass --dest-namespace", plan.Ref(o)))
			continue
		case !namespaced && o.GetNamespace() != "":
			o.SetNamespace("") // as the API server would ignore it
		}
		if o.GetName() == "" {
			errs = append(errs, fmt.Errorf("%s: metadata.name is required (generateName is not supported for synced objects)", plan.Ref(o)))
			continue
		}
		key := gvk.GroupKind().String() + "/" + o.GetNamespace() + "/" + o.GetName()
		if seen.Has(key) {
			errs = append(errs, fmt.Errorf("%s: rendered twice; each object must appear once", plan.Ref(o)))
			continue
		}
		seen.Insert(key)
		maps[o] = mapping{gvr: gvr, namespaced: namespaced, served: served}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	p, err := plan.New(objs, appOpts)
	if err != nil {
		return nil, nil, err
	}
	var targets []*target
	for _, w := range p.Waves {
		for _, it := range w.Items {
			m := maps[it.Object]
			gvk := it.Object.GroupVersionKind()
			targets = append(targets, &target{
				item: it, gvr: m.gvr, namespaced: m.namespaced, served: m.served,
				result: &ObjectResult{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: it.Object.GetNamespace(),
					Name: it.Object.GetName(), Phase: it.Phase, Wave: it.Wave, Action: Pending},
			})
		}
	}
	return targets, p, nil
}

// fetchLive reads the live state of every target with one LIST per
// resource and namespace, so reads grow with kinds and namespaces, not with
// objects.
func (s *Syncer) fetchLive(ctx context.Context, targets []*target) error {
	for k, ts := range byResource(targets) {
		list, err := s.c.Dynamic.Resource(k.gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list %s in %q: %w", k.gvr.Resource, k.ns, err)
		}
		byName := make(map[string]*unstructured.Unstructured, len(list.Items))
		for i := range list.Items {
			byName[list.Items[i].GetName()] = &list.Items[i]
		}
		for _, t := range ts {
			t.live = byName[t.item.Object.GetName()]
		}
	}
	return nil
}

// resourceKey is a resource in one namespace ("" for cluster scope): what one
// LIST reads.
type resourceKey struct {
	gvr schema.GroupVersionResource
	ns  string
}

// byResource groups served targets by resource and namespace.
func byResource(targets []*target) map[resourceKey][]*target {
	groups := map[resourceKey][]*target{}
	for _, t := range targets {
		if t.served {
			k := resourceKey{t.gvr, t.item.Object.GetNamespace()}
			groups[k] = append(groups[k], t)
		}
	}
	return groups
}
