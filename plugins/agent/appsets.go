package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
)

// setManager is the field manager of the Applications the agent writes
// for ApplicationSet objects.
const setManager = "kubectl-gitops-applicationset"

// objectSet is an ApplicationSet object and what it generated at a load:
// the Applications, or why not (err: nothing is created, changed or
// deleted then).
type objectSet struct {
	obj  *unstructured.Unstructured
	set  *argocd.ApplicationSet
	apps []*argocd.Application
	err  error
}

// setKey is the shard key of an ApplicationSet object: the replica holding
// its shard writes its Applications.
func setKey(obj *unstructured.Unstructured) string {
	return "appset/" + obj.GetNamespace() + "/" + obj.GetName()
}

// applySets does for ApplicationSet objects what Argo CD's ApplicationSet
// controller does: each generated Application is created (or updated) as
// an object in the set's namespace, owned by the set; one the set owns that
// it no longer generates is deleted (its resources finalizer, by default,
// then prunes what it deployed); spec.syncPolicy.applicationsSync limits
// updates and deletions. Those objects are then run as any Application
// object. Only the replica holding a set's shard writes; the set's
// status.conditions say how it went.
func (a *runner) applySets(sets []*objectSet) {
	for _, s := range sets {
		shard := a.shardContext(setKey(s.obj))
		if shard == nil {
			continue
		}
		// Bounded, and stopped when the shard is lost or handed back.
		ctx, cancel := context.WithTimeout(shard, time.Minute)
		err := a.applySet(ctx, s)
		cancel()
		log := a.log.With("applicationset", s.obj.GetNamespace()+"/"+s.obj.GetName())
		if err != nil {
			log.Error("the ApplicationSet's Applications are not all up to date", "error", err)
		}
		a.setStatus(s, err, log)
	}
}

func (a *runner) applySet(ctx context.Context, s *objectSet) error {
	if s.err != nil {
		return s.err
	}
	apps := a.current.Dynamic.Resource(applicationGVR).Namespace(s.obj.GetNamespace())
	live := map[string]*unstructured.Unstructured{}
	if a.objects != nil {
		for _, item := range a.objects.List() {
			if o, ok := item.(*unstructured.Unstructured); ok && o.GetNamespace() == s.obj.GetNamespace() {
				live[o.GetName()] = o
			}
		}
	}
	var errs []error
	generated := map[string]bool{}
	for _, app := range s.apps {
		generated[app.Name] = true
		want := a.setApplication(s, app)
		cur := live[app.Name]
		switch {
		case cur == nil:
		case !ownedBy(cur, s.obj):
			errs = append(errs, fmt.Errorf("Application %s/%s exists and is not this ApplicationSet's (no owner reference to it): delete it, or rename the generated one", cur.GetNamespace(), cur.GetName()))
			continue
		case !s.set.MayUpdate() || cur.GetAnnotations()[annotationGenerated] == want.GetAnnotations()[annotationGenerated]:
			continue // as generated last time: no request
		}
		if _, err := apps.Apply(ctx, app.Name, want, metav1.ApplyOptions{FieldManager: setManager, Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("apply Application %s: %w", app.Name, err))
			continue
		}
		verb := "updated"
		if cur == nil {
			verb = "created"
		}
		a.log.Info("ApplicationSet: Application "+verb, "applicationset", s.obj.GetName(), "app", s.obj.GetNamespace()+"/"+app.Name)
	}
	if !s.set.MayDelete() {
		return errors.Join(errs...)
	}
	var gone []string
	for name, cur := range live {
		if !generated[name] && ownedBy(cur, s.obj) && cur.GetDeletionTimestamp() == nil {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	for _, name := range gone {
		uid := live[name].GetUID()
		background := metav1.DeletePropagationBackground
		err := apps.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &background})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete Application %s, which left the set: %w", name, err))
			continue
		}
		a.log.Info("ApplicationSet: Application deleted (it left the set)", "applicationset", s.obj.GetName(), "app", s.obj.GetNamespace()+"/"+name)
	}
	return errors.Join(errs...)
}

// setApplication is the Application object the set writes for app: the
// template's labels, annotations and finalizers, its spec, in the set's
// namespace, owned (controller) by the set.
func (a *runner) setApplication(s *objectSet, app *argocd.Application) *unstructured.Unstructured {
	src := app.Object
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": argocd.APIVersion, "kind": "Application"}}
	obj.SetName(app.Name)
	obj.SetNamespace(s.obj.GetNamespace())
	if l := src.GetLabels(); len(l) > 0 {
		obj.SetLabels(l)
	}
	if an := src.GetAnnotations(); len(an) > 0 {
		obj.SetAnnotations(an)
	}
	if f := src.GetFinalizers(); len(f) > 0 {
		obj.SetFinalizers(f)
	}
	yes := true
	obj.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: argocd.APIVersion, Kind: "ApplicationSet",
		Name: s.obj.GetName(), UID: s.obj.GetUID(), Controller: &yes, BlockOwnerDeletion: &yes}})
	obj.Object["spec"] = src.Object["spec"]
	// What is written, hashed: the next generation compares the hash, not
	// the objects (numbers, fields others own), so an Application as the
	// set last wrote it costs no request, and a template that changed —
	// a key removed included — is applied.
	b, _ := json.Marshal(obj.Object)
	sum := sha256.Sum256(b)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[annotationGenerated] = hex.EncodeToString(sum[:16])
	obj.SetAnnotations(ann)
	return obj
}

// annotationGenerated holds the hash of an Application as its
// ApplicationSet last wrote it.
const annotationGenerated = "gitops.kubectl-gitops.dev/generated-hash"

func ownedBy(o, set *unstructured.Unstructured) bool {
	return slices.ContainsFunc(o.GetOwnerReferences(), func(r metav1.OwnerReference) bool { return r.UID == set.GetUID() })
}

// setStatus writes the set's status.conditions as Argo CD's controller
// names them (ErrorOccurred, ParametersGenerated, ResourcesUpToDate), when
// they changed.
func (a *runner) setStatus(s *objectSet, err error, log *slog.Logger) {
	now := metav1.Now().UTC().Format(time.RFC3339)
	cond := func(typ string, ok bool, reason, msg string) map[string]any {
		status := "False"
		if ok {
			status = "True"
		}
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg, "lastTransitionTime": now}
	}
	var conds []any
	switch {
	case s.err != nil:
		msg := s.err.Error()
		conds = []any{cond("ErrorOccurred", true, "ApplicationGenerationFromParamsError", msg),
			cond("ParametersGenerated", false, "ErrorOccurred", msg), cond("ResourcesUpToDate", false, "ErrorOccurred", msg)}
	case err != nil:
		msg := err.Error()
		conds = []any{cond("ErrorOccurred", true, "ApplicationSetUpdateError", msg),
			cond("ParametersGenerated", true, "ParametersGenerated", "Successfully generated parameters for all Applications"),
			cond("ResourcesUpToDate", false, "ErrorOccurred", msg)}
	default:
		conds = []any{cond("ErrorOccurred", false, "ApplicationSetUpToDate", "All applications have been generated successfully"),
			cond("ParametersGenerated", true, "ParametersGenerated", "Successfully generated parameters for all Applications"),
			cond("ResourcesUpToDate", true, "ApplicationSetUpToDate", "All applications have been generated successfully")}
	}
	old, _, _ := unstructured.NestedSlice(s.obj.Object, "status", "conditions")
	if sameConditions(old, conds) {
		return
	}
	// A condition keeps its lastTransitionTime while its status holds.
	for _, c := range conds {
		for _, o := range old {
			om, _ := o.(map[string]any)
			cm := c.(map[string]any)
			if om["type"] == cm["type"] && om["status"] == cm["status"] && om["lastTransitionTime"] != nil {
				cm["lastTransitionTime"] = om["lastTransitionTime"]
			}
		}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": argocd.APIVersion, "kind": "ApplicationSet",
		"metadata": map[string]any{"name": s.obj.GetName(), "namespace": s.obj.GetNamespace()}, "status": map[string]any{"conditions": conds}}}
	ctx, cancel := context.WithTimeout(a.stopCtx, 10*time.Second)
	defer cancel()
	sets := a.current.Dynamic.Resource(applicationSetGVR).Namespace(s.obj.GetNamespace())
	data, _ := obj.MarshalJSON()
	if _, err := sets.Patch(ctx, s.obj.GetName(), types.MergePatchType, data, metav1.PatchOptions{}, "status"); err != nil {
		// Argo CD's own CRD has no status subresource: the status goes
		// with the object.
		if _, err2 := sets.Patch(ctx, s.obj.GetName(), types.MergePatchType, data, metav1.PatchOptions{}); err2 != nil {
			log.Warn("cannot write the ApplicationSet's status", "error", errors.Join(err, err2))
		}
	}
}

// sameConditions compares conditions without their lastTransitionTime.
func sameConditions(old, cur []any) bool {
	if len(old) != len(cur) {
		return false
	}
	for i := range old {
		o, _ := old[i].(map[string]any)
		c, _ := cur[i].(map[string]any)
		for _, k := range []string{"type", "status", "reason", "message"} {
			if fmt.Sprint(o[k]) != fmt.Sprint(c[k]) {
				return false
			}
		}
	}
	return true
}
