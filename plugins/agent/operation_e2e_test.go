package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

// manualApplication is an Application of path in the served repository,
// into ns, without automated sync.
func manualApplication(name, ns, repoURL, path string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: %s, namespace: argocd}
spec:
  project: default
  source: {repoURL: %s, targetRevision: HEAD, path: %s}
  destination: {server: https://kubernetes.default.svc, namespace: %s}
`, name, repoURL, path, ns)
}

// jsonOf is v as encoding/json decodes it (numbers float64), to compare
// with what the API server returns.
func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// getApp is the Application object, decoded.
func getApp(t *testing.T, name string) map[string]any {
	t.Helper()
	var app map[string]any
	if err := json.Unmarshal([]byte(mustKubectl(t, "", "-n", "argocd", "get", "application", name, "-o", "json")), &app); err != nil {
		t.Fatal(err)
	}
	return app
}

// syncOperation asks for a sync through the API, as argocd app sync does
// (it sets .operation), waits until the agent ended it (.operation cleared,
// operationState holding a copy of it, finished), and returns the
// operationState.
func syncOperation(t *testing.T, name string, op map[string]any, timeout time.Duration) map[string]any {
	t.Helper()
	patch, err := json.Marshal(map[string]any{"operation": op})
	if err != nil {
		t.Fatal(err)
	}
	mustKubectl(t, "", "-n", "argocd", "patch", "application", name, "--type", "merge", "-p", string(patch))
	want := jsonOf(t, op)
	var state map[string]any
	eventually(t, timeout, "the operation of "+name+" ended and cleared", func() error {
		app := getApp(t, name)
		status, _ := app["status"].(map[string]any)
		state, _ = status["operationState"].(map[string]any)
		switch {
		case app["operation"] != nil:
			return fmt.Errorf(".operation still set; operationState %v", state)
		case state == nil || !reflect.DeepEqual(state["operation"], want):
			return fmt.Errorf("operationState %v is not of the operation", state)
		case state["phase"] == "Running" || state["finishedAt"] == nil:
			return fmt.Errorf("operationState %v", state)
		}
		return nil
	})
	return state
}

func cmValue(t *testing.T, k kubernetes.Interface, ns, name string) string {
	cm, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return cm.Data["greeting"]
}

func cm(name, value string) string {
	return strings.Replace(configMap(value), "web-config", name, 1)
}

// resultKinds lists operationState.syncResult.resources as KIND/NAME=STATUS.
func resultKinds(state map[string]any) []string {
	var out []string
	res, _ := state["syncResult"].(map[string]any)
	items, _ := res["resources"].([]any)
	for _, it := range items {
		r, _ := it.(map[string]any)
		out = append(out, fmt.Sprintf("%v/%v=%v", r["kind"], r["name"], r["status"]))
	}
	return out
}

// Syncs asked for through an Application's .operation, as argocd app sync,
// the UI or kubectl patch ask Argo CD's controller: an app without
// automated sync is synced at the revision asked for, operationState copies
// the operation (its user), .operation is cleared; a selective sync syncs
// only what it names; prune false leaves what left Git; a sync that fails
// is retried as its retry says, then ends Failed; a field the agent cannot
// do is refused, named. A manual sync of a commit is that commit's attempt:
// automated sync does not sync it again.
func TestAgentSyncOperation(t *testing.T) {
	deployRBAC(t)
	ns := testcluster.Namespace(t, lc)
	git := serve(t, map[string]string{
		"apps/web/cm.yaml": configMap("hello"), "apps/web/deploy.yaml": deployment,
		"apps/auto/a.yaml": cm("auto-a", "one"), "apps/auto/b.yaml": cm("auto-b", "one"),
	})
	out, err := exec.Command("git", "-C", git.repo.Dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	first := strings.TrimSpace(string(out))
	name, auto := "op-"+ns, "auto-"+ns
	t.Cleanup(func() {
		_, _ = kubectlRun(t, "", "-n", "argocd", "delete", "application", name, auto, "--ignore-not-found")
	})
	mustKubectl(t, manualApplication(name, ns, git.url, "apps/web"), "apply", "-f", "-")
	autoApp := strings.Replace(manualApplication(auto, ns, git.url, "apps/auto"), "\n  destination:", "\n  syncPolicy: {automated: {prune: true}}\n  destination:", 1)
	mustKubectl(t, autoApp, "apply", "-f", "-")
	p := startAgent(t, "--reconcile-interval", "1h", "--inventory-namespace", ns)
	k := kube(t)
	eventually(t, 60*time.Second, "the automated app synced, the other reported OutOfSync", func() error {
		if v := cmValue(t, k, ns, "auto-a"); v != "one" {
			return fmt.Errorf("auto-a %q", v)
		}
		if st := mustKubectl(t, "", "-n", "argocd", "get", "application", name, "-o", "jsonpath={.status.sync.status}"); st != "OutOfSync" {
			return fmt.Errorf("%s: sync status %q", name, st)
		}
		return nil
	})
	if _, err := k.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
		t.Fatalf("the app without automated sync was synced before any operation")
	}

	// As argocd app sync writes it: the resolved commit, the source, the
	// user.
	start := time.Now()
	source := map[string]any{"repoURL": git.url, "path": "apps/web", "targetRevision": "HEAD"}
	op := map[string]any{
		"sync":        map[string]any{"revision": first, "source": source, "syncStrategy": map[string]any{"hook": map[string]any{}}},
		"initiatedBy": map[string]any{"username": "alice"},
		"info":        []any{map[string]any{"name": "reason", "value": "e2e"}},
	}
	state := syncOperation(t, name, op, 60*time.Second)
	t.Logf("a sync operation asked to ended: %s", time.Since(start))
	if state["phase"] != "Succeeded" || state["message"] != "successfully synced (all tasks run)" {
		t.Errorf("operationState %v; want Succeeded", state)
	}
	if res, _ := state["syncResult"].(map[string]any); res["revision"] != first {
		t.Errorf("syncResult %v; want revision %s", res, first)
	}
	if got, want := resultKinds(state), []string{"ConfigMap/web-config=Synced", "Deployment/web=Synced"}; !reflect.DeepEqual(got, want) {
		t.Errorf("syncResult.resources %v, want %v", got, want)
	}
	if v := cmValue(t, k, ns, "web-config"); v != "hello" {
		t.Errorf("web-config %q after the sync", v)
	}
	eventually(t, 10*time.Second, "the events of the operation", func() error {
		events := mustKubectl(t, "", "-n", "argocd", "get", "events", "--field-selector", "involvedObject.name="+name, "-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}")
		for _, want := range []string{"OperationStarted: alice initiated sync to " + first, "OperationCompleted: Sync operation to " + first + " succeeded"} {
			if !strings.Contains(events, want) {
				return fmt.Errorf("events %q; want %q", events, want)
			}
		}
		return nil
	})

	// A selective sync: of the two changes, only the ConfigMap's.
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("selected"), "apps/web/deploy.yaml": strings.Replace(deployment, "replicas: 1", "replicas: 2", 1)})
	state = syncOperation(t, name, map[string]any{"sync": map[string]any{"resources": []any{map[string]any{"kind": "ConfigMap", "name": "web-config", "namespace": ns}}}}, 30*time.Second)
	if state["phase"] != "Succeeded" {
		t.Errorf("selective sync: operationState %v", state)
	}
	if got, want := resultKinds(state), []string{"ConfigMap/web-config=Synced"}; !reflect.DeepEqual(got, want) {
		t.Errorf("selective sync: syncResult.resources %v, want %v", got, want)
	}
	if v := cmValue(t, k, ns, "web-config"); v != "selected" {
		t.Errorf("web-config %q after the selective sync", v)
	}
	if d, err := k.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 1 {
		t.Errorf("the Deployment, not selected, was changed: %v %v", d.Spec.Replicas, err)
	}

	// prune false: the Deployment left Git and stays (a full sync now).
	git.repo.Remove("no deployment", "apps/web/deploy.yaml")
	git.publish(t)
	state = syncOperation(t, name, map[string]any{"sync": map[string]any{"prune": false}}, 30*time.Second)
	if state["phase"] != "Succeeded" {
		t.Errorf("prune false: operationState %v", state)
	}
	if got, want := resultKinds(state), []string{"ConfigMap/web-config=Synced", "Deployment/web=PruneSkipped"}; !reflect.DeepEqual(got, want) {
		t.Errorf("prune false: syncResult.resources %v, want %v", got, want)
	}
	if _, err := k.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{}); err != nil {
		t.Errorf("the Deployment that left Git is gone after a sync with prune false: %v", err)
	}
	eventually(t, 10*time.Second, "the Deployment reported as requiring pruning", func() error {
		if got := mustKubectl(t, "", "-n", "argocd", "get", "application", name, "-o", `jsonpath={.status.resources[?(@.kind=="Deployment")].requiresPruning}`); got != "true" {
			return fmt.Errorf("requiresPruning %q", got)
		}
		return nil
	})

	// A sync that fails (the API server refuses an object), retried twice,
	// 1 s apart, then Failed.
	git.push(t, map[string]string{"apps/web/bad.yaml": cm("Bad_Name", "x")})
	start = time.Now()
	state = syncOperation(t, name, map[string]any{"sync": map[string]any{}, "retry": map[string]any{"limit": 2, "backoff": map[string]any{"duration": "1s", "factor": 1}}}, 60*time.Second)
	took := time.Since(start)
	msg, _ := state["message"].(string)
	if state["phase"] != "Failed" || state["retryCount"] != float64(2) || !strings.HasSuffix(msg, "(retried 2 times).") || !strings.Contains(msg, "Bad_Name") {
		t.Errorf("a failing sync with retry limit 2: operationState %v; want Failed, retryCount 2, the refusal, (retried 2 times).", state)
	}
	if took < 2*time.Second {
		t.Errorf("3 attempts 1 s apart ended in %s", took)
	}
	hist := mustKubectl(t, "", "-n", ns, "get", "configmap", "gitops-"+name, "-o", "jsonpath={.data.history}")
	if n := strings.Count(hist, `"phase":"Failed"`); n != 3 {
		t.Errorf("%d failed syncs recorded, want 3 (the attempt and 2 retries): %s", n, hist)
	}

	// What the agent cannot do is refused, naming the field; nothing is
	// synced.
	state = syncOperation(t, name, map[string]any{"sync": map[string]any{"manifests": []any{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: local}\n"}}}, 30*time.Second)
	if msg, _ := state["message"].(string); state["phase"] != "Error" || !strings.Contains(msg, "operation.sync.manifests") {
		t.Errorf("an operation with manifests: operationState %v; want Error naming operation.sync.manifests", state)
	}
	if after := strings.Count(mustKubectl(t, "", "-n", ns, "get", "configmap", "gitops-"+name, "-o", "jsonpath={.data.history}"), `"id":`); after != strings.Count(hist, `"id":`) {
		t.Errorf("a refused operation synced")
	}

	// The automated app: a selective sync of a new commit is that commit's
	// attempt, so the refresh after it does not sync the rest (selfHeal is
	// off), as with Argo CD.
	git.push(t, map[string]string{"apps/auto/a.yaml": cm("auto-a", "two"), "apps/auto/b.yaml": cm("auto-b", "two")})
	state = syncOperation(t, auto, map[string]any{"sync": map[string]any{"resources": []any{map[string]any{"kind": "ConfigMap", "name": "auto-a"}}, "prune": true}}, 30*time.Second)
	if state["phase"] != "Succeeded" || cmValue(t, k, ns, "auto-a") != "two" {
		t.Errorf("selective sync of the automated app: operationState %v, auto-a %q", state, cmValue(t, k, ns, "auto-a"))
	}
	mustKubectl(t, "", "-n", "argocd", "annotate", "application", auto, "argocd.argoproj.io/refresh=normal")
	eventually(t, 10*time.Second, "the refresh done", func() error {
		if out := mustKubectl(t, "", "-n", "argocd", "get", "application", auto, "-o", `jsonpath={.metadata.annotations.argocd\.argoproj\.io/refresh}`); out != "" {
			return fmt.Errorf("annotation %q", out)
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	if v := cmValue(t, k, ns, "auto-b"); v != "one" {
		t.Errorf("auto-b %q: automated sync synced again a commit a manual sync attempted", v)
	}
	syncedOnce(t, ns, auto, 2)
	if !strings.Contains(p.Logs(), "most recent sync already to") {
		t.Errorf("the automated sync was not skipped as attempted")
	}
}
