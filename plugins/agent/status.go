package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
	gstatus "github.com/kubectl-gitops/kubectl-gitops/pkg/status"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// historyLimit is how many syncs .status.history lists (Argo CD's default
// revisionHistoryLimit).
const historyLimit = 10

// writeStatus writes an Application object's .status as Argo CD's
// controller does: sync, health, resources, history, operationState,
// conditions, reconciledAt. It writes only when something other than
// reconciledAt changed, so a poll that finds nothing new writes nothing.
func (a *runner) writeStatus(ctx context.Context, e *appEntry, st *appState, cmp *comparison, log *slog.Logger) {
	if e.obj == nil {
		return
	}
	status := a.statusOf(e, st, cmp)
	body, err := json.Marshal(status)
	if err != nil {
		return
	}
	if st.written == nil {
		// After a restart: what the object shows already.
		if old, ok := e.obj.Object["status"].(map[string]any); ok {
			prev := map[string]any{}
			for k, v := range old {
				if k != "reconciledAt" {
					prev[k] = v
				}
			}
			if b, err := json.Marshal(prev); err == nil && bytes.Equal(b, body) {
				st.written = body
				return
			}
		}
	}
	if bytes.Equal(body, st.written) {
		return
	}
	status["reconciledAt"] = time.Now().UTC().Format(time.RFC3339)
	// Each field written replaces the one there, whole, as Argo CD
	// replaces operationState (a merge patch would keep the keys of the
	// last operation that this one has not); fields the agent does not
	// write stay.
	ops := []map[string]any{{"op": "add", "path": "/status", "value": status}}
	if _, ok := e.obj.Object["status"].(map[string]any); ok {
		ops = ops[:0]
		keys := make([]string, 0, len(status))
		for k := range status {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ops = append(ops, map[string]any{"op": "add", "path": "/status/" + k, "value": status[k]})
		}
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return
	}
	res := a.current.Dynamic.Resource(applicationGVR).Namespace(e.obj.GetNamespace())
	_, err = res.Patch(ctx, e.obj.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: fieldManager}, "status")
	if apierrors.IsNotFound(err) {
		// Argo CD's own CRD has no status subresource: the status is
		// written with the object.
		_, err = res.Patch(ctx, e.obj.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	}
	if err != nil {
		log.Warn("cannot write the Application's status", "error", err)
		return
	}
	st.written = body
}

// fieldManager is the agent's field manager on Application objects.
const fieldManager = "kubectl-gitops-agent"

// statusOf is the Application's status: JSON values only, with Secret
// values masked in every message.
func (a *runner) statusOf(e *appEntry, st *appState, cmp *comparison) map[string]any {
	app := e.target
	out := map[string]any{
		"sync":   map[string]any{"status": string(gstatus.Unknown)},
		"health": map[string]any{"status": "Unknown"},
	}
	red := redact.NewFromObjects(nil)
	if cmp != nil {
		red = cmp.redactor()
		src := app.Application.Source
		dest := app.Application.Destination
		sync := map[string]any{"status": string(cmp.status.Sync), "revision": cmp.cs.Source.Commit,
			"comparedTo": map[string]any{
				"source":      map[string]any{"repoURL": src.RepoURL, "path": src.Path, "targetRevision": src.TargetRevision},
				"destination": map[string]any{"server": dest.Server, "name": dest.Name, "namespace": dest.Namespace},
			}}
		out["sync"] = sync
		out["health"] = map[string]any{"status": string(cmp.status.Health)}
		resources := []any{}
		for _, o := range cmp.status.Objects {
			r := map[string]any{"group": o.Group, "version": o.Version, "kind": o.Kind, "namespace": o.Namespace, "name": o.Name, "status": string(o.Sync)}
			if o.Health != "" {
				h := map[string]any{"status": string(o.Health)}
				r["health"] = h
			}
			if o.Action == gsync.ChangePrune || o.Action == gsync.ChangeOrphan {
				r["requiresPruning"] = true
			}
			resources = append(resources, r)
		}
		out["resources"] = resources
		history := []any{}
		for _, rec := range cmp.state.History {
			if rec.Commit == "" || rec.Phase != gsync.PhaseSucceeded {
				continue
			}
			history = append(history, map[string]any{"id": rec.ID, "revision": rec.Commit,
				"deployedAt": rec.FinishedAt.UTC().Format(time.RFC3339), "deployStartedAt": rec.StartedAt.UTC().Format(time.RFC3339),
				"source": map[string]any{"repoURL": src.RepoURL, "path": rec.Path, "targetRevision": rec.Revision}})
		}
		if len(history) > historyLimit {
			history = history[len(history)-historyLimit:]
		}
		out["history"] = history
	}
	conds := []any{}
	var types []string
	for t := range st.conditions {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		conds = append(conds, map[string]any{"type": t, "message": red.String(st.conditions[t])})
	}
	out["conditions"] = conds
	if op := st.op; op != nil {
		var operation any = map[string]any{"sync": map[string]any{"revision": op.revision}, "initiatedBy": map[string]any{"automated": op.automated}}
		if op.request != nil {
			// A sync asked for through .operation: a copy of what was
			// asked (initiatedBy kept), as Argo CD's operationState has.
			operation = runtime.DeepCopyJSONValue(op.request)
		}
		state := map[string]any{
			"phase": op.phase, "message": red.String(op.message), "startedAt": op.started.Format(time.RFC3339),
			"operation": operation,
		}
		if !op.finished.IsZero() {
			state["finishedAt"] = op.finished.Format(time.RFC3339)
		}
		if op.retryCount > 0 {
			state["retryCount"] = op.retryCount
		}
		if op.result != nil {
			var rs []any
			for _, o := range op.result.Objects {
				status := "Synced"
				switch o.Action {
				case gsync.Failed:
					status = "SyncFailed"
				case gsync.Pending:
					status = "OutOfSync"
				case gsync.Pruned:
					status = "Pruned"
				case gsync.Orphaned:
					status = "PruneSkipped" // Argo CD's: left Git, prune off
				}
				r := map[string]any{"group": o.Group, "version": o.Version, "kind": o.Kind, "namespace": o.Namespace, "name": o.Name,
					"status": status, "message": red.String(o.Message), "syncPhase": phaseName(string(o.Phase))}
				if o.Hook != nil {
					r["hookPhase"] = string(o.Hook.Status)
				}
				rs = append(rs, r)
			}
			state["syncResult"] = map[string]any{"revision": op.revision, "resources": rs}
		}
		out["operationState"] = state
	}
	return out
}

func phaseName(p string) string {
	if p == "" {
		return "Sync"
	}
	return p
}

// clearRefresh removes Argo CD's refresh annotation once the app was
// refreshed.
func (a *runner) clearRefresh(ctx context.Context, e *appEntry, log *slog.Logger) {
	patch := []byte(`{"metadata":{"annotations":{"` + annotationRefresh + `":null}}}`)
	if _, err := a.current.Dynamic.Resource(applicationGVR).Namespace(e.obj.GetNamespace()).Patch(ctx, e.obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		log.Warn("cannot remove the refresh annotation", "error", err)
		return
	}
	// The entry is shared (reload, webhooks read it): a copy without the
	// annotation replaces it, until the informer brings the object.
	obj := e.obj.DeepCopy()
	ann := obj.GetAnnotations()
	delete(ann, annotationRefresh)
	obj.SetAnnotations(ann)
	next := *e
	next.obj = obj
	a.mu.Lock()
	if a.apps[e.key] == e {
		a.apps[e.key] = &next
	}
	a.mu.Unlock()
}

// eventSink records Kubernetes Events on Application objects, and logs
// them for apps without one.
type eventSink struct {
	rec record.EventRecorder
	log *slog.Logger
}

func newEventSink(c *cluster.Client, log *slog.Logger) *eventSink {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.Kube.CoreV1().Events("")})
	return &eventSink{rec: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubectl-gitops-agent"}), log: log}
}

func (s *eventSink) normal(_ context.Context, obj *unstructured.Unstructured, reason, msg string) {
	if obj != nil {
		s.rec.Event(obj, corev1.EventTypeNormal, reason, msg)
	}
}

func (s *eventSink) warning(_ context.Context, obj *unstructured.Unstructured, reason, msg string) {
	if obj != nil {
		s.rec.Event(obj, corev1.EventTypeWarning, reason, msg)
	}
}
