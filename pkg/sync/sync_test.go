package sync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	gosync "sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

var lc *localcluster.Cluster

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, &lc)) }

type fixture struct {
	t      *testing.T
	ns     string
	app    string
	client *cluster.Client
	kube   kubernetes.Interface
	mu     gosync.Mutex
	events []gsync.Event
}

func newFixture(t *testing.T) *fixture {
	ns := testcluster.Namespace(t, lc)
	c, err := cluster.New(lc.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ns: ns, app: ns, client: c, kube: kubernetes.NewForConfigOrDie(lc.Config)}
}

func (f *fixture) options() gsync.Options {
	o := gsync.DefaultOptions()
	o.InventoryNamespace = f.ns
	o.DestNamespace = f.ns
	o.Timeout = 90 * time.Second
	o.PollInterval = 100 * time.Millisecond
	o.Hints = testHints
	o.OnEvent = func(e gsync.Event) {
		sweepValue(f.t, "sync event "+string(e.Type), e)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.events = append(f.events, e)
	}
	return o
}

// sync renders the YAML stream (with {{ns}} replaced) and syncs it.
func (f *fixture) sync(stream string, opts gsync.Options) (*gsync.Result, error) {
	f.t.Helper()
	objs, err := render.Decode([]byte(strings.ReplaceAll(stream, "{{ns}}", f.ns)))
	if err != nil {
		f.t.Fatal(err)
	}
	res, err := gsync.New(f.client, opts).Run(context.Background(), gsync.Input{App: f.app, Objects: objs, Repo: "test", Path: ".", Revision: "HEAD", Commit: "abc"})
	sweepResult(f.t, "sync of "+f.app, res, err)
	return res, err
}

func (f *fixture) mustSync(stream string, opts gsync.Options) *gsync.Result {
	f.t.Helper()
	res, err := f.sync(stream, opts)
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return res
}

func actions(res *gsync.Result) map[string]gsync.Action {
	out := map[string]gsync.Action{}
	for _, o := range res.Objects {
		out[o.Ref()] = o.Action
	}
	return out
}

func deploymentYAML(name, wave, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
  annotations: {argocd.argoproj.io/sync-wave: "%s"}
spec:
  replicas: 2
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec: {containers: [{name: main, image: %s}]}
`, name, wave, name, name, image)
}

func configMapYAML(name, wave, extra string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  annotations: {argocd.argoproj.io/sync-wave: \"%s\"%s}\ndata: {k: v}\n", name, wave, extra)
}

// testHints stand in for the command's flag hints, so tests see that the
// engine uses them.
var testHints = gsync.Hints{
	ForceConflicts: "hint:force-conflicts", AllowEmpty: "hint:allow-empty", Timeout: "hint:timeout",
	Replace: "hint:replace", DestNamespace: "hint:dest-namespace", AgeKey: "hint:age-key",
}

func join(docs ...string) string { return strings.Join(docs, "---\n") }

// exists reports whether the object is there and not being deleted. A
// prune with foreground propagation leaves the object, with a deletion
// timestamp, until the garbage collector has removed its dependents, which
// may take a moment on a loaded machine; that object has been pruned.
func (f *fixture) exists(obj string) bool {
	f.t.Helper()
	kind, name, _ := strings.Cut(obj, "/")
	var meta metav1.Object
	var err error
	switch kind {
	case "ConfigMap":
		meta, err = f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	case "Deployment":
		meta, err = f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	default:
		f.t.Fatalf("exists: unsupported %s", obj)
	}
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return meta.GetDeletionTimestamp() == nil
}

// Wave 1 starts only after every object of wave 0 is Healthy; the order is
// read from the recorded events, not from timing.
func TestWavesWaitForHealth(t *testing.T) {
	f := newFixture(t)
	res := f.mustSync(join(
		configMapYAML("config", "-1", ""),
		deploymentYAML("web", "0", "registry.example/web:1"),
		configMapYAML("after", "1", ""),
	), f.options())
	want := map[string]gsync.Action{
		"ConfigMap/" + f.ns + "/config": gsync.Created,
		"Deployment/" + f.ns + "/web":   gsync.Created,
		"ConfigMap/" + f.ns + "/after":  gsync.Created,
	}
	for ref, a := range want {
		if actions(res)[ref] != a {
			t.Errorf("%s: %s, want %s", ref, actions(res)[ref], a)
		}
	}
	webHealthy, wave1Started := -1, -1
	for i, e := range f.events {
		if e.Type == gsync.EventObjectHealth && e.Object.Name == "web" && e.Object.Health == "Healthy" && webHealthy < 0 {
			webHealthy = i
		}
		if e.Type == gsync.EventWaveStarted && e.Wave == 1 {
			wave1Started = i
		}
	}
	if webHealthy < 0 || wave1Started < 0 || wave1Started < webHealthy {
		t.Errorf("wave 1 started at event %d, Deployment web Healthy at %d: want wave 1 after", wave1Started, webHealthy)
	}
	sawProgressing := false
	for _, e := range f.events[:webHealthy] {
		if e.Type == gsync.EventObjectHealth && e.Object.Name == "web" && e.Object.Health == "Progressing" {
			sawProgressing = true
		}
	}
	if !sawProgressing {
		t.Logf("the Deployment was Healthy at its first check (fast kwok); order still holds")
	}

	// The result lists objects in plan order: wave, then kind.
	var order []string
	for _, o := range res.Objects {
		order = append(order, o.Kind+"/"+o.Name)
	}
	if got, want := strings.Join(order, " "), "ConfigMap/config Deployment/web ConfigMap/after"; got != want {
		t.Errorf("result order %q, want %q", got, want)
	}

	// A second sync of the same input changes nothing.
	res = f.mustSync(join(
		configMapYAML("config", "-1", ""),
		deploymentYAML("web", "0", "registry.example/web:1"),
		configMapYAML("after", "1", ""),
	), f.options())
	for ref, a := range actions(res) {
		if a != gsync.Unchanged {
			t.Errorf("re-sync: %s %s, want unchanged", ref, a)
		}
	}
}

// A Degraded object fails the sync at once, and later waves are not applied.
func TestDegradedStopsTheSync(t *testing.T) {
	f := newFixture(t)
	stuck := `apiVersion: apps/v1
kind: Deployment
metadata: {name: stuck}
spec:
  replicas: 1
  progressDeadlineSeconds: 1
  selector: {matchLabels: {app: stuck}}
  template:
    metadata: {labels: {app: stuck}}
    spec:
      nodeSelector: {no-such-node: "true"}
      containers: [{name: main, image: registry.example/stuck:1}]
`
	res, err := f.sync(join(stuck, configMapYAML("later", "1", "")), f.options())
	if err == nil || !strings.Contains(err.Error(), "Deployment/"+f.ns+"/stuck is Degraded") {
		t.Fatalf("got %v, want a Degraded error naming the Deployment", err)
	}
	if res.Phase != gsync.PhaseFailed {
		t.Errorf("phase %s", res.Phase)
	}
	if f.exists("ConfigMap/later") {
		t.Errorf("wave 1 was applied after wave 0 failed")
	}
	if a := actions(res)["ConfigMap/"+f.ns+"/later"]; a == gsync.Created {
		t.Errorf("ConfigMap/later reported %s", a)
	}
}

// A custom resource and its definition sync together.
func TestCRDAndCustomResourceInOneSync(t *testing.T) {
	f := newFixture(t)
	group := f.ns + ".example.com"
	res := f.mustSync(fmt.Sprintf(`apiVersion: %[1]s/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.%[1]s}
spec:
  group: %[1]s
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, group), f.options())
	t.Cleanup(func() {
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = f.client.Dynamic.Resource(crds).Delete(context.Background(), "widgets."+group, metav1.DeleteOptions{})
	})
	got := actions(res)
	if got["CustomResourceDefinition/widgets."+group] != gsync.Created || got["Widget/"+f.ns+"/w1"] != gsync.Created {
		t.Errorf("actions %v", got)
	}
	w, err := f.client.Dynamic.Resource(schema.GroupVersionResource{Group: group, Version: "v1", Resource: "widgets"}).Namespace(f.ns).Get(context.Background(), "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the custom resource was not created: %v", err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 3 {
		t.Errorf("spec.size %d", size)
	}
	// The CRD came first in the plan.
	if res.Objects[0].Kind != "CustomResourceDefinition" {
		t.Errorf("first object %s, want the CRD", res.Objects[0].Ref())
	}
}

// Prune deletes what left Git, keeps Prune=false, and never deletes a copy
// that merely carries the ApplySet label.
func TestPrune(t *testing.T) {
	f := newFixture(t)
	f.mustSync(join(
		configMapYAML("keep", "0", ""),
		configMapYAML("gone-early", "0", ""),
		configMapYAML("gone-late", "2", ""),
		configMapYAML("gone-last", "0", `, argocd.argoproj.io/sync-options: "PruneLast=true"`),
		configMapYAML("protected", "0", `, argocd.argoproj.io/sync-options: "Prune=false"`),
	), f.options())

	// A copy of a member, labels and annotations included, made by hand.
	orig, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "keep", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cp := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "copy", Namespace: f.ns, Labels: orig.Labels, Annotations: orig.Annotations}}
	if _, err := f.kube.CoreV1().ConfigMaps(f.ns).Create(context.Background(), cp, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	f.events = nil
	res := f.mustSync(configMapYAML("keep", "0", ""), f.options())
	got := actions(res)
	for ref, want := range map[string]gsync.Action{
		"ConfigMap/" + f.ns + "/keep":       gsync.Unchanged,
		"ConfigMap/" + f.ns + "/gone-early": gsync.Pruned,
		"ConfigMap/" + f.ns + "/gone-late":  gsync.Pruned,
		"ConfigMap/" + f.ns + "/gone-last":  gsync.Pruned,
		"ConfigMap/" + f.ns + "/protected":  gsync.Skipped,
	} {
		if got[ref] != want {
			t.Errorf("%s: %q, want %q", ref, got[ref], want)
		}
	}
	if _, listed := got["ConfigMap/"+f.ns+"/copy"]; listed || !f.exists("ConfigMap/copy") {
		t.Errorf("the hand-made copy was treated as a member (listed %v)", listed)
	}
	if !f.exists("ConfigMap/protected") || f.exists("ConfigMap/gone-early") {
		t.Errorf("after prune: protected exists=%v, gone-early exists=%v", f.exists("ConfigMap/protected"), f.exists("ConfigMap/gone-early"))
	}
	var order []string
	for _, e := range f.events {
		if e.Type == gsync.EventObjectPruned && e.Object.Action == gsync.Pruned {
			order = append(order, e.Object.Name)
		}
	}
	if want := "gone-late gone-early gone-last"; strings.Join(order, " ") != want {
		t.Errorf("prune order %q, want %q (reverse waves, PruneLast at the end)", strings.Join(order, " "), want)
	}

	// An empty render is refused while members remain...
	if _, err := f.sync("", f.options()); err == nil || !strings.Contains(err.Error(), "refusing to prune them all; hint:allow-empty") {
		t.Errorf("empty render: got %v, want a refusal with the allow-empty hint", err)
	}
	if !f.exists("ConfigMap/keep") {
		t.Errorf("the refused empty sync deleted a member")
	}
	// ...and allowed with AllowEmpty.
	o := f.options()
	o.AllowEmpty = true
	f.mustSync("", o)
	if f.exists("ConfigMap/keep") {
		t.Errorf("AllowEmpty did not prune")
	}
}

// One failing dry-run stops the sync before anything is written.
func TestFailedDryRunAppliesNothing(t *testing.T) {
	f := newFixture(t)
	bad := strings.Replace(deploymentYAML("bad", "1", "registry.example/x:1"), "replicas: 2", "replicas: -3", 1)
	res, err := f.sync(join(configMapYAML("good", "0", ""), bad), f.options())
	if err == nil || !strings.Contains(err.Error(), "nothing was applied") || !strings.Contains(err.Error(), "Deployment/"+f.ns+"/bad: ") || !strings.Contains(err.Error(), "spec.replicas") {
		t.Fatalf("got %v", err)
	}
	if f.exists("ConfigMap/good") {
		t.Errorf("ConfigMap/good was applied although a dry-run failed")
	}
	if actions(res)["Deployment/"+f.ns+"/bad"] != gsync.Failed {
		t.Errorf("bad: %v", actions(res))
	}
	for _, o := range res.Objects {
		if o.Name == "good" && (o.Action != gsync.Pending || !strings.Contains(o.Message, "judging the set failed")) {
			t.Errorf("good: %s %q, want pending because judging the set failed", o.Action, o.Message)
		}
	}
}

// Changes made by hand with kubectl are reverted by the next sync; a field
// owned by another controller is a reported conflict.
func TestDriftIsRevertedAndConflictsReported(t *testing.T) {
	f := newFixture(t)
	doc := deploymentYAML("web", "0", "registry.example/web:1")
	f.mustSync(doc, f.options())

	f.editDeployment("web", "kubectl-edit", func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(5)) })
	res := f.mustSync(doc, f.options())
	if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Configured {
		t.Errorf("after kubectl edit: %s, want configured", a)
	}
	d, _ := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d after sync, want 2 (drift reverted)", *d.Spec.Replicas)
	}

	// Another applier takes the image.
	patch := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"spec":{"containers":[{"name":"main","image":"registry.example/web:other"}]}}}}`
	if _, err := f.kube.AppsV1().Deployments(f.ns).Patch(context.Background(), "web", "application/apply-patch+yaml", []byte(patch), metav1.PatchOptions{FieldManager: "other-tool", Force: ptr.To(true)}); err != nil {
		t.Fatal(err)
	}
	_, err := f.sync(doc, f.options())
	if err == nil || !strings.Contains(err.Error(), "owned by another manager (other-tool)") || !strings.Contains(err.Error(), "hint:force-conflicts") {
		t.Fatalf("got %v, want a conflict naming other-tool", err)
	}
	o := f.options()
	o.ForceConflicts = true
	f.mustSync(doc, o)
	d, _ = f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example/web:1" {
		t.Errorf("image %s after --force-conflicts", img)
	}
}

// A second sync of the same app while one holds the lock fails at once,
// naming the holder.
func TestConcurrentSyncIsLockedOut(t *testing.T) {
	f := newFixture(t)
	inv := inventory.Inventory{App: f.app, Namespace: f.ns}
	l, err := lock.Acquire(context.Background(), f.kube, lock.Options{Namespace: f.ns, Name: inv.ParentName(), Holder: "alice@laptop:42"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.sync(configMapYAML("a", "0", ""), f.options())
	var held *lock.HeldError
	if !errors.As(err, &held) || held.Holder != "alice@laptop:42" {
		t.Fatalf("got %v, want a lock error naming alice@laptop:42", err)
	}
	if f.exists("ConfigMap/a") {
		t.Errorf("a locked-out sync wrote")
	}
	l.Release()
	f.mustSync(configMapYAML("a", "0", ""), f.options())
}

// The inventory is an ApplySet parent that records history; no-op syncs
// are recorded, but folded together and never push real changes out.
func TestInventoryAndHistory(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < 3; i++ {
		f.mustSync(configMapYAML("a", "0", ""), f.options())
	}
	inv := inventory.Inventory{App: f.app, Namespace: f.ns}
	st, err := inventory.Load(context.Background(), f.client, inv)
	if err != nil {
		t.Fatal(err)
	}
	// The first sync created; the second and third changed nothing, and
	// the third is folded into the second.
	if len(st.History) != 2 || st.History[0].NoOp || !st.History[1].NoOp || st.History[1].Repeats != 1 || st.History[1].ID != 2 ||
		st.History[1].Phase != gsync.PhaseSucceeded || st.History[1].Commit != "abc" {
		t.Errorf("history %+v", st.History)
	}
	if h := st.History[0]; h.DestNamespace != f.ns || !h.Prune || h.Repo != "test" || h.Path != "." || h.Revision != "HEAD" {
		t.Errorf("the record lacks the app's source and options: %+v", h)
	}
	cm, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels[inventory.LabelPartOf] != inv.ID() {
		t.Errorf("member label %q, want %q", cm.Labels[inventory.LabelPartOf], inv.ID())
	}
	parent, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), inv.ParentName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if parent.Labels[inventory.LabelID] != inv.ID() || parent.Annotations[inventory.AnnotationContainsGroupKind] != "ConfigMap" || !strings.HasPrefix(parent.Annotations[inventory.AnnotationTooling], "kubectl-gitops/") {
		t.Errorf("parent metadata: labels %v annotations %v", parent.Labels, parent.Annotations)
	}
	// With room for two records, a real change supersedes the no-op
	// record, and a later no-op is kept beside both real records.
	o := f.options()
	o.HistoryLimit = 2
	f.mustSync(strings.Replace(configMapYAML("a", "0", ""), "{k: v}", "{k: v2}", 1), o)
	st, _ = inventory.Load(context.Background(), f.client, inv)
	if len(st.History) != 2 || st.History[0].ID != 1 || st.History[1].ID != 3 || st.History[1].NoOp {
		t.Errorf("history after a change with limit 2: %+v", st.History)
	}
	objs, _ := render.Decode([]byte(strings.Replace(configMapYAML("a", "0", ""), "{k: v}", "{k: v2}", 1)))
	if _, err := gsync.New(f.client, o).Run(context.Background(), gsync.Input{App: f.app, Objects: objs, Commit: "def"}); err != nil {
		t.Fatal(err)
	}
	st, _ = inventory.Load(context.Background(), f.client, inv)
	if len(st.History) != 3 || st.History[0].ID != 1 || st.History[1].ID != 3 || st.History[2].ID != 4 || !st.History[2].NoOp {
		t.Errorf("history after a no-op with limit 2: %+v; want both real records and the no-op", st.History)
	}
}

// failFirstWrites answers the first n non-dry-run PATCH requests of the
// object named name with 503 Service Unavailable, as an API server under load
// or restarting would; all other requests reach the real API server.
type failFirstWrites struct {
	next http.RoundTripper
	name string
	mu   gosync.Mutex
	left int
}

func (f *failFirstWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	fail := req.Method == http.MethodPatch && req.URL.Query().Get("dryRun") == "" && strings.HasSuffix(req.URL.Path, "/"+f.name) && f.left > 0
	if fail {
		f.left--
	}
	f.mu.Unlock()
	if !fail {
		return f.next.RoundTrip(req)
	}
	body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server is currently unable to handle the request","reason":"ServiceUnavailable","code":503}`
	return &http.Response{StatusCode: 503, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

func TestRetryOnTransientErrors(t *testing.T) {
	f := newFixture(t)
	cfg := rest.CopyConfig(lc.Config)
	faults := &failFirstWrites{left: 2, name: "retried"}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { faults.next = rt; return faults })
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := render.Decode([]byte(configMapYAML("retried", "0", "")))
	var retries []string
	retry := gsync.RetryOptions{Limit: 3, Backoff: 10 * time.Millisecond, Factor: 2, MaxBackoff: time.Second,
		OnRetry: func(n int, _ time.Duration, err error) { retries = append(retries, err.Error()) }}
	res, err := gsync.New(c, f.options()).RunWithRetry(context.Background(), gsync.Input{App: f.app, Objects: objs}, retry)
	if err != nil {
		t.Fatalf("sync with retries: %v", err)
	}
	if len(retries) != 2 || !strings.Contains(retries[0], "unable to handle the request") {
		t.Errorf("retries %q, want 2 after 503s", retries)
	}
	if actions(res)["ConfigMap/"+f.ns+"/retried"] != gsync.Created {
		t.Errorf("actions %v", actions(res))
	}

	// A validation error is never retried.
	retries = nil
	bad, _ := render.Decode([]byte(strings.Replace(deploymentYAML("bad", "0", "x:1"), "replicas: 2", "replicas: -1", 1)))
	_, err = gsync.New(c, f.options()).RunWithRetry(context.Background(), gsync.Input{App: f.app, Objects: bad}, retry)
	if err == nil || len(retries) != 0 {
		t.Errorf("validation error: err %v, retries %q; want a failure without retries", err, retries)
	}
}

// An immutable field change fails with a pointer to Force=true, and
// Replace=true,Force=true recreates the object. Replace=true alone replaces
// in place (a PUT), and leaves an unchanged object untouched.
func TestImmutableFieldAndReplace(t *testing.T) {
	f := newFixture(t)
	f.mustSync(deploymentYAML("web", "0", "registry.example/web:1"), f.options())
	changed := strings.ReplaceAll(deploymentYAML("web", "0", "registry.example/web:1"), "{app: web}", "{app: web2}")
	_, err := f.sync(changed, f.options())
	if err == nil || !strings.Contains(err.Error(), "immutable") || !strings.Contains(err.Error(), "Force=true") || !strings.Contains(err.Error(), "hint:replace") {
		t.Fatalf("got %v, want an immutable-field error pointing to Force=true", err)
	}
	before, _ := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})

	// Replace=true on an unchanged object touches nothing.
	o := f.options()
	o.SyncOptions = []string{"Replace=true"}
	res := f.mustSync(deploymentYAML("web", "0", "registry.example/web:1"), o)
	same, _ := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Unchanged || same.ResourceVersion != before.ResourceVersion {
		t.Errorf("Replace=true, nothing changed: %s, resourceVersion %s → %s; want unchanged and untouched", a, before.ResourceVersion, same.ResourceVersion)
	}
	// Replace=true with a mutable change replaces in place: same object.
	res = f.mustSync(deploymentYAML("web", "0", "registry.example/web:2"), o)
	inPlace, _ := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Replaced || inPlace.UID != before.UID || inPlace.Spec.Template.Spec.Containers[0].Image != "registry.example/web:2" {
		t.Errorf("Replace=true, image changed: %s, same UID %v, image %s", a, inPlace.UID == before.UID, inPlace.Spec.Template.Spec.Containers[0].Image)
	}
	// ...and an unchanged re-sync after the replace is still untouched.
	res = f.mustSync(deploymentYAML("web", "0", "registry.example/web:2"), o)
	if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Unchanged {
		t.Errorf("Replace=true re-sync after a replace: %s, want unchanged", a)
	}
	// Replace=true alone cannot change an immutable field.
	changed = strings.ReplaceAll(deploymentYAML("web", "0", "registry.example/web:2"), "{app: web}", "{app: web2}")
	if _, err := f.sync(changed, o); err == nil || !strings.Contains(err.Error(), "Force=true") {
		t.Fatalf("Replace=true on an immutable change: got %v, want a pointer to Force=true", err)
	}
	o.SyncOptions = []string{"Replace=true,Force=true"}
	res = f.mustSync(changed, o)
	if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Replaced {
		t.Errorf("action %s, want replaced", a)
	}
	after, err := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil || after.UID == before.UID || after.Spec.Selector.MatchLabels["app"] != "web2" {
		t.Errorf("after Replace,Force: err %v, same UID %v, selector %v", err, after.UID == before.UID, after.Spec.Selector)
	}
	// Replace=true,Force=true on an unchanged object touches nothing.
	res = f.mustSync(changed, o)
	again, _ := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
	if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Unchanged || again.UID != after.UID {
		t.Errorf("Replace,Force re-sync: %s, recreated %v; want unchanged", a, again.UID != after.UID)
	}
}

// PrunePropagationPolicy=orphan leaves a pruned Deployment's ReplicaSet.
func TestPrunePropagationOrphan(t *testing.T) {
	f := newFixture(t)
	doc := strings.Replace(deploymentYAML("web", "0", "registry.example/web:1"), `annotations: {argocd.argoproj.io/sync-wave: "0"}`,
		`annotations: {argocd.argoproj.io/sync-wave: "0", argocd.argoproj.io/sync-options: "PrunePropagationPolicy=orphan"}`, 1)
	f.mustSync(join(doc, configMapYAML("keep", "0", "")), f.options())
	res := f.mustSync(configMapYAML("keep", "0", ""), f.options())
	if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Pruned {
		t.Fatalf("Deployment %s, want pruned", a)
	}
	waitFor(t, func() bool {
		_, err := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	rs, err := f.kube.AppsV1().ReplicaSets(f.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(rs.Items) != 1 || len(rs.Items[0].OwnerReferences) != 0 {
		t.Errorf("ReplicaSets after an orphaning prune: %v, %d", err, len(rs.Items))
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 30s")
}
