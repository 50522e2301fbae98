package render

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

var overrideTree = map[string]string{
	"app/kustomization.yaml": `resources: [deployment.yaml, service.yaml]
namePrefix: old-
commonLabels: {team: orders}
images:
- {name: nginx, newTag: "1.25"}
- {name: busybox, newName: mirror.example/busybox, newTag: "1.36"}
`,
	"app/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx}
      - {name: sidecar, image: busybox}
      - {name: cache, image: "registry.example:5000/redis:7"}
`,
	"app/service.yaml": `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
`,
	"components/probe/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
- target: {kind: Deployment}
  patch: |-
    - op: add
      path: /metadata/annotations
      value: {probed: "yes"}
`,
}

// The overrides give what Argo CD's `kustomize edit` commands give: the
// real kustomize binary runs the same edits on a copy, and both builds
// are the same objects.
func TestKustomizeOverridesMatchKustomizeEdit(t *testing.T) {
	for _, c := range []struct {
		name  string
		k     Kustomize
		edits [][]string
	}{
		{"names", Kustomize{NamePrefix: "new-", NameSuffix: "-v2", Namespace: "orders"},
			[][]string{{"set", "nameprefix", "--", "new-"}, {"set", "namesuffix", "--", "-v2"}, {"set", "namespace", "--", "orders"}}},
		{"images", Kustomize{Images: []string{"nginx:1.27", "busybox=*:1.37", "registry.example:5000/redis=cache.example/redis@sha256:0000000000000000000000000000000000000000000000000000000000000000", "ghost=other"}},
			[][]string{{"set", "image", "nginx:1.27", "busybox=*:1.37", "registry.example:5000/redis=cache.example/redis@sha256:0000000000000000000000000000000000000000000000000000000000000000", "ghost=other"}}},
		{"replicas", Kustomize{Replicas: []Replica{{Name: "web", Count: 3}}},
			[][]string{{"set", "replicas", "web=3"}}},
		{"labels and annotations", Kustomize{CommonLabels: map[string]string{"env": "production", "team": "payments"}, ForceCommonLabels: true, CommonAnnotations: map[string]string{"owner": "sre"}},
			[][]string{{"add", "label", "--force", "env:production", "team:payments"}, {"add", "annotation", "owner:sre"}}},
		{"labels without selector", Kustomize{CommonLabels: map[string]string{"env": "production"}, LabelWithoutSelector: true, LabelIncludeTemplates: true},
			[][]string{{"add", "label", "--without-selector", "--include-templates", "env:production"}}},
		{"components", Kustomize{Components: []string{"../components/probe"}},
			[][]string{{"add", "component", "../components/probe"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := writeTree(t, overrideTree)
			k := c.k
			got, err := Render(root, "app", Options{Kustomize: &k})
			if err != nil {
				t.Fatal(err)
			}
			edited := writeTree(t, overrideTree)
			bin := filepath.Join(toolsDir(t), tools.Kustomize)
			for _, e := range c.edits {
				cmd := exec.Command(bin, append([]string{"edit"}, e...)...)
				cmd.Dir = filepath.Join(edited, "app")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("kustomize edit %s: %v\n%s", strings.Join(e, " "), err, out)
				}
			}
			want, err := Render(edited, "app", Options{})
			if err != nil {
				t.Fatal(err)
			}
			var g, w []map[string]any
			for _, o := range got {
				g = append(g, o.Object)
			}
			for _, o := range want {
				w = append(w, o.Object)
			}
			if d := cmp.Diff(w, g); d != "" {
				t.Errorf("overrides differ from kustomize edit (-edit +overrides):\n%s", d)
			}
			// The repository is not changed.
			if data, _ := os.ReadFile(filepath.Join(root, "app", "kustomization.yaml")); string(data) != overrideTree["app/kustomization.yaml"] {
				t.Errorf("the kustomization was written:\n%s", data)
			}
		})
	}
}

func toolsDir(t *testing.T) string {
	t.Helper()
	dir, err := tools.Ensure(context.Background(), tools.Options{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Patches are appended to the kustomization's; ${ARGOCD_APP_*} in images
// and labels is the build environment; what kustomize edit refuses (a
// label the kustomization has, unforced) is an error naming the fix.
func TestKustomizeOverridesPatchesEnvErrors(t *testing.T) {
	root := writeTree(t, overrideTree)
	k := &Kustomize{
		Images:       []string{"nginx:${ARGOCD_APP_REVISION_SHORT}"},
		CommonLabels: map[string]string{"app.kubernetes.io/instance": "$ARGOCD_APP_NAME", "cost": "$$5"},
		Patches: []any{map[string]any{"target": map[string]any{"kind": "Deployment", "name": "web"},
			"patch": "- op: replace\n  path: /spec/template/spec/containers/0/ports\n  value: [{containerPort: 443}]\n"}},
		Env: map[string]string{"ARGOCD_APP_REVISION_SHORT": "abc1234", "ARGOCD_APP_NAME": "orders"},
	}
	objs, err := Render(root, "app", Options{Kustomize: k})
	if err != nil {
		t.Fatal(err)
	}
	d := objs[1]
	if d.GetKind() != "Deployment" {
		d = objs[0]
	}
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	web := containers[0].(map[string]any)
	if web["image"] != "nginx:abc1234" || web["ports"] == nil {
		t.Errorf("web container %v", web)
	}
	if l := d.GetLabels(); l["app.kubernetes.io/instance"] != "orders" || l["cost"] != "$5" {
		t.Errorf("labels %v", l)
	}

	_, err = Render(root, "app", Options{Kustomize: &Kustomize{CommonLabels: map[string]string{"team": "payments"}}})
	if err == nil || !strings.Contains(err.Error(), "spec.source.kustomize: commonLabels: team is already in the kustomization's commonLabels; set forceCommonLabels: true to replace it") {
		t.Errorf("label conflict: %v", err)
	}
	_, err = Render(root, "app", Options{Kustomize: &Kustomize{Images: []string{"nginx"}}})
	if err == nil || !strings.Contains(err.Error(), `images: "nginx": want NAME=NEWNAME`) {
		t.Errorf("bad image: %v", err)
	}
	plain := writeTree(t, map[string]string{"dir/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"})
	_, err = Render(plain, "dir", Options{Kustomize: &Kustomize{NamePrefix: "x-"}})
	if err == nil || !strings.Contains(err.Error(), "has no kustomization.yaml, so spec.source.kustomize has nothing to change") {
		t.Errorf("plain directory: %v", err)
	}
	// A path through a symbolic link gets the overrides too.
	if err := os.Symlink("app", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	linked, err := Render(root, "link", Options{Kustomize: &Kustomize{NamePrefix: "p-"}})
	if err != nil || linked[0].GetName() != "p-old-web" && linked[0].GetName() != "p-web" {
		t.Errorf("through a link: %v %v", err, refs(linked))
	}
	// Missing components: an error, or left out when told.
	if _, err := Render(root, "app", Options{Kustomize: &Kustomize{Components: []string{"../components/none"}}}); err == nil {
		t.Error("a missing component built")
	}
	if _, err := Render(root, "app", Options{Kustomize: &Kustomize{Components: []string{"../components/none"}, IgnoreMissingComponents: true}}); err != nil {
		t.Errorf("ignoreMissingComponents: %v", err)
	}
}
