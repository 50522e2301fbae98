package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// FieldManager is the server-side apply field manager of everything we write.
const FieldManager = "kubectl-gitops"

var configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// HookRun is one hook of a sync: its object (Name as the server named it;
// "prefix*" when it was never created), phase, status (Running,
// Succeeded, Failed; empty when it did not run), the action taken and
// whether its delete policy removed it afterwards.
type HookRun struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	Status    string `json:"status,omitempty"`
	Action    string `json:"action"`
	Message   string `json:"message,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
}

// ChildApp is a child Application of an app of apps: its name, the
// kubeconfig context it went to, and whether removing it from Git prunes
// its resources (Argo CD's resources finalizer).
type ChildApp struct {
	Name string `json:"name"`
	// Context is the kubeconfig context (or registered cluster) of its
	// destination, and Server that cluster's URL: another machine, whose
	// contexts are named otherwise, finds the cluster by it.
	Context   string `json:"context,omitempty"`
	Server    string `json:"server,omitempty"`
	Finalizer bool   `json:"finalizer,omitempty"`
	// Leaving says the child left the parent's render and is being
	// pruned: it stays in the record until its prune is done, so a prune
	// that failed is tried again by the next sync.
	Leaving bool `json:"leaving,omitempty"`
}

// Record is one sync in the history.
type Record struct {
	// ID counts syncs of the app, from 1.
	ID int `json:"id"`
	// Repo, Path and Revision say what was synced; Commit is the SHA.
	// Repo is an absolute path for a local repository, else a URL without
	// credentials; Origin is a local repository's origin remote, if any.
	Repo     string `json:"repo"`
	Origin   string `json:"origin,omitempty"`
	Path     string `json:"path"`
	Revision string `json:"revision"`
	Commit   string `json:"commit"`
	// Author ("Name <email>") and Subject (the first line of the message)
	// describe the commit; records written before they existed lack them.
	Author  string `json:"author,omitempty"`
	Subject string `json:"subject,omitempty"`
	// Rollback says the sync was a rollback to the commit of history
	// entry RollbackOf.
	Rollback   bool `json:"rollback,omitempty"`
	RollbackOf int  `json:"rollbackOf,omitempty"`
	// DestNamespace, SyncOptions and Prune are the app's options for this
	// sync, so that a rollback or status needs only the cluster and the repo.
	DestNamespace string   `json:"destNamespace,omitempty"`
	SyncOptions   []string `json:"syncOptions,omitempty"`
	Prune         bool     `json:"prune"`
	// IgnoreDifferences are the app's ignoreDifferences rules, so that
	// status, diff and rollback compare as the sync did.
	IgnoreDifferences []ignore.Rule `json:"ignoreDifferences,omitempty"`
	// StartedAt and FinishedAt bound the sync.
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Phase is Succeeded or Failed; Message says why it failed.
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
	// Interrupted says the sync failed because its caller stopped it (a
	// signal, an agent shutting down or losing its shard), not because of
	// what it applied: an automated sync attempts the commit again.
	Interrupted bool `json:"interrupted,omitempty"`
	// Adoption says the sync adopted the objects that existed (kubectl
	// gitops adopt), creating and pruning nothing: no attempt of the
	// commit as a whole.
	Adoption bool `json:"adoption,omitempty"`
	// Counts are the number of objects per action (created, configured,
	// unchanged, pruned, ...).
	Counts map[string]int `json:"counts,omitempty"`
	// NoOp says the sync succeeded and changed nothing. Repeats counts the
	// later no-op syncs of the same commit folded into this record
	// (FinishedAt is the last one's).
	NoOp    bool `json:"noop,omitempty"`
	Repeats int  `json:"repeats,omitempty"`
	// Hooks are the sync's hooks and how each run went.
	Hooks []HookRun `json:"hooks,omitempty"`
	// Children are the child apps of an app of apps at this sync: the
	// Applications its render held.
	Children []ChildApp `json:"children,omitempty"`
	// Directory and Kustomize are how the path was rendered (an Argo CD
	// Application's spec.source.directory and spec.source.kustomize), and
	// NamespaceMetadata its managedNamespaceMetadata, so that status, diff
	// and rollback by the app's name render and compare as the sync did.
	Directory         *render.Directory  `json:"directory,omitempty"`
	Kustomize         *render.Kustomize  `json:"kustomize,omitempty"`
	NamespaceMetadata *NamespaceMetadata `json:"namespaceMetadata,omitempty"`
}

// NamespaceMetadata are the labels and annotations of a namespace.
type NamespaceMetadata struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// AppendHistory adds r to history (newest last) and keeps the last limit
// records that changed something (limit <= 0 keeps all), plus the newest
// no-op record when it is the newest of all. A no-op sync of the same
// source and commit as the no-op record before it is folded into that
// record. No-op syncs are thus recorded, and never push a real change out.
// A rollback counts as a change even when it changed nothing: history
// always shows it.
func AppendHistory(history []Record, r Record, limit int) []Record {
	passing := func(rec Record) bool { return rec.NoOp && !rec.Rollback }
	out := append([]Record(nil), history...)
	r.ID = 1
	if n := len(out); n > 0 {
		r.ID = out[n-1].ID + 1
	}
	if n := len(out); n > 0 && passing(out[n-1]) {
		last := &out[n-1]
		if passing(r) && sameSource(*last, r) {
			last.Repeats++
			last.FinishedAt = r.FinishedAt
			return out
		}
		out = out[:n-1] // superseded by r
	}
	out = append(out, r)
	real := 0
	for _, rec := range out {
		if !passing(rec) {
			real++
		}
	}
	for limit > 0 && real > limit {
		for i := range out {
			if !passing(out[i]) {
				out = append(out[:i], out[i+1:]...)
				real--
				break
			}
		}
	}
	return out
}

// sameSource reports whether two records synced the same thing the same way.
func sameSource(a, b Record) bool {
	return a.Repo == b.Repo && a.Origin == b.Origin && a.Path == b.Path && a.Revision == b.Revision && a.Commit == b.Commit &&
		a.DestNamespace == b.DestNamespace && a.Prune == b.Prune && slices.Equal(a.SyncOptions, b.SyncOptions) &&
		sameRules(a.IgnoreDifferences, b.IgnoreDifferences) && slices.Equal(a.Children, b.Children) &&
		a.Rollback == b.Rollback && a.RollbackOf == b.RollbackOf
}

// sameRules compares rules by what they say (not by their compiled form).
func sameRules(a, b []ignore.Rule) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// State is what the parent holds.
type State struct {
	// GroupKinds and Namespaces bound where members can be found.
	GroupKinds []schema.GroupKind
	Namespaces []string
	// History is newest last.
	History []Record
	// Automated says the app is marked for automated sync (the parent's
	// AnnotationAutomated is "true"): a sync that is not automated, such as
	// a rollback, would be undone by the next automated one. Save keeps
	// the mark as it is in the State.
	Automated bool
	// HookResources are the kinds and namespaces the app's hooks are
	// created in, written before any is created: a sync that died while
	// hooks ran left their finalizers there, and the next sync finds them
	// even when the hooks have left Git.
	HookResources []HookResource
	// Exists says the parent was found.
	Exists bool
	// ResourceVersion is the parent's, as read: a later read with another
	// one means another sync wrote in between.
	ResourceVersion string
}

// HookResource is a kind in a namespace ("" for cluster scope) where hooks
// of the app are created.
type HookResource struct {
	GroupKind schema.GroupKind
	Namespace string
}

// FormatHookResources renders hook resources as the annotation holds them,
// sorted: "Job.batch/shop,Pod/shop".
func FormatHookResources(rs []HookResource) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, FormatGroupKinds([]schema.GroupKind{r.GroupKind})+"/"+r.Namespace)
	}
	sort.Strings(parts)
	return strings.Join(dedupe(parts), ",")
}

// ParseHookResources reads the annotation; entries it cannot read are
// dropped.
func ParseHookResources(v string) []HookResource {
	var out []HookResource
	for _, part := range splitList(v) {
		gk, ns, ok := strings.Cut(part, "/")
		if !ok {
			continue
		}
		if gks := ParseGroupKinds(gk); len(gks) == 1 {
			out = append(out, HookResource{GroupKind: gks[0], Namespace: ns})
		}
	}
	return out
}

// Load reads the parent. A missing parent is an empty State.
func Load(ctx context.Context, c *cluster.Client, inv Inventory) (*State, error) {
	u, err := c.Dynamic.Resource(configMaps).Namespace(inv.Namespace).Get(ctx, inv.ParentName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &State{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read inventory ConfigMap/%s/%s: %w", inv.Namespace, inv.ParentName(), err)
	}
	if got := u.GetLabels()[LabelID]; got != inv.ID() {
		return nil, fmt.Errorf("ConfigMap/%s/%s is not this app's inventory (label %s=%q, want %q); choose another app name or --inventory-namespace", inv.Namespace, inv.ParentName(), LabelID, got, inv.ID())
	}
	if tool := u.GetAnnotations()[AnnotationTooling]; tool != "" && !strings.HasPrefix(tool, "kubectl-gitops/") {
		return nil, fmt.Errorf("ConfigMap/%s/%s is an ApplySet of %q, not of kubectl-gitops; choose another app name", inv.Namespace, inv.ParentName(), tool)
	}
	return parseState(u, inv)
}

// parseState reads the State a parent holds.
func parseState(u *unstructured.Unstructured, inv Inventory) (*State, error) {
	st := &State{Exists: true, ResourceVersion: u.GetResourceVersion(), GroupKinds: ParseGroupKinds(u.GetAnnotations()[AnnotationContainsGroupKind]),
		Automated: u.GetAnnotations()[AnnotationAutomated] == "true", HookResources: ParseHookResources(u.GetAnnotations()[AnnotationHookResources])}
	st.Namespaces = splitList(u.GetAnnotations()[AnnotationAdditionalNS])
	if u.GetAnnotations()[AnnotationParentNamespaceMembers] != "false" {
		// Members may be in the parent's namespace (always so for a
		// parent written before the annotation, or by another version).
		st.Namespaces = append(st.Namespaces, inv.Namespace)
	}
	if h, _, _ := unstructured.NestedString(u.Object, "data", "history"); h != "" {
		if err := json.Unmarshal([]byte(h), &st.History); err != nil {
			return nil, fmt.Errorf("ConfigMap/%s/%s: history is not valid JSON: %w", inv.Namespace, inv.ParentName(), err)
		}
	}
	return st, nil
}

// App is an app found in the cluster by its inventory parent.
type App struct {
	Inventory
	// State is what the parent holds; nil when Err says why it cannot be
	// read.
	State *State
	Err   error
}

// List finds the apps kubectl-gitops manages: the ApplySet parents
// (ConfigMaps labelled with an ApplySet id and our app label, annotated
// with our tooling) in namespace, or in every namespace when it is empty.
// One LIST. Apps are sorted by namespace and name; a parent whose history
// cannot be read is listed with its error.
func List(ctx context.Context, c *cluster.Client, namespace string) ([]App, error) {
	list, err := c.Dynamic.Resource(configMaps).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelID + "," + LabelApp})
	if err != nil {
		where := "namespace " + namespace
		if namespace == "" {
			where = "all namespaces"
		}
		return nil, fmt.Errorf("list inventory ConfigMaps in %s: %w", where, err)
	}
	var apps []App
	for i := range list.Items {
		u := &list.Items[i]
		inv := Inventory{App: u.GetLabels()[LabelApp], Namespace: u.GetNamespace()}
		if !strings.HasPrefix(u.GetAnnotations()[AnnotationTooling], "kubectl-gitops/") || u.GetLabels()[LabelID] != inv.ID() || u.GetName() != inv.ParentName() {
			continue // another tool's set, or not a parent of ours
		}
		st, err := parseState(u, inv)
		apps = append(apps, App{Inventory: inv, State: st, Err: err})
	}
	sort.Slice(apps, func(i, j int) bool {
		if apps[i].Namespace != apps[j].Namespace {
			return apps[i].Namespace < apps[j].Namespace
		}
		return apps[i].App < apps[j].App
	})
	return apps, nil
}

// LastWithCommit is the newest record that names a commit: the source an
// app was last synced from.
func LastWithCommit(history []Record) (Record, bool) {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Commit != "" {
			return history[i], true
		}
	}
	return Record{}, false
}

// Save writes the parent with server-side apply, creating the namespace
// when it is missing. A State read from the cluster carries its
// resourceVersion, which the write must match; st then carries the new one. Namespaces other than the parent's go to the
// additional-namespaces annotation; whether the parent's own is among
// them, to AnnotationParentNamespaceMembers.
func Save(ctx context.Context, c *cluster.Client, inv Inventory, st *State) error {
	var additional []string
	for _, ns := range st.Namespaces {
		if ns != "" && ns != inv.Namespace {
			additional = append(additional, ns)
		}
	}
	sort.Strings(additional)
	history, err := json.Marshal(st.History)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      inv.ParentName(),
			Namespace: inv.Namespace,
			Labels:    map[string]string{LabelID: inv.ID(), LabelApp: inv.App},
			Annotations: map[string]string{
				AnnotationTooling:           Tooling(),
				AnnotationContainsGroupKind: FormatGroupKinds(st.GroupKinds),
				AnnotationAdditionalNS:      strings.Join(dedupe(additional), ","),
			},
		},
		Data: map[string]string{"app": inv.App, "history": string(history)},
	}
	if st.Automated {
		// A forced apply drops what it does not name: the mark is named
		// whenever it is set, whoever set it.
		cm.Annotations[AnnotationAutomated] = "true"
	}
	if len(st.HookResources) > 0 {
		cm.Annotations[AnnotationHookResources] = FormatHookResources(st.HookResources)
	}
	if !slices.Contains(st.Namespaces, inv.Namespace) {
		cm.Annotations[AnnotationParentNamespaceMembers] = "false"
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(cm)
	if err != nil {
		return err
	}
	delete(obj["metadata"].(map[string]any), "creationTimestamp")
	if st.ResourceVersion != "" {
		// Write over the parent only as it was read (or last written) under
		// the lock: a sync that lost the lock must not overwrite another's.
		obj["metadata"].(map[string]any)["resourceVersion"] = st.ResourceVersion
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if err := EnsureNamespace(ctx, c, inv.Namespace); err != nil {
		return err
	}
	force := true
	out, err := c.Dynamic.Resource(configMaps).Namespace(inv.Namespace).Patch(ctx, inv.ParentName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: FieldManager, Force: &force})
	if apierrors.IsConflict(err) && st.ResourceVersion != "" {
		return fmt.Errorf("write inventory ConfigMap/%s/%s: another sync wrote it since it was read: %w", inv.Namespace, inv.ParentName(), err)
	}
	if err != nil {
		return fmt.Errorf("write inventory ConfigMap/%s/%s: %w", inv.Namespace, inv.ParentName(), err)
	}
	st.ResourceVersion, st.Exists = out.GetResourceVersion(), true
	return nil
}

var namespaces = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// EnsureNamespace creates the namespace name when it is missing.
func EnsureNamespace(ctx context.Context, c *cluster.Client, name string) error {
	_, err := c.Dynamic.Resource(namespaces).Get(ctx, name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name}}}
	_, err = c.Dynamic.Resource(namespaces).Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create Namespace/%s for the inventory: %w", name, err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
