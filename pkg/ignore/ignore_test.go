package ignore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func rules(t *testing.T, y string) []Rule {
	t.Helper()
	r, err := Parse([]byte(y), "ignore.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, in, want, err string
	}{
		{name: "list", in: `
- group: apps
  kind: Deployment
  jsonPointers: [/spec/replicas]
- kind: ConfigMap
  name: web
  namespace: prod
  jqPathExpressions: ['.data["x"]']
  managedFieldsManagers: [kube-controller-manager]
`, want: "apps/Deployment */*:[/spec/replicas] /ConfigMap prod/web:['.data[\"x\"]'] managers:[kube-controller-manager]"},
		{name: "json list", in: `[{"group":"*","kind":"*","managedFieldsManagers":["hpa"]}]`, want: "*/* */*: managers:[hpa]"},
		{name: "application", in: `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web}
spec:
  project: default
  ignoreDifferences:
  - group: apps
    kind: Deployment
    jsonPointers: [/spec/replicas]
  syncPolicy: {syncOptions: [RespectIgnoreDifferences=true]}
`, want: "apps/Deployment */*:[/spec/replicas]"},
		{name: "comments and one separator", in: "# rules\n---\n- kind: Service\n  jsonPointers: [/spec/clusterIP]\n", want: "/Service */*:[/spec/clusterIP]"},
		{name: "unknown key", in: "- kind: Deployment\n  jsonPointer: [/spec/replicas]\n",
			err: `ignore.yaml: ignoreDifferences[0]: unknown key "jsonPointer"; did you mean jsonPointers?`},
		{name: "unknown key in application", in: "apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  ignoreDifferences:\n  - kind: Deployment\n    jsonPointers: [/a]\n  - kind: Deployment\n    pointers: [/spec/replicas]\n",
			err: `ignore.yaml: spec.ignoreDifferences[1]: unknown key "pointers"; the keys of a rule are group, jqPathExpressions, jsonPointers, kind, managedFieldsManagers, name, namespace`},
		{name: "no kind", in: "- group: apps\n  jsonPointers: [/spec/replicas]\n",
			err: `ignore.yaml: ignoreDifferences[0]: kind is required; use kind: "*" for every kind`},
		{name: "nothing ignored", in: "- kind: Deployment\n",
			err: "ignore.yaml: ignoreDifferences[0]: the rule ignores nothing; give jsonPointers, jqPathExpressions or managedFieldsManagers"},
		{name: "pointer without slash", in: "- kind: Deployment\n  jsonPointers: [spec/replicas]\n",
			err: `ignore.yaml: ignoreDifferences[0]: jsonPointers[0] "spec/replicas": a JSON pointer starts with /; write /spec/replicas`},
		{name: "bad escape", in: "- kind: Node\n  jsonPointers: [/metadata/labels/a~2b]\n",
			err: `ignore.yaml: ignoreDifferences[0]: jsonPointers[0] "/metadata/labels/a~2b": ~ must be written ~0 (and / inside a key ~1)`},
		{name: "bad jq", in: "- kind: Deployment\n  jqPathExpressions: ['.spec.containers[] | select(.name ==']\n",
			err: `ignore.yaml: ignoreDifferences[0]: jqPathExpressions[0] ".spec.containers[] | select(.name ==" is not a jq path expression: unexpected EOF`},
		{name: "wrong type", in: "- kind: Deployment\n  jsonPointers: /spec/replicas\n",
			err: `ignore.yaml: ignoreDifferences[0]: jsonPointers must be a list of strings, not a string`},
		{name: "two errors", in: "- kind: Deployment\n- jsonPointers: [/a]\n",
			err: "ignore.yaml: ignoreDifferences[0]: the rule ignores nothing; give jsonPointers, jqPathExpressions or managedFieldsManagers\nignore.yaml: ignoreDifferences[1]: kind is required; use kind: \"*\" for every kind"},
		{name: "other kind", in: "apiVersion: v1\nkind: ConfigMap\ndata: {}\n",
			err: "ignore.yaml: a ConfigMap (v1); give a list of ignoreDifferences rules or an Argo CD Application (argoproj.io/v1alpha1)"},
		{name: "two documents", in: "- kind: A\n  jsonPointers: [/a]\n---\n- kind: B\n  jsonPointers: [/b]\n",
			err: "ignore.yaml: holds 2 YAML documents; give one list of rules or one Application"},
		{name: "scalar", in: "replicas\n", err: "ignore.yaml: neither a list of ignoreDifferences rules nor an Argo CD Application"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in), "ignore.yaml")
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("error:\n got %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, r := range got {
				line := r.Group + "/" + r.Kind + " " + or(r.Namespace) + "/" + or(r.Name) + ":"
				if len(r.JSONPointers) > 0 {
					line += "[" + strings.Join(r.JSONPointers, ",") + "]"
				}
				if len(r.JQPathExpressions) > 0 {
					line += "['" + strings.Join(r.JQPathExpressions, "','") + "']"
				}
				if len(r.ManagedFieldsManagers) > 0 {
					line += " managers:[" + strings.Join(r.ManagedFieldsManagers, ",") + "]"
				}
				s = append(s, line)
			}
			if diff := cmp.Diff(tt.want, strings.Join(s, " ")); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func or(s string) string {
	if s == "" {
		return "*"
	}
	return s
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app.yaml")
	if err := os.WriteFile(f, []byte("- kind: Deployment\n  jsonPointers: [/spec/replicas]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Load(f)
	if err != nil || len(r) != 1 || !r[0].Matches(obj(t, "apiVersion: v1\nkind: Deployment\nmetadata: {name: x}")) {
		t.Fatalf("Load = %v, %v", r, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestCompile(t *testing.T) {
	r, err := Compile([]Rule{{Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}})
	if err != nil || !r[0].Matches(obj(t, "apiVersion: v1\nkind: Deployment\nmetadata: {name: x}")) {
		t.Fatalf("Compile = %v, %v", r, err)
	}
	if (Rule{Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}).Matches(obj(t, "apiVersion: v1\nkind: Deployment")) {
		t.Error("an uncompiled rule matched")
	}
	_, err = Compile([]Rule{{Kind: "Deployment", JSONPointers: []string{"/a"}}, {Kind: "X", JQPathExpressions: []string{".a["}}})
	if want := `ignoreDifferences[1]: jqPathExpressions[0] ".a[" is not a jq path expression: unexpected EOF`; err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
}

func TestMatches(t *testing.T) {
	deploy := obj(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}")
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: prod}")
	for _, tt := range []struct {
		rule       string
		deploy, cm bool
	}{
		{"group: apps\nkind: Deployment", true, false},
		{"group: '*'\nkind: '*'", true, true},
		{"kind: Deployment", false, false}, // no group: the core group only
		{"kind: ConfigMap", false, true},
		{"group: '*'\nkind: 'Config*'", false, true},
		{"group: apps\nkind: Deployment\nname: web\nnamespace: prod", true, false},
		{"group: apps\nkind: Deployment\nname: api", false, false},
		{"group: apps\nkind: Deployment\nnamespace: dev", false, false},
		{"group: apps\nkind: deployment", false, false}, // case matters
	} {
		r := rules(t, "- "+strings.ReplaceAll(tt.rule, "\n", "\n  ")+"\n  jsonPointers: [/a]\n")[0]
		if got := r.Matches(deploy); got != tt.deploy {
			t.Errorf("%q matches the Deployment: %v, want %v", tt.rule, got, tt.deploy)
		}
		if got := r.Matches(cm); got != tt.cm {
			t.Errorf("%q matches the ConfigMap: %v, want %v", tt.rule, got, tt.cm)
		}
	}
}

const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  labels: {node-role.kubernetes.io/worker: "", app: web}
  annotations: {deployment.kubernetes.io/revision: "3"}
  managedFields:
  - manager: kubectl-gitops
    operation: Apply
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:labels: {f:app: {}, f:node-role.kubernetes.io/worker: {}}}
      f:spec:
        f:template:
          f:spec:
            f:containers:
              k:{"name":"app"}: {.: {}, f:image: {}, f:name: {}}
  - manager: kube-controller-manager
    operation: Update
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1:
      f:metadata: {f:annotations: {.: {}, f:deployment.kubernetes.io/revision: {}}}
      f:spec: {f:replicas: {}}
  - manager: kube-controller-manager
    operation: Update
    subresource: status
    apiVersion: apps/v1
    fieldsType: FieldsV1
    fieldsV1: {f:status: {f:replicas: {}}}
spec:
  replicas: 5
  template:
    spec:
      initContainers:
      - {name: injected, image: mesh:1}
      - {name: setup, image: busybox}
      - {name: injected, image: mesh:2}
      containers:
      - {name: sidecar, image: proxy:1}
      - {name: app, image: web:1}
status: {replicas: 5}
`

func TestPaths(t *testing.T) {
	live := obj(t, deployment)
	for _, tt := range []struct {
		name, rules string
		want        []string
	}{
		{"pointer", "jsonPointers: [/spec/replicas, /spec/missing]", []string{".spec.replicas"}},
		{"escaped pointer", "jsonPointers: [/metadata/labels/node-role.kubernetes.io~1worker]", []string{`.metadata.labels["node-role.kubernetes.io/worker"]`}},
		{"pointer into a list", "jsonPointers: [/spec/template/spec/containers/1/image, /spec/template/spec/containers/7, /spec/template/spec/containers/01]", []string{".spec.template.spec.containers[1].image"}},
		{"jq selects several items, last first", `jqPathExpressions: ['.spec.template.spec.initContainers[] | select(.name == "injected")']`,
			[]string{".spec.template.spec.initContainers[2]", ".spec.template.spec.initContainers[0]"}},
		{"jq over a missing list ignores nothing", `jqPathExpressions: ['.spec.volumes[] | .name']`, nil},
		{"jq field inside items", `jqPathExpressions: ['.spec.template.spec.containers[].image']`,
			[]string{".spec.template.spec.containers[1].image", ".spec.template.spec.containers[0].image"}},
		{"managers own leaves, status too", "managedFieldsManagers: [kube-controller-manager]",
			[]string{".status.replicas", ".spec.replicas", `.metadata.annotations["deployment.kubernetes.io/revision"]`}},
		{"manager's keyed item", "managedFieldsManagers: [kubectl-gitops]",
			[]string{".spec.template.spec.containers[1].name", ".spec.template.spec.containers[1].image", `.metadata.labels["node-role.kubernetes.io/worker"]`, ".metadata.labels.app"}},
		{"nested paths fold", "jsonPointers: [/spec/template, /spec/template/spec/containers/0]", []string{".spec.template"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rules(t, "- group: apps\n  kind: Deployment\n  "+tt.rules+"\n")
			var got []string
			for _, p := range Paths(r, live, live) {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	live := obj(t, deployment)
	before := live.DeepCopy()
	r := rules(t, `- group: apps
  kind: Deployment
  jsonPointers: [/spec/replicas, /metadata/annotations/deployment.kubernetes.io~1revision]
  jqPathExpressions: ['.spec.template.spec.initContainers[] | select(.name == "injected")']
`)
	got := Remove(r, live, live)
	if diff := cmp.Diff(before.Object, live.Object); diff != "" {
		t.Fatalf("Remove changed its input:\n%s", diff)
	}
	want := before.DeepCopy()
	unstructured.RemoveNestedField(want.Object, "spec", "replicas")
	unstructured.RemoveNestedField(want.Object, "metadata", "annotations") // emptied
	_ = unstructured.SetNestedSlice(want.Object, []any{map[string]any{"name": "setup", "image": "busybox"}}, "spec", "template", "spec", "initContainers")
	if diff := cmp.Diff(want.Object, got.Object); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if Remove(r, nil, live) != nil {
		t.Error("Remove(nil) is not nil")
	}
	other := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: b}")
	if diff := cmp.Diff(other.Object, Remove(r, other, other).Object); diff != "" {
		t.Errorf("a rule for Deployments changed a ConfigMap:\n%s", diff)
	}
	// A list item emptied by the removal stays, as {}: splicing it out
	// would shift its siblings.
	pod := obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{env: [{name: A}]}, {name: side}]}")
	emptied := Remove(rules(t, "- kind: Pod\n  jsonPointers: [/spec/containers/0/env]\n"), pod, pod)
	if got, _, _ := unstructured.NestedSlice(emptied.Object, "spec", "containers"); !cmp.Equal(got, []any{map[string]any{}, map[string]any{"name": "side"}}) {
		t.Errorf("containers %v, want [{} {name: side}]", got)
	}
}

func TestRemoveLive(t *testing.T) {
	live := obj(t, deployment)
	r := rules(t, "- group: apps\n  kind: Deployment\n  jsonPointers: [/spec/replicas, /spec/template/spec/containers/1/image, /metadata/labels/app]\n")
	got := RemoveLive(r, live)
	mf, _, _ := unstructured.NestedSlice(got.Object, "metadata", "managedFields")
	var sets []string
	for _, e := range mf {
		b, _ := yaml.Marshal(e.(map[string]any)["fieldsV1"])
		sets = append(sets, strings.TrimSpace(string(b)))
	}
	want := []string{
		"f:metadata:\n  f:labels:\n    f:node-role.kubernetes.io/worker: {}\nf:spec:\n  f:template:\n    f:spec:\n      f:containers:\n        k:{\"name\":\"app\"}:\n          .: {}\n          f:name: {}",
		"f:metadata:\n  f:annotations:\n    .: {}\n    f:deployment.kubernetes.io/revision: {}", // f:spec emptied, gone
		"f:status:\n  f:replicas: {}",
	}
	if diff := cmp.Diff(want, sets); diff != "" {
		t.Errorf("field sets (-want +got)\n%s", diff)
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", "replicas"); ok {
		t.Error("spec.replicas is still set")
	}
	if _, ok, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "replicas"); !ok {
		t.Error("RemoveLive changed its input")
	}
}

func TestRespect(t *testing.T) {
	live := obj(t, deployment)
	desired := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  replicas: 2
  paused: false
  template:
    spec:
      initContainers:
      - {name: setup, image: busybox}
      containers:
      - {name: app, image: web:2}
`)
	r := rules(t, `- group: apps
  kind: Deployment
  jsonPointers: [/spec/replicas, /spec/paused, /status]
  jqPathExpressions: ['.spec.template.spec.initContainers[] | select(.name == "injected")', '.spec.template.spec.containers[] | select(.name == "sidecar") | .image']
`)
	got := Respect(r, desired, live)
	want := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  replicas: 5
  template:
    spec:
      initContainers:
      - {name: injected, image: mesh:1}
      - {name: setup, image: busybox}
      - {name: injected, image: mesh:2}
      containers:
      - {name: app, image: web:2}
`)
	// replicas: the live value; paused: dropped, live has none; injected
	// items: inserted at their live places; the sidecar's image: not
	// copied, desired has no sidecar; status: never copied.
	if diff := cmp.Diff(want.Object, got.Object); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if v, _, _ := unstructured.NestedFieldNoCopy(desired.Object, "spec", "replicas"); v != float64(2) {
		t.Error("Respect changed its input")
	}
	if diff := cmp.Diff(desired.Object, Respect(r, desired, nil).Object); diff != "" {
		t.Errorf("no live object: desired changed:\n%s", diff)
	}
}

func TestRespectNamedItem(t *testing.T) {
	live := obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: a:1}\n  - {name: b, image: b:live}\n")
	desired := obj(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: b, image: b:git}\n")
	r := rules(t, "- kind: Pod\n  jqPathExpressions: ['.spec.containers[] | select(.name == \"b\") | .image']\n")
	got, _, _ := unstructured.NestedSlice(Respect(r, desired, live).Object, "spec", "containers")
	want := []any{map[string]any{"name": "b", "image": "b:live"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paired by name, not index (-want +got)\n%s", diff)
	}
}
