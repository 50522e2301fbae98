// Package inventory records which objects an app owns, and the app's sync
// history, in the cluster, following the ApplySet standard (KEP-3659), so
// that `kubectl apply --prune --applyset` reads what we wrote and we never
// touch another tool's set.
//
// The parent is a ConfigMap named gitops-<app> in the inventory namespace,
// labelled applyset.kubernetes.io/id and annotated with the tooling, the
// group-kinds its members have and the namespaces they live in. Members carry
// the label applyset.kubernetes.io/part-of=<id> and a tracking annotation
// that names the object itself; an object whose tracking annotation names
// another object (a copy) is never treated as a member.
//
// Nothing is kept on the local disk: status and history are readable from
// any machine with access to the cluster.
package inventory

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

// ApplySet label and annotation keys (KEP-3659), and our tracking key.
const (
	LabelID                     = "applyset.kubernetes.io/id"
	LabelPartOf                 = "applyset.kubernetes.io/part-of"
	AnnotationTooling           = "applyset.kubernetes.io/tooling"
	AnnotationContainsGroupKind = "applyset.kubernetes.io/contains-group-kinds"
	AnnotationAdditionalNS      = "applyset.kubernetes.io/additional-namespaces"
	AnnotationTrackingID        = "gitops.kubectl-gitops.dev/tracking-id"
	LabelApp                    = "gitops.kubectl-gitops.dev/app"
	// AnnotationAutomated "true" on the parent marks the app for
	// automated sync (State.Automated).
	AnnotationAutomated = "gitops.kubectl-gitops.dev/automated"
	// AnnotationHookResources lists where the app's hooks are
	// (State.HookResources): "Kind.group/namespace", comma-separated.
	AnnotationHookResources = "gitops.kubectl-gitops.dev/hook-resources"
	// AnnotationParentNamespaceMembers "false" on the parent says no
	// member is in the parent's own namespace, which the ApplySet
	// annotations cannot say (that namespace is always implied), so
	// finding the members need not list it. Absent, members may be there.
	AnnotationParentNamespaceMembers = "gitops.kubectl-gitops.dev/parent-namespace-members"
)

// Inventory identifies one app's ApplySet.
type Inventory struct {
	// App is the app name.
	App string
	// Namespace holds the parent ConfigMap and the sync lock.
	Namespace string
}

// ParentName is the name of the parent ConfigMap.
func (inv Inventory) ParentName() string { return "gitops-" + inv.App }

// ID is the ApplySet id of the parent: applyset-<base64url(sha256(name.namespace.kind.group))>-v1.
func (inv Inventory) ID() string {
	sum := sha256.Sum256([]byte(inv.ParentName() + "." + inv.Namespace + ".ConfigMap."))
	return "applyset-" + base64.RawURLEncoding.EncodeToString(sum[:]) + "-v1"
}

// Tooling is the value of the tooling annotation.
func Tooling() string { return "kubectl-gitops/" + version.Get().Version }

// TrackingID names obj within the app: <app>:<group>/<kind>:<namespace>/<name>.
func (inv Inventory) TrackingID(obj *unstructured.Unstructured) string {
	gk := obj.GroupVersionKind().GroupKind()
	return fmt.Sprintf("%s:%s/%s:%s/%s", inv.App, gk.Group, gk.Kind, obj.GetNamespace(), obj.GetName())
}

// Mark labels and annotates a desired object as a member.
func (inv Inventory) Mark(obj *unstructured.Unstructured) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelPartOf] = inv.ID()
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationTrackingID] = inv.TrackingID(obj)
	obj.SetAnnotations(ann)
}

// Owns reports whether a live object is a member: it carries this set's
// part-of label and a tracking id that names the object itself.
func (inv Inventory) Owns(live *unstructured.Unstructured) bool {
	return live.GetLabels()[LabelPartOf] == inv.ID() && live.GetAnnotations()[AnnotationTrackingID] == inv.TrackingID(live)
}

// FormatGroupKinds renders group-kinds as the contains-group-kinds
// annotation does: Kind.group (Kind alone for the core group), sorted.
func FormatGroupKinds(gks []schema.GroupKind) string {
	out := make([]string, 0, len(gks))
	for _, gk := range gks {
		if gk.Group == "" {
			out = append(out, gk.Kind)
		} else {
			out = append(out, gk.Kind+"."+gk.Group)
		}
	}
	sort.Strings(out)
	return strings.Join(dedupe(out), ",")
}

// ParseGroupKinds reads the contains-group-kinds annotation.
func ParseGroupKinds(s string) []schema.GroupKind {
	var out []schema.GroupKind
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		out = append(out, schema.ParseGroupKind(item))
	}
	return out
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}
