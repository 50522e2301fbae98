package render

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func refs(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, plan.Ref(o))
	}
	return out
}

const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
data:
  k: v
`

func cm(name string) string { return strings.Replace(configMap, "%s", name, 1) }

func TestKustomizeOverlay(t *testing.T) {
	root := writeTree(t, map[string]string{
		"apps/web/base/kustomization.yaml": "resources: [deploy.yaml, cm.yaml]\n",
		"apps/web/base/cm.yaml":            cm("web-config"),
		"apps/web/base/deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: registry.example/web:1.0}]}
`,
		"apps/web/overlays/prod/kustomization.yaml": `resources: [../../base]
namespace: prod
images:
- name: registry.example/web
  newTag: "2.0"
`,
	})
	objs, err := Render(root, "apps/web/overlays/prod", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// kustomize build's legacy order: ConfigMap before Deployment.
	if diff := cmp.Diff([]string{"ConfigMap/prod/web-config", "Deployment/prod/web"}, refs(objs)); diff != "" {
		t.Fatalf("objects (-want +got):\n%s", diff)
	}
	image, _, _ := unstructured.NestedSlice(objs[1].Object, "spec", "template", "spec", "containers")
	if got := image[0].(map[string]any)["image"]; got != "registry.example/web:2.0" {
		t.Errorf("image %v, want the overlay's tag", got)
	}
	for _, o := range objs {
		for k := range o.GetAnnotations() {
			if strings.Contains(k, "config.kubernetes.io") {
				t.Errorf("%s keeps build annotation %s", plan.Ref(o), k)
			}
		}
	}
}

func TestPlainDirectory(t *testing.T) {
	root := writeTree(t, map[string]string{
		"manifests/b.yaml":         "# leading comment\n" + cm("b") + "---\n# only a comment\n---\n" + cm("c"),
		"manifests/a.json":         `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`,
		"manifests/sub/list.yml":   "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: l1}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: l2}}\n",
		"manifests/.hidden/x.yaml": cm("hidden"),
		"manifests/README.md":      "not yaml",
	})
	objs, err := Render(root, "manifests", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ConfigMap/a", "ConfigMap/b", "ConfigMap/c", "ConfigMap/l1", "ConfigMap/l2"}, refs(objs)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func TestRenderErrors(t *testing.T) {
	outside := writeTree(t, map[string]string{"secret.yaml": cm("outside")})
	root := writeTree(t, map[string]string{
		"bad/x.yaml":               cm("ok") + "---\nkind: [unclosed\n",
		"notobj/x.yaml":            "just: a map\n",
		"file.yaml":                cm("f"),
		"kbad/kustomization.yaml":  "resources: [missing.yaml]\n",
		"klink/kustomization.yaml": "resources: [link.yaml]\n",
		"plainlink/ok.yaml":        cm("ok"),
		"exec/kustomization.yaml":  "resources: [cm.yaml]\ntransformers: [fn.yaml]\n",
		"exec/cm.yaml":             cm("e"),
		"exec/fn.yaml":             "apiVersion: example.com/v1\nkind: Stamp\nmetadata:\n  name: stamp\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: ./fn.sh\n",
		"exec/fn.sh":               "#!/bin/sh\ntouch \"$(dirname \"$0\")/ran\"\ncat\n",
	})
	for _, link := range []struct{ at, to string }{
		{"out", outside},
		{"klink/link.yaml", filepath.Join(outside, "secret.yaml")},
		{"plainlink/link.yaml", filepath.Join(outside, "secret.yaml")},
	} {
		if err := os.Symlink(link.to, filepath.Join(root, link.at)); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct{ path, want string }{
		{"../x", `path "../x" leaves the repository; use a path relative to the repository root, without ../`},
		{"a/../../x", `path "a/../../x" leaves the repository`},
		{"/etc", `path "/etc" is absolute`},
		{"out", `"out" is a symbolic link that leaves the repository`},
		{"nope", `path "nope": no such file or directory; use a directory of the repository`},
		{"file.yaml", `path "file.yaml" is a file`},
		{"bad", `bad/x.yaml: document 2: invalid YAML`},
		{"notobj", `notobj/x.yaml: document 1: not a Kubernetes object (needs apiVersion, kind and metadata.name)`},
		{"kbad", `kustomize build kbad: `},
		{"klink", `security; file`}, // kustomize's own load restriction, links followed
		{"plainlink", `"plainlink/link.yaml" is a symbolic link that leaves the repository`},
		{"exec", `kustomize build exec: the kustomization runs exec KRM functions, which execute programs named by the repository: Stamp/stamp in exec/fn.yaml (exec ./fn.sh)`},
	}
	for _, tt := range tests {
		_, err := Render(root, tt.path, Options{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Render(%q): got %v, want an error containing %q", tt.path, err, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "exec", "ran")); !os.IsNotExist(err) {
		t.Fatalf("the exec function ran without --enable-exec")
	}

	objs, err := Render(root, "exec", Options{EnableExec: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "exec", "ran")); err != nil {
		t.Errorf("the exec function did not run with EnableExec: %v", err)
	}
	if diff := cmp.Diff([]string{"ConfigMap/e"}, refs(objs)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

// kustomize refuses objects without a name; hooks with generateName are
// built, with namePrefix applied, and come out with generateName only.
func TestKustomizeBuildsGenerateNameHooks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kustomization.yaml", "namePrefix: prod-\nresources: [hooks.yaml]\nconfigMapGenerator: [{name: plain, files: [data.yaml]}]\n")
	write("hooks.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: migrate-\n  annotations: {argocd.argoproj.io/hook: PreSync}\nspec: {}\n---\n"+
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: named}\n")
	write("data.yaml", "just: data\ngenerateName: untouched\n")
	objs, err := Render(dir, ".", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+" name="+o.GetName()+" generateName="+o.GetGenerateName()+fmt.Sprint(" annotations=", len(o.GetAnnotations())))
		if o.GetKind() == "ConfigMap" && strings.HasPrefix(o.GetName(), "prod-plain") {
			if d, _, _ := unstructured.NestedString(o.Object, "data", "data.yaml"); d != "just: data\ngenerateName: untouched\n" {
				t.Errorf("generator data changed: %q", d)
			}
		}
	}
	sort.Strings(got)
	want := []string{"ConfigMap name=prod-named generateName= annotations=0", "Job name= generateName=prod-migrate- annotations=1"}
	if len(got) != 3 || got[0] != want[0] || got[2] != want[1] {
		t.Errorf("objects:\n%s", strings.Join(got, "\n"))
	}

	// A hook without a hook annotation is no hook: kustomize's own error.
	write("hooks.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\n")
	if _, err := Render(dir, ".", Options{}); err == nil || !strings.Contains(err.Error(), "missing metadata.name") {
		t.Errorf("plain generateName: %v", err)
	}
}

// An Application's spec.source.directory: no subdirectories unless
// recurse; include and exclude globs, {a,b} lists, exclude wins.
func TestDirectorySelection(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yml", "skip.json", "sub/c.yaml", "sub/deep/d.yaml"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		if err := os.WriteFile(p, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+name+"}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	names := func(d *Directory) string {
		objs, err := Render(dir, ".", Options{Directory: d})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.GetName())
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct {
		d    *Directory
		want string
	}{
		{nil, "a,b,skip,c,d"},
		{&Directory{}, "a,b,skip"},
		{&Directory{Recurse: true}, "a,b,skip,c,d"},
		{&Directory{Recurse: true, Include: "{*.yaml,sub/*.yaml}"}, "a,c"},
		{&Directory{Recurse: true, Exclude: "{skip.json,sub/deep/*}"}, "a,b,c"},
		{&Directory{Include: "*", Exclude: "a.yaml"}, "b,skip"},
	} {
		if got := names(tt.d); got != tt.want {
			t.Errorf("%+v: %s, want %s", tt.d, got, tt.want)
		}
	}
}
