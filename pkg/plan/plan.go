package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// KindOrder is the apply order of kinds within one phase and wave, as Argo CD
// has it. Kinds not listed come after all of these.
var KindOrder = []string{
	"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
	"PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
	"StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
	"ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList",
	"Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
	"StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
}

var kindRank = func() map[string]int {
	m := make(map[string]int, len(KindOrder))
	for i, k := range KindOrder {
		m[k] = i - len(KindOrder) // listed kinds are negative; unlisted ones rank 0, last
	}
	return m
}()

// KindRank orders kinds as KindOrder does: listed kinds rank below zero in
// their order, every other kind ranks 0, after all of them.
func KindRank(kind string) int { return kindRank[kind] }

// Item is one object to apply, with where it runs and its options.
type Item struct {
	Object  *unstructured.Unstructured
	Phase   Phase
	Wave    int
	Options SyncOptions
	// Hook is set for a hook: it is created in Phase, not applied, and is
	// not a member of the app. A hook of several phases has one item per
	// phase, all with the same Object.
	Hook *Hook
}

// Ref names the item's object (Kind/namespace/name).
func (it *Item) Ref() string { return Ref(it.Object) }

// Wave is a group of items applied together; the next wave starts once all
// of them are healthy.
type Wave struct {
	Phase Phase
	Wave  int
	Items []*Item
}

// Plan is the ordered sync of one app.
type Plan struct {
	Waves []Wave
	// Skipped are objects annotated with the Skip hook.
	Skipped []*unstructured.Unstructured
	// NotRun are hooks a sync never runs (PreDelete, PostDelete, Helm's
	// test and rollback hooks), with Hook.NotRun saying why.
	NotRun []*Item
}

// New orders objects for a sync. app holds the app-wide sync options; each
// object's annotation adds to them. Every problem is reported, joined, each
// naming its object.
func New(objects []*unstructured.Unstructured, app SyncOptions) (*Plan, error) {
	p := &Plan{}
	var items []*Item
	var errs []error
	for _, obj := range objects {
		hook, skip, err := HookOf(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if skip {
			p.Skipped = append(p.Skipped, obj)
			continue
		}
		wave, err := waveOf(obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		opts, err := app.Apply(obj.GetAnnotations()[AnnotationSyncOptions])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: annotation %s: %w", Ref(obj), AnnotationSyncOptions, err))
			continue
		}
		switch {
		case hook == nil:
			items = append(items, &Item{Object: obj, Phase: PhaseSync, Wave: wave, Options: opts})
		case len(hook.Phases) == 0:
			p.NotRun = append(p.NotRun, &Item{Object: obj, Wave: wave, Options: opts, Hook: hook})
		default:
			for _, phase := range hook.Phases {
				items = append(items, &Item{Object: obj, Phase: phase, Wave: wave, Options: opts, Hook: hook})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	sort.SliceStable(items, func(i, j int) bool { return less(items[i], items[j]) })
	// Namespaces before the objects in them.
	bubble(items, func(o *unstructured.Unstructured) (string, bool) {
		return o.GetName(), o.GetKind() == "Namespace" && groupOf(o) == ""
	}, func(o *unstructured.Unstructured) (string, bool) {
		return o.GetNamespace(), o.GetNamespace() != ""
	})
	// CustomResourceDefinitions before their custom resources.
	bubble(items, crdKey, func(o *unstructured.Unstructured) (string, bool) {
		return groupOf(o) + "/" + o.GetKind(), true
	})

	for _, it := range items {
		if n := len(p.Waves); n == 0 || p.Waves[n-1].Phase != it.Phase || p.Waves[n-1].Wave != it.Wave {
			p.Waves = append(p.Waves, Wave{Phase: it.Phase, Wave: it.Wave})
		}
		w := &p.Waves[len(p.Waves)-1]
		w.Items = append(w.Items, it)
	}
	return p, nil
}

func less(a, b *Item) bool {
	if d := phaseOrder[a.Phase] - phaseOrder[b.Phase]; d != 0 {
		return d < 0
	}
	if a.Wave != b.Wave {
		return a.Wave < b.Wave
	}
	if (a.Hook == nil) != (b.Hook == nil) {
		return a.Hook == nil // a wave's hooks after its resources
	}
	if d := KindRank(a.Object.GetKind()) - KindRank(b.Object.GetKind()); d != 0 {
		return d < 0
	}
	return a.Object.GetName() < b.Object.GetName()
}

// bubble moves each dependency (isDep) ahead of the first item that refers
// to it (refs), giving it that item's phase and wave. A dependency already
// ahead of its users stays where it is. SyncFail hooks are no users: they
// run only on failure, and what they need must not wait for one.
func bubble(items []*Item, isDep, refs func(*unstructured.Unstructured) (string, bool)) {
	firstUser := map[string]int{}
	for i, it := range items {
		if it.Phase == PhaseSyncFail {
			continue
		}
		if key, ok := isDep(it.Object); ok && it.Hook == nil {
			at, used := firstUser[key]
			if !used {
				continue
			}
			it.Phase, it.Wave = items[at].Phase, items[at].Wave
			copy(items[at+1:i+1], items[at:i])
			items[at] = it
			for k, idx := range firstUser {
				if idx >= at {
					firstUser[k] = idx + 1
				}
			}
		} else if key, ok := refs(it.Object); ok {
			if _, seen := firstUser[key]; !seen {
				firstUser[key] = i
			}
		}
	}
}

func groupOf(o *unstructured.Unstructured) string { return o.GroupVersionKind().Group }

func crdKey(o *unstructured.Unstructured) (string, bool) {
	if o.GetKind() != "CustomResourceDefinition" || groupOf(o) != "apiextensions.k8s.io" {
		return "", false
	}
	group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
	if group == "" || kind == "" {
		return "", false
	}
	return group + "/" + kind, true
}

// String lists the plan, one wave a line followed by its objects, for
// --dry-run output and tests.
func (p *Plan) String() string {
	var b strings.Builder
	for _, w := range p.Waves {
		fmt.Fprintf(&b, "%s wave %d\n", w.Phase, w.Wave)
		for _, it := range w.Items {
			if it.Hook != nil {
				fmt.Fprintf(&b, "  %s (hook)\n", it.Ref())
			} else {
				fmt.Fprintf(&b, "  %s\n", it.Ref())
			}
		}
	}
	for _, o := range p.Skipped {
		fmt.Fprintf(&b, "skipped %s\n", Ref(o))
	}
	for _, it := range p.NotRun {
		fmt.Fprintf(&b, "not run %s\n", it.Ref())
	}
	return b.String()
}
