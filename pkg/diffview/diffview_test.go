package diffview

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	m := map[string]any{}
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func change(o *unstructured.Unstructured, action gsync.ChangeAction) *gsync.Change {
	gvk := o.GroupVersionKind()
	return &gsync.Change{
		ObjectID: gsync.ObjectID{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()},
		Action:   action, Judged: gsync.JudgedByServer,
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// changedLines are the added and removed lines of a unified diff, headers
// left out.
func changedLines(diff string) []string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
			continue
		}
		if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
			out = append(out, l)
		}
	}
	return out
}

const liveDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: 0b6d9d0c-1111-2222-3333-444455556666
  resourceVersion: "812"
  generation: 4
  creationTimestamp: "2026-01-01T00:00:00Z"
  annotations:
    deployment.kubernetes.io/revision: "1"
  managedFields:
  - manager: kubectl
    operation: Update
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "nginx:1.27"}
status:
  replicas: 3
  readyReplicas: 3
`

// Noise never shows: the diff of a scaled Deployment is its replicas line.
func TestNoiseNeverShows(t *testing.T) {
	live := obj(t, liveDeployment)
	merged := obj(t, strings.NewReplacer("replicas: 3\n  selector", "replicas: 1\n  selector", `resourceVersion: "812"`, `resourceVersion: "813"`, "generation: 4", "generation: 5", "operation: Update", "operation: Apply").Replace(liveDeployment))
	c := change(live, gsync.ChangeConfigure)
	c.Live, c.Merged, c.Desired = live, merged, merged
	v := New(&gsync.ChangeSet{App: "shop", Changes: []*gsync.Change{c}}, nil)

	var out bytes.Buffer
	if err := v.WriteUnified(&out, UnifiedOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"-  replicas: 3", "+  replicas: 1"}, changedLines(out.String())); diff != "" {
		t.Errorf("changed lines (-want +got):\n%s\n%s", diff, out.String())
	}
	if !strings.HasPrefix(out.String(), "diff -u -N LIVE/apps.v1.Deployment.shop.web MERGED/apps.v1.Deployment.shop.web\n--- LIVE/apps.v1.Deployment.shop.web\n+++ MERGED/apps.v1.Deployment.shop.web\n@@ ") {
		t.Errorf("header:\n%s", out.String())
	}
	for _, noise := range []string{"managedFields", "resourceVersion", "uid:", "generation", "creationTimestamp", "readyReplicas"} {
		if strings.Contains(out.String(), noise) {
			t.Errorf("the diff shows %s:\n%s", noise, out.String())
		}
	}
	want := []Field{{Path: ".spec.replicas", Live: float64(3), Desired: float64(1)}}
	if diff := cmp.Diff(want, v.Objects[0].Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if got := v.Summary.String(); got != "0 to create, 1 to change, 0 to prune" || !v.Differs() {
		t.Errorf("summary %q, differs %v", got, v.Differs())
	}
}

const (
	oldPassword = "old-plaintext-pass"
	newPassword = "new-plaintext-pass"
	sopsValue   = "decrypted-from-sops-value"
)

// Secret values are masked pairwise: equal values equal masks, a changed
// value a different mask; no value nor its base64 appears in any output.
func TestSecretsMaskedPairwise(t *testing.T) {
	lastApplied := `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"` + oldPassword + `"}}`
	live := obj(t, `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: shop
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '`+lastApplied+`'
data:
  password: `+b64(oldPassword)+`
  user: `+b64("admin-user")+`
`)
	merged := live.DeepCopy()
	unstructured.SetNestedField(merged.Object, b64(newPassword), "data", "password")
	unstructured.SetNestedField(merged.Object, b64("brand-new-token"), "data", "token")
	unstructured.SetNestedField(merged.Object, strings.Replace(lastApplied, oldPassword, newPassword, 1), "metadata", "annotations", AnnotationLastApplied)
	desired := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: shop}\nstringData: {password: "+newPassword+", token: brand-new-token}\n")
	c := change(live, gsync.ChangeConfigure)
	c.Live, c.Merged, c.Desired = live, merged, desired

	// A ConfigMap that carries a value decrypted from SOPS, and a Secret to
	// create that was not judged (its stringData folded).
	cm := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: conf, namespace: shop}\ndata: {dsn: 'postgres://u:"+sopsValue+"@db'}\n")
	cc := change(cm, gsync.ChangeCreate)
	cc.Desired = cm
	created := obj(t, "apiVersion: v1\nkind: Secret\nmetadata: {name: api, namespace: shop}\nstringData: {key: "+sopsValue+"}\n")
	sc := change(created, gsync.ChangeCreate)
	sc.Desired, sc.Judged = created, gsync.NotJudged

	v := New(&gsync.ChangeSet{App: "shop", Changes: []*gsync.Change{c, cc, sc}}, []string{sopsValue})

	var out bytes.Buffer
	if err := v.WriteUnified(&out, UnifiedOptions{}); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(v)
	ym, _ := yaml.Marshal(v)
	var files []string
	for _, o := range v.Objects {
		for _, side := range []*unstructured.Unstructured{o.Live, o.Merged} {
			b, _ := YAML(side)
			files = append(files, string(b))
		}
	}
	for name, text := range map[string]string{"unified": out.String(), "json": string(js), "yaml": string(ym), "files": strings.Join(files, "\n")} {
		for _, secret := range []string{oldPassword, newPassword, b64(oldPassword), b64(newPassword), "admin-user", b64("admin-user"), "brand-new-token", b64("brand-new-token"), sopsValue, b64(sopsValue)} {
			if strings.Contains(text, secret) {
				t.Errorf("%s output holds %q:\n%s", name, secret, text)
			}
		}
	}
	wantLines := []string{
		"-  password: ++++++++",
		"+  password: +++++++++",
		"+  token: ++++++++",
		"-    kubectl.kubernetes.io/last-applied-configuration: ++++++++",
		"+    kubectl.kubernetes.io/last-applied-configuration: +++++++++",
	}
	got := changedLines(out.String())
	if diff := cmp.Diff(wantLines, got[:len(wantLines)]); diff != "" {
		t.Errorf("secret lines (-want +got):\n%s\n%s", diff, out.String())
	}
	wantFields := []Field{
		{Path: ".data.password", Live: "++++++++", Desired: "+++++++++"},
		{Path: ".data.token", Desired: "++++++++"},
		{Path: `.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]`, Live: "++++++++", Desired: "+++++++++"},
	}
	if diff := cmp.Diff(wantFields, v.Objects[0].Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), "+  dsn: postgres://u:++++++++@db") {
		t.Errorf("the SOPS value is not masked in the ConfigMap:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "+  key: ++++++++") || strings.Contains(out.String(), "stringData") {
		t.Errorf("the unjudged Secret's stringData is not folded and masked:\n%s", out.String())
	}
}

// Creates are all added, prunes all removed, orphans and skips listed
// without a diff, unchanged objects left out.
func TestActions(t *testing.T) {
	mk := func(name string, a gsync.ChangeAction) *gsync.Change {
		o := obj(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "+name+", namespace: shop}\ndata: {k: v}\n")
		c := change(o, a)
		switch a {
		case gsync.ChangeCreate:
			c.Desired, c.Merged = o, o
		case gsync.ChangeUnchanged:
			c.Desired, c.Live, c.Judged = o, o, gsync.JudgedLocally
		default:
			c.Live, c.Judged = o, gsync.NotJudged
		}
		return c
	}
	// A change the dry-run refused has no action and no stored form.
	refused := mk("bad", "")
	refused.Desired, refused.Error = refused.Live, "ConfigMap \"bad\" is invalid"
	cs := &gsync.ChangeSet{App: "shop", Changes: []*gsync.Change{
		mk("new", gsync.ChangeCreate), mk("same", gsync.ChangeUnchanged), mk("gone", gsync.ChangePrune),
		mk("kept", gsync.ChangeOrphan), mk("held", gsync.ChangeSkip), refused,
	}}
	v := New(cs, nil)
	var out bytes.Buffer
	if err := v.WriteUnified(&out, UnifiedOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `diff -u -N LIVE/v1.ConfigMap.shop.new MERGED/v1.ConfigMap.shop.new
--- LIVE/v1.ConfigMap.shop.new
+++ MERGED/v1.ConfigMap.shop.new
@@ -0,0 +1,7 @@
+apiVersion: v1
+data:
+  k: v
+kind: ConfigMap
+metadata:
+  name: new
+  namespace: shop
diff -u -N LIVE/v1.ConfigMap.shop.gone MERGED/v1.ConfigMap.shop.gone
--- LIVE/v1.ConfigMap.shop.gone
+++ MERGED/v1.ConfigMap.shop.gone
@@ -1,7 +0,0 @@
-apiVersion: v1
-data:
-  k: v
-kind: ConfigMap
-metadata:
-  name: gone
-  namespace: shop
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
	var listed []string
	for _, o := range v.Objects {
		listed = append(listed, o.Name+"="+string(o.Action))
	}
	if diff := cmp.Diff([]string{"new=create", "gone=prune", "kept=orphan", "held=skip", "bad="}, listed); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if got := v.Summary.String(); got != "1 to create, 0 to change, 1 to prune, 1 orphaned, 1 skipped, 1 refused by the dry-run" {
		t.Errorf("summary %q", got)
	}

	inSync := New(&gsync.ChangeSet{Changes: []*gsync.Change{mk("same", gsync.ChangeUnchanged), mk("held", gsync.ChangeSkip)}}, nil)
	out.Reset()
	inSync.WriteUnified(&out, UnifiedOptions{Color: true})
	if inSync.Differs() || out.Len() != 0 {
		t.Errorf("in sync: differs %v, diff %q", inSync.Differs(), out.String())
	}
}

// Colour only when asked; escapes mark the lines when it is.
func TestColor(t *testing.T) {
	live := obj(t, liveDeployment)
	merged := obj(t, strings.Replace(liveDeployment, "replicas: 3\n  selector", "replicas: 1\n  selector", 1))
	c := change(live, gsync.ChangeConfigure)
	c.Live, c.Merged = live, merged
	v := New(&gsync.ChangeSet{Changes: []*gsync.Change{c}}, nil)

	var plain, colored bytes.Buffer
	v.WriteUnified(&plain, UnifiedOptions{})
	v.WriteUnified(&colored, UnifiedOptions{Color: true})
	if strings.Contains(plain.String(), "\x1b") {
		t.Errorf("escape codes without colour:\n%q", plain.String())
	}
	for _, want := range []string{"\x1b[31m-  replicas: 3\x1b[0m\n", "\x1b[32m+  replicas: 1\x1b[0m\n", "\x1b[1m--- LIVE/", "\x1b[36m@@ "} {
		if !strings.Contains(colored.String(), want) {
			t.Errorf("coloured diff lacks %q:\n%q", want, colored.String())
		}
	}
	stripped := strings.NewReplacer(bold, "", red, "", green, "", cyan, "", reset, "").Replace(colored.String())
	if stripped != plain.String() {
		t.Errorf("colour changed the text:\n%s\nvs\n%s", stripped, plain.String())
	}
}

func TestFileName(t *testing.T) {
	for _, tt := range []struct {
		id   gsync.ObjectID
		want string
	}{
		{gsync.ObjectID{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "shop", Name: "web"}, "apps.v1.Deployment.shop.web"},
		{gsync.ObjectID{Version: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "web"}, "v1.ConfigMap.shop.web"},
		{gsync.ObjectID{Version: "v1", Kind: "Namespace", Name: "shop"}, "v1.Namespace..shop"},
	} {
		if got := FileName(tt.id); got != tt.want {
			t.Errorf("FileName(%+v) = %q, want %q", tt.id, got, tt.want)
		}
	}
}
