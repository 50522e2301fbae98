package deploy_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// Argo CD's names, as its own CRDs (manifests/crds in argoproj/argo-cd) give
// them, so that Argo CD's manifests apply unchanged and `kubectl get app`
// works as with Argo CD.
var argoCRDs = map[string]map[string]any{
	"applications.argoproj.io": {
		"kind": "Application", "listKind": "ApplicationList", "plural": "applications", "singular": "application",
		"shortNames": []any{"app", "apps"},
	},
	"applicationsets.argoproj.io": {
		"kind": "ApplicationSet", "listKind": "ApplicationSetList", "plural": "applicationsets", "singular": "applicationset",
		"shortNames": []any{"appset", "appsets"},
	},
	"appprojects.argoproj.io": {
		"kind": "AppProject", "listKind": "AppProjectList", "plural": "appprojects", "singular": "appproject",
		"shortNames": []any{"appproj", "appprojs"},
	},
}

func TestCRDsAsArgoCD(t *testing.T) {
	objs := build(t, entry{name: "crds", dir: "crds"})
	if len(objs) != len(argoCRDs) {
		t.Fatalf("%d objects, want the %d CRDs", len(objs), len(argoCRDs))
	}
	for _, crd := range objs {
		names, ok := argoCRDs[crd.GetName()]
		if !ok || crd.GetKind() != "CustomResourceDefinition" {
			t.Errorf("%s: not one of Argo CD's CRDs", ref(crd))
			continue
		}
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope")
		gotNames, _, _ := unstructured.NestedMap(crd.Object, "spec", "names")
		if group != "argoproj.io" || scope != "Namespaced" {
			t.Errorf("%s: group %q scope %q, want argoproj.io Namespaced", ref(crd), group, scope)
		}
		if diff := cmp.Diff(names, gotNames); diff != "" {
			t.Errorf("%s: names (-want +got):\n%s", ref(crd), diff)
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		if len(versions) != 1 {
			t.Fatalf("%s: %d versions, want v1alpha1 alone", ref(crd), len(versions))
		}
		v := versions[0].(map[string]any)
		if v["name"] != "v1alpha1" || v["served"] != true || v["storage"] != true {
			t.Errorf("%s: version %v %v %v, want v1alpha1 served and stored", ref(crd), v["name"], v["served"], v["storage"])
		}
		if status, ok, _ := unstructured.NestedMap(v, "subresources", "status"); !ok || len(status) != 0 {
			t.Errorf("%s: no status subresource", ref(crd))
		}
		open := []string{"spec", "status"}
		if crd.GetName() == "applications.argoproj.io" {
			open = append(open, "operation")
		}
		for _, field := range open {
			p, _, _ := unstructured.NestedMap(v, "schema", "openAPIV3Schema", "properties", field)
			if p["type"] != "object" || p["x-kubernetes-preserve-unknown-fields"] != true {
				t.Errorf("%s: .%s is %v, want an object that keeps unknown fields", ref(crd), field, p)
			}
		}
		if crd.GetName() == "applications.argoproj.io" {
			cols, _, _ := unstructured.NestedSlice(v, "additionalPrinterColumns")
			want := []any{
				map[string]any{"name": "Sync Status", "type": "string", "jsonPath": ".status.sync.status"},
				map[string]any{"name": "Health Status", "type": "string", "jsonPath": ".status.health.status"},
				map[string]any{"name": "Revision", "type": "string", "jsonPath": ".status.sync.revision", "priority": float64(10)},
				map[string]any{"name": "Project", "type": "string", "jsonPath": ".spec.project", "priority": float64(10)},
				map[string]any{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
			}
			if diff := cmp.Diff(want, cols); diff != "" {
				t.Errorf("%s: printer columns (-want +got):\n%s", ref(crd), diff)
			}
		}
	}
}

// Argo CD's manifests (testdata/argocd, as Argo CD's documentation writes
// them) apply unchanged against our CRDs, with strict field validation, and
// come back whole; status is a subresource; `kubectl get` shows Argo CD's
// columns through the short names.
func TestArgoCDManifestsApply(t *testing.T) {
	a := newApplier(t)
	objs := build(t, entries[0])
	a.establish(t, ofKind(objs, "CustomResourceDefinition")...)
	ctx := context.Background()
	if _, err := a.apply(ctx, find(t, objs, "Namespace", "argocd"), false); err != nil {
		t.Fatal(err)
	}

	files, _ := filepath.Glob("../testdata/argocd/*.yaml")
	more, _ := filepath.Glob("../testdata/argocd/production/*.yaml")
	files = append(files, more...)
	var manifests []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		manifests = append(manifests, decode(t, b)...)
	}
	kinds := map[string]int{}
	for _, u := range manifests {
		kinds[u.GetKind()]++
	}
	if kinds["Application"] == 0 || kinds["ApplicationSet"] == 0 || kinds["AppProject"] == 0 {
		t.Fatalf("testdata/argocd holds %v; want each of Application, ApplicationSet, AppProject", kinds)
	}
	// Argo CD's CLI requests a sync by writing .operation; it must survive.
	// A status in a manifest is not for the main resource to keep.
	var app *unstructured.Unstructured
	for i, u := range manifests {
		if u.GetKind() == "Application" {
			app = u.DeepCopy()
			app.Object["operation"] = map[string]any{"sync": map[string]any{"revision": "HEAD", "prune": true}, "initiatedBy": map[string]any{"username": "admin"}}
			app.Object["status"] = map[string]any{"sync": map[string]any{"status": "Synced"}}
			manifests[i] = app
			break
		}
	}

	a.warnings.take()
	for _, u := range manifests {
		out, err := a.apply(ctx, u, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range a.warnings.take() {
			// Argo CD's own finalizer name draws a warning; it is theirs.
			if !strings.Contains(w, `"resources-finalizer.argocd.argoproj.io": prefer a domain-qualified finalizer name`) {
				t.Errorf("%s: warning %q", ref(u), w)
			}
		}
		for _, field := range []string{"spec", "operation"} {
			if diff := cmp.Diff(jsonValue(t, u.Object[field]), jsonValue(t, out.Object[field])); diff != "" {
				t.Errorf("%s: .%s did not come back as applied (-want +got):\n%s", ref(u), field, diff)
			}
		}
		if _, ok := out.Object["status"]; ok {
			t.Errorf("%s: status was written through the main resource: %v", ref(u), out.Object["status"])
		}
		t.Cleanup(func() { deleteWithoutFinalizers(t, a, out) })
	}

	// Status through the subresource, then Argo CD's columns.
	appsRes := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	status := `{"status":{"sync":{"status":"Synced","revision":"0123abc"},"health":{"status":"Healthy"}}}`
	if _, err := a.dyn.Resource(appsRes).Namespace("argocd").Patch(ctx, app.GetName(), types.MergePatchType, []byte(status), metav1.PatchOptions{}, "status"); err != nil {
		t.Fatalf("%s: write status: %v", ref(app), err)
	}
	project, _, _ := unstructured.NestedString(app.Object, "spec", "project")
	out := kubectl(t, "get", "apps", app.GetName(), "-n", "argocd", "-o", "wide")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get apps -o wide:\n%s", out)
	}
	header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	if diff := cmp.Diff([]string{"NAME", "SYNC", "STATUS", "HEALTH", "STATUS", "REVISION", "PROJECT", "AGE"}, header); diff != "" {
		t.Errorf("kubectl get apps -o wide header (-want +got):\n%s", diff)
	}
	if len(row) != 6 || !cmp.Equal(row[:5], []string{app.GetName(), "Synced", "Healthy", "0123abc", project}) {
		t.Errorf("kubectl get apps -o wide row %q, want %s Synced Healthy 0123abc %s <age>", row, app.GetName(), project)
	}
	if out := kubectl(t, "get", "app", "-n", "argocd"); strings.Contains(out, "REVISION") || !strings.Contains(out, "SYNC STATUS") {
		t.Errorf("kubectl get app: Revision and Project are for -o wide (priority 10):\n%s", out)
	}
	for _, short := range []string{"appset", "appsets", "appproj", "appprojs"} {
		if out := kubectl(t, "get", short, "-n", "argocd", "-o", "name"); !strings.Contains(out, "argoproj.io/") {
			t.Errorf("kubectl get %s: %q", short, out)
		}
	}
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kubectl), append([]string{"--kubeconfig", lc.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	leaksweep.Capture(t, "output of `kubectl "+strings.Join(args, " ")+"`", string(out))
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// deleteWithoutFinalizers deletes u, dropping the finalizers no controller
// runs here to remove (Argo CD's resources finalizer).
func deleteWithoutFinalizers(t *testing.T, a *applier, u *unstructured.Unstructured) {
	gvk := u.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Error(err)
		return
	}
	ri := a.dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
	ctx := context.Background()
	if len(u.GetFinalizers()) > 0 {
		if _, err := ri.Patch(ctx, u.GetName(), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
			t.Errorf("%s: drop finalizers: %v", ref(u), err)
		}
	}
	if err := ri.Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Errorf("%s: delete: %v", ref(u), err)
	}
}

// jsonValue is v as encoding/json decodes it (every number a float64), so
// that YAML input and API output compare by value.
func jsonValue(t *testing.T, v any) any {
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
