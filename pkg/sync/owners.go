package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

// AdoptPolicy says which live objects a sync may take over: objects that
// exist in the cluster and are not yet members of the app.
type AdoptPolicy string

const (
	// AdoptIfUnowned (the default) takes an existing object only when no
	// other tool or app marks it as its own: no ApplySet label of another
	// set, no Argo CD tracking annotation or instance label, no Flux,
	// Helm or kapp label or annotation (see OwnerOf). An object another
	// owner marks is refused, naming the owner: nothing is applied.
	AdoptIfUnowned AdoptPolicy = "if-unowned"
	// AdoptAll also takes objects another owner marks. It removes that
	// owner's tracking markers that are safe to remove (Marker.Remove:
	// another ApplySet's part-of label is replaced by ours; Argo CD's
	// tracking-id annotation and instance label, Flux's and kapp's
	// labels are removed) and never touches Helm's release records (the
	// release Secrets; Helm's annotations stay too, see OwnerOf). The
	// fields the former owner's field managers held move to this tool's
	// manager with the kubectl ones (see takenManagers).
	AdoptAll AdoptPolicy = "all"
)

// ParseAdoptPolicy reads a policy name.
func ParseAdoptPolicy(s string) (AdoptPolicy, error) {
	switch p := AdoptPolicy(s); p {
	case "", AdoptIfUnowned:
		return AdoptIfUnowned, nil
	case AdoptAll:
		return p, nil
	}
	return "", fmt.Errorf("adopt policy %q: want if-unowned or all", s)
}

// Owner is who else marks a live object as its own.
type Owner struct {
	// Tool is applyset (another ApplySet; kubectl-gitops for another app
	// of ours), argocd, flux, helm or kapp; Name the app, release or set.
	Tool string `json:"tool"`
	Name string `json:"name"`
	// Markers are the labels and annotations that say so.
	Markers []Marker `json:"markers"`
}

// Marker is one label or annotation of an owner.
type Marker struct {
	Key string `json:"key"`
	// Label says it is a label (else an annotation).
	Label bool `json:"label,omitempty"`
	// Remove says adopting the object with AdoptAll removes it.
	Remove bool `json:"remove,omitempty"`
}

func (o *Owner) String() string {
	var keys []string
	for _, m := range o.Markers {
		kind := "annotation"
		if m.Label {
			kind = "label"
		}
		keys = append(keys, kind+" "+m.Key)
	}
	return fmt.Sprintf("%s/%s (%s)", o.Tool, o.Name, strings.Join(keys, ", "))
}

// The owners' markers.
const (
	argoTrackingID    = "argocd.argoproj.io/tracking-id"
	argoInstance      = "app.kubernetes.io/instance"
	fluxKustomizeName = "kustomize.toolkit.fluxcd.io/name"
	fluxKustomizeNS   = "kustomize.toolkit.fluxcd.io/namespace"
	fluxHelmName      = "helm.toolkit.fluxcd.io/name"
	fluxHelmNS        = "helm.toolkit.fluxcd.io/namespace"
	helmRelease       = "meta.helm.sh/release-name"
	helmReleaseNS     = "meta.helm.sh/release-namespace"
	managedBy         = "app.kubernetes.io/managed-by"
	kappApp           = "kapp.k14s.io/app"
	kappAssociation   = "kapp.k14s.io/association"
)

// OwnerOf says who else marks live as its own, or nil: the first of
// another ApplySet (its part-of label), Argo CD (its tracking-id
// annotation; the app.kubernetes.io/instance label of its label tracking
// method), Flux (the kustomize- and helm-controller labels), Helm (the
// meta.helm.sh/release-name annotation, or app.kubernetes.io/managed-by:
// Helm) and kapp (kapp.k14s.io/app). A label or annotation that desired
// sets to the same value is Git's, not an owner's marker: charts put
// app.kubernetes.io/instance and managed-by on everything they render.
func OwnerOf(live, desired *unstructured.Unstructured, inv inventory.Inventory) *Owner {
	if inv.Owns(live) {
		return nil
	}
	labels, anns := live.GetLabels(), live.GetAnnotations()
	var wantLabels, wantAnns map[string]string
	if desired != nil {
		wantLabels, wantAnns = desired.GetLabels(), desired.GetAnnotations()
	}
	label := func(k string) string {
		if v := labels[k]; v != "" && wantLabels[k] != v {
			return v
		}
		return ""
	}
	ann := func(k string) string {
		if v := anns[k]; v != "" && wantAnns[k] != v {
			return v
		}
		return ""
	}
	if id := labels[inventory.LabelPartOf]; id != "" && id != inv.ID() {
		o := &Owner{Tool: "applyset", Name: id, Markers: []Marker{{Key: inventory.LabelPartOf, Label: true, Remove: true}}}
		if tid := anns[inventory.AnnotationTrackingID]; tid != "" {
			// Another kubectl-gitops app: its tracking id starts with its name.
			o.Tool, o.Name = "kubectl-gitops", strings.SplitN(tid, ":", 2)[0]
			o.Markers = append(o.Markers, Marker{Key: inventory.AnnotationTrackingID, Remove: true})
		}
		return o
	}
	if tid := ann(argoTrackingID); tid != "" {
		o := &Owner{Tool: "argocd", Name: strings.SplitN(tid, ":", 2)[0], Markers: []Marker{{Key: argoTrackingID, Remove: true}}}
		if label(argoInstance) != "" {
			o.Markers = append(o.Markers, Marker{Key: argoInstance, Label: true, Remove: true})
		}
		return o
	}
	if v := label(fluxKustomizeName); v != "" {
		return &Owner{Tool: "flux", Name: qualified(labels[fluxKustomizeNS], v), Markers: present(labels, wantLabels, true, fluxKustomizeName, fluxKustomizeNS)}
	}
	if v := label(fluxHelmName); v != "" {
		// A Flux HelmRelease is a Helm release too: its annotations stay.
		return &Owner{Tool: "flux", Name: qualified(labels[fluxHelmNS], v), Markers: present(labels, wantLabels, true, fluxHelmName, fluxHelmNS)}
	}
	if v := ann(helmRelease); v != "" {
		o := &Owner{Tool: "helm", Name: qualified(anns[helmReleaseNS], v), Markers: []Marker{{Key: helmRelease}}}
		if anns[helmReleaseNS] != "" {
			o.Markers = append(o.Markers, Marker{Key: helmReleaseNS})
		}
		if label(managedBy) == "Helm" {
			o.Markers = append(o.Markers, Marker{Key: managedBy, Label: true})
		}
		return o
	}
	if label(managedBy) == "Helm" {
		return &Owner{Tool: "helm", Name: "(release unknown)", Markers: []Marker{{Key: managedBy, Label: true}}}
	}
	if v := label(kappApp); v != "" {
		return &Owner{Tool: "kapp", Name: v, Markers: present(labels, wantLabels, true, kappApp, kappAssociation)}
	}
	if v := label(argoInstance); v != "" {
		// Argo CD's older label tracking method: the label is the app name.
		return &Owner{Tool: "argocd", Name: v, Markers: []Marker{{Key: argoInstance, Label: true, Remove: true}}}
	}
	return nil
}

func qualified(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// present are the labels of keys that m has and desired does not set
// alike, as removable markers.
func present(m, desired map[string]string, remove bool, keys ...string) []Marker {
	var out []Marker
	for _, k := range keys {
		if v := m[k]; v != "" && desired[k] != v {
			out = append(out, Marker{Key: k, Label: true, Remove: remove})
		}
	}
	return out
}

// removable are the markers adopting with AdoptAll removes, sorted.
func (o *Owner) removable() []Marker {
	var out []Marker
	for _, m := range o.Markers {
		// Our own part-of label replaces another set's: nothing to remove.
		if m.Remove && m.Key != inventory.LabelPartOf && m.Key != inventory.AnnotationTrackingID {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// takenManagers are the field managers whose fields an adopted object's
// fields move from to this tool's manager: kubectl's (client-side apply,
// create, edit, patch, replace, set, label, annotate, scale and its
// server-side apply), and those of the owner taken over. Controllers'
// managers (the HPA's replicas, the deployment controller's revision
// annotation) are never taken.
func takenManagers(o *Owner) []string {
	out := []string{"kubectl", "kubectl-client-side-apply", "kubectl-create", "kubectl-edit", "kubectl-patch",
		"kubectl-replace", "kubectl-set", "kubectl-label", "kubectl-annotate", "kubectl-scale", "before-first-apply"}
	if o == nil {
		return out
	}
	switch o.Tool {
	case "argocd":
		out = append(out, "argocd-controller", "argocd-application-controller")
	case "flux":
		out = append(out, "kustomize-controller", "helm-controller")
	case "helm":
		out = append(out, "helm")
	case "kapp":
		out = append(out, "kapp")
	}
	return out
}

// checkOwners marks the changes whose object exists and is not a member
// yet as adopted, with their owner and the fields moving to this tool, and
// refuses, with one error naming each, those another owner marks when the
// policy does not take them.
func (s *Syncer) checkOwners(r *run, inv inventory.Inventory, changes []*Change) error {
	var errs []error
	for _, c := range changes {
		if c.Live == nil {
			continue
		}
		if inv.Owns(c.Live) {
			// A member an earlier adoption did not finish (its last write
			// failed): taken over again when it is applied.
			s.unfinished(inv, c)
			continue
		}
		c.Adopted = true
		c.Owner = OwnerOf(c.Live, c.Desired, inv)
		c.TakenFields = takenFields(c.Live, takenManagers(c.Owner))
		if c.Owner != nil && s.opts.Adopt != AdoptAll {
			c.Error = r.red.String("owned by " + c.Owner.String())
			errs = append(errs, fmt.Errorf("%s: owned by %s", c.Ref(), c.Owner))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return fmt.Errorf("%d object(s) belong to another tool or app, nothing was applied (to take them, remove the owner's markers, or take them with kubectl gitops adopt --policy=all --force)%s:\n  %w", len(errs), hint(s.opts.Hints.Adopt), indented(errs))
}

// unfinished marks a member whose adoption was not finished as adopted
// again: it still has client-side apply's record or fields of kubectl's
// create or client-side apply, or (with AdoptAll) another owner's
// removable markers.
func (s *Syncer) unfinished(inv inventory.Inventory, c *Change) {
	live := c.Live.DeepCopy()
	labels, anns := live.GetLabels(), live.GetAnnotations()
	delete(labels, inventory.LabelPartOf)
	delete(anns, inventory.AnnotationTrackingID)
	live.SetLabels(labels)
	live.SetAnnotations(anns)
	if o := OwnerOf(live, c.Desired, inv); o != nil && s.opts.Adopt == AdoptAll && len(o.removable()) > 0 {
		c.Adopted, c.Owner = true, o
	}
	if _, want := c.Desired.GetAnnotations()[lastApplied]; anns[lastApplied] != "" && !want {
		c.Adopted = true
	}
	for _, e := range c.Live.GetManagedFields() {
		if e.Subresource == "" && e.Operation == metav1.ManagedFieldsOperationUpdate && (e.Manager == "kubectl-client-side-apply" || e.Manager == "kubectl-create") {
			c.Adopted = true
		}
	}
	if c.Adopted {
		c.TakenFields = takenFields(c.Live, takenManagers(c.Owner))
	}
}

// takenFields are the fields of live that the managers named own (main
// resource, any operation), by manager, as paths.
func takenFields(live *unstructured.Unstructured, managers []string) map[string][]string {
	out := map[string][]string{}
	for _, e := range live.GetManagedFields() {
		if e.Subresource != "" || e.FieldsV1 == nil || !slices.Contains(managers, e.Manager) {
			continue
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			continue
		}
		set.Leaves().Iterate(func(p fieldpath.Path) { out[e.Manager] = append(out[e.Manager], p.String()) })
		sort.Strings(out[e.Manager])
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// lastApplied is client-side apply's record of what it applied.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// takeOver finishes adopting c once its desired state is applied: the
// former owner's removable markers (AdoptAll) and client-side apply's
// record go, and the fields of kubectl's managers and the former owner's
// move to this tool's (client-go's csaupgrade, the mechanism of kubectl's
// own migration to server-side apply), so that a field later removed from
// Git is removed from the object. The write (one JSON patch, guarded by
// the resourceVersion) changes nothing but metadata: no rollout.
func (s *Syncer) takeOver(ctx context.Context, c *Change) error {
	ri := s.c.Dynamic.Resource(c.gvr).Namespace(c.Namespace)
	cur := c.current
	// A controller may write the object between the apply and this patch
	// (a Deployment's status): read it again and retry, a few times.
	for attempt := 0; ; attempt++ {
		body, err := s.takeOverPatch(c, cur)
		if err != nil || body == nil {
			return err
		}
		out, err := ri.Patch(ctx, c.Name, types.JSONPatchType, body, metav1.PatchOptions{FieldManager: inventory.FieldManager})
		if err == nil {
			c.current = out
			return nil
		}
		if attempt < 4 && (apierrors.IsConflict(err) || apierrors.IsInvalid(err)) {
			if cur, err = ri.Get(ctx, c.Name, metav1.GetOptions{}); err == nil {
				continue
			}
		}
		return &apiError{"adopt: remove the former owner's markers and move field ownership to " + inventory.FieldManager + ": " + apiMessage(err), err}
	}
}

// takeOverPatch is the JSON patch that finishes adopting c from cur, nil
// when there is nothing to do.
func (s *Syncer) takeOverPatch(c *Change, cur *unstructured.Unstructured) ([]byte, error) {
	var ops []map[string]any
	remove := func(m Marker) {
		where, set, want := "annotations", cur.GetAnnotations(), c.Desired.GetAnnotations()
		if m.Label {
			where, set, want = "labels", cur.GetLabels(), c.Desired.GetLabels()
		}
		if _, desired := want[m.Key]; desired {
			return // Git sets it (to its own value, applied just now)
		}
		if _, ok := set[m.Key]; ok {
			ops = append(ops, map[string]any{"op": "remove", "path": "/metadata/" + where + "/" + jsonPointerEscape(m.Key)})
		}
	}
	if c.Owner != nil && s.opts.Adopt == AdoptAll {
		for _, m := range c.Owner.removable() {
			remove(m)
		}
	}
	remove(Marker{Key: lastApplied})
	// csaupgrade merges Update entries; the former owner's Apply entries
	// (Argo CD's and Flux's server-side apply) are merged alike.
	taken := takenManagers(c.Owner)
	obj := cur.DeepCopy()
	fields := obj.GetManagedFields()
	for i := range fields {
		if slices.Contains(taken, fields[i].Manager) && fields[i].Subresource == "" {
			fields[i].Operation = metav1.ManagedFieldsOperationUpdate
		}
	}
	obj.SetManagedFields(fields)
	if err := csaupgrade.UpgradeManagedFields(obj, sets.New(taken...), inventory.FieldManager); err != nil {
		return nil, fmt.Errorf("adopt: move field ownership: %w", err)
	}
	if upgraded := obj.GetManagedFields(); !equality.Semantic.DeepEqual(upgraded, cur.GetManagedFields()) {
		ops = append(ops, map[string]any{"op": "replace", "path": "/metadata/managedFields", "value": upgraded})
	}
	if len(ops) == 0 {
		return nil, nil
	}
	// One write, only if nobody wrote the object since it was read.
	ops = append([]map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": cur.GetResourceVersion()}}, ops...)
	return json.Marshal(ops)
}

// jsonPointerEscape escapes a key for a JSON pointer (RFC 6901).
func jsonPointerEscape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
