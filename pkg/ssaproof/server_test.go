package ssaproof_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ssaproof"
)

var lc *localcluster.Cluster

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, &lc)) }

const manager = inventory.FieldManager

// env is one case's namespace and client.
type env struct {
	t   testing.TB
	c   *cluster.Client
	ns  string
	inv inventory.Inventory
}

func newEnv(t *testing.T, c *cluster.Client) *env {
	ns := testcluster.Namespace(t, lc)
	return &env{t: t, c: c, ns: ns, inv: inventory.Inventory{App: "proof", Namespace: ns}}
}

// object decodes one object and makes it what the sync would apply: in the
// namespace (when namespaced) and marked as a member.
func (e *env) object(y string) *unstructured.Unstructured {
	e.t.Helper()
	objs, err := render.Decode([]byte(y))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(objs) != 1 {
		e.t.Fatalf("want one object, got %d", len(objs))
	}
	return e.prepare(objs[0])
}

func (e *env) prepare(o *unstructured.Unstructured) *unstructured.Unstructured {
	e.t.Helper()
	_, namespaced := e.resource(o)
	if namespaced {
		o.SetNamespace(e.ns)
	} else {
		o.SetNamespace("")
	}
	e.inv.Mark(o)
	return o
}

func (e *env) resource(o *unstructured.Unstructured) (schema.GroupVersionResource, bool) {
	e.t.Helper()
	gvr, namespaced, err := e.c.Resource(o.GroupVersionKind())
	if err != nil {
		e.t.Fatal(err)
	}
	return gvr, namespaced
}

func (e *env) ri(o *unstructured.Unstructured) interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions, sub ...string) (*unstructured.Unstructured, error)
	Update(ctx context.Context, obj *unstructured.Unstructured, opts metav1.UpdateOptions, sub ...string) (*unstructured.Unstructured, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, sub ...string) (*unstructured.Unstructured, error)
} {
	gvr, namespaced := e.resource(o)
	if namespaced {
		return e.c.Dynamic.Resource(gvr).Namespace(o.GetNamespace())
	}
	return e.c.Dynamic.Resource(gvr)
}

// apply server-side applies o as manager (with force), or dry-runs it.
func (e *env) apply(o *unstructured.Unstructured, mgr string, dryRun bool) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(o.Object)
	if err != nil {
		e.t.Fatal(err)
	}
	opts := metav1.PatchOptions{FieldManager: mgr, Force: ptr.To(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return e.ri(o).Patch(context.Background(), o.GetName(), types.ApplyPatchType, body, opts)
}

func (e *env) mustApply(o *unstructured.Unstructured, mgr string) {
	e.t.Helper()
	if _, err := e.apply(o, mgr, false); err != nil {
		e.t.Fatalf("apply %s/%s as %s: %v", o.GetKind(), o.GetName(), mgr, err)
	}
}

func (e *env) get(o *unstructured.Unstructured) *unstructured.Unstructured {
	e.t.Helper()
	live, err := e.ri(o).Get(context.Background(), o.GetName(), metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return live
}

// update reads o, changes it with fn and writes it back as mgr (kubectl
// edit, replace).
func (e *env) update(o *unstructured.Unstructured, mgr string, fn func(m map[string]any)) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live := e.get(o)
		fn(live.Object)
		_, err := e.ri(o).Update(context.Background(), live, metav1.UpdateOptions{FieldManager: mgr})
		return err
	})
	if err != nil {
		e.t.Fatalf("update as %s: %v", mgr, err)
	}
}

// patch patches o as mgr (kubectl label, annotate, scale, client-side apply).
func (e *env) patch(o *unstructured.Unstructured, mgr string, pt types.PatchType, body string, sub ...string) {
	e.t.Helper()
	if _, err := e.ri(o).Patch(context.Background(), o.GetName(), pt, []byte(body), metav1.PatchOptions{FieldManager: mgr}, sub...); err != nil {
		e.t.Fatalf("patch as %s: %v", mgr, err)
	}
}

// serverCase is one object applied, changed, and judged.
type serverCase struct {
	name string
	// initial is applied first by kubectl-gitops, with force.
	initial string
	// initialObj is used instead of initial when set.
	initialObj *unstructured.Unstructured
	// before runs before the initial apply (another manager first).
	before func(e *env, o *unstructured.Unstructured)
	// live changes the live object after the initial apply.
	live func(e *env, o *unstructured.Unstructured)
	// desired is the object to judge; the initial one when empty.
	desired string
	// edit changes the desired object.
	edit func(d map[string]any)
	// proven: the local proof must say unchanged.
	proven bool
}

type row struct {
	name       string
	local      ssaproof.Verdict
	serverSame bool
	serverErr  string
	changed    []string
}

type results struct {
	mu   gosync.Mutex
	rows []row
}

func (r *results) add(x row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rows = append(r.rows, x)
}

func runCase(t *testing.T, c *cluster.Client, res *results, tc serverCase) {
	// A number first keeps the namespace names, cut at 40 characters,
	// apart.
	n := caseNumber.Add(1)
	t.Run(fmt.Sprintf("%03d_%s", n, safeName(tc.name)), func(t *testing.T) {
		e := newEnv(t, c)
		var initial *unstructured.Unstructured
		if tc.initialObj != nil {
			initial = e.prepare(&unstructured.Unstructured{Object: copyJSON(tc.initialObj.Object).(map[string]any)})
		} else {
			initial = e.object(tc.initial)
		}
		if tc.before != nil {
			tc.before(e, initial)
		}
		e.mustApply(initial, manager)
		if tc.live != nil {
			tc.live(e, initial)
		}
		var desired *unstructured.Unstructured
		switch {
		case tc.desired != "":
			desired = e.object(tc.desired)
		default:
			desired = &unstructured.Unstructured{Object: copyJSON(initial.Object).(map[string]any)}
		}
		if tc.edit != nil {
			tc.edit(desired.Object)
		}
		// Controllers write status while we look: judge one live version,
		// the one read before and after the dry-run.
		var live, out *unstructured.Unstructured
		var err error
		for try := 0; ; try++ {
			live = e.get(desired) // at the desired apiVersion, as the sync lists it
			out, err = e.apply(desired, manager, true)
			if after := e.get(desired); after.GetResourceVersion() == live.GetResourceVersion() {
				break
			}
			if try == 50 {
				t.Fatal("the live object does not settle")
			}
			time.Sleep(200 * time.Millisecond)
		}
		local := ssaproof.Prove(live, desired, manager)
		// The verdict's reason is shown by diff and status: swept.
		leaksweep.Capture(t, "ssaproof.Prove verdict", fmt.Sprintf("%+v", local))
		r := row{name: tc.name, local: local}
		if err != nil {
			r.serverErr = err.Error()
			leaksweep.Capture(t, "server dry-run error", r.serverErr)
		} else {
			r.changed = changedPaths(comparable(live), comparable(out))
			r.serverSame = len(r.changed) == 0
		}
		res.add(r)
		checkAtomic(t, live, manager)
		if local.Unchanged && !r.serverSame {
			t.Errorf("UNSOUND: proven unchanged, but the server's dry-run changed %v %s", r.changed, r.serverErr)
		}
		if tc.proven && !local.Unchanged {
			t.Errorf("not proven: %s (server unchanged: %v)", local.Reason, r.serverSame)
		}
	})
}

// checkAtomic checks the atomic table against the server: wherever the
// manager's field set reaches a field the table calls atomic, the server
// recorded it as one leaf.
func checkAtomic(t *testing.T, live *unstructured.Unstructured, mgr string) {
	t.Helper()
	var fields map[string]any
	gvk := live.GroupVersionKind()
	for _, e := range live.GetManagedFields() {
		if e.Manager == mgr && e.Operation == metav1.ManagedFieldsOperationApply && e.FieldsV1 != nil {
			if err := json.Unmarshal(e.FieldsV1.Raw, &fields); err != nil {
				t.Fatal(err)
			}
			gvk = schema.FromAPIVersionAndKind(e.APIVersion, gvk.Kind) // the set is at its entry's version
		}
	}
	for _, path := range ssaproof.AtomicPaths(gvk) {
		var walk func(n map[string]any, rest []string)
		walk = func(n map[string]any, rest []string) {
			if len(rest) == 0 {
				for k := range n {
					if k != "." {
						t.Errorf("%s is in the atomic table, but the server recorded fields below it (%s)", path, k)
					}
				}
				return
			}
			for k, v := range n {
				child, _ := v.(map[string]any)
				if rest[0] == "*" && (strings.HasPrefix(k, "k:") || strings.HasPrefix(k, "v:") || strings.HasPrefix(k, "i:")) || k == "f:"+rest[0] {
					walk(child, rest[1:])
				}
			}
		}
		walk(fields, strings.Split(path, "."))
	}
}

// copyJSON copies maps and lists and keeps scalars as they are:
// kustomize's output holds int, which DeepCopy refuses.
func copyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyJSON(e)
		}
		return out
	}
	return v
}

var caseNumber atomic.Int64

// safeName keeps a case name usable in a namespace name.
func safeName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '-' {
			return r
		}
		return '_'
	}, name)
}

// comparable is what pkg/sync's sameObject compares: the object without
// resourceVersion, generation and managedFields times.
func comparable(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "resourceVersion")
	unstructured.RemoveNestedField(c.Object, "metadata", "generation")
	if mf, ok, _ := unstructured.NestedSlice(c.Object, "metadata", "managedFields"); ok {
		for _, e := range mf {
			if m, ok := e.(map[string]any); ok {
				delete(m, "time")
			}
		}
		_ = unstructured.SetNestedSlice(c.Object, mf, "metadata", "managedFields")
	}
	return c.Object
}

// changedPaths lists where b differs from a; managedFields by manager.
func changedPaths(a, b map[string]any) []string {
	var out []string
	var walk func(path string, x, y any)
	walk = func(path string, x, y any) {
		if reflect.DeepEqual(x, y) {
			return
		}
		if path == ".metadata.managedFields" {
			byManager := func(v any) map[string]any {
				m := map[string]any{}
				l, _ := v.([]any)
				for _, e := range l {
					em, _ := e.(map[string]any)
					m[fmt.Sprintf("%v/%v/%v", em["manager"], em["operation"], em["subresource"])] = e
				}
				return m
			}
			xm, ym := byManager(x), byManager(y)
			for k := range merge(xm, ym) {
				if !reflect.DeepEqual(xm[k], ym[k]) {
					out = append(out, "managedFields["+strings.TrimSuffix(k, "/<nil>")+"]")
				}
			}
			return
		}
		xm, xok := x.(map[string]any)
		ym, yok := y.(map[string]any)
		if xok && yok {
			for k := range merge(xm, ym) {
				walk(path+"."+k, xm[k], ym[k])
			}
			return
		}
		out = append(out, path)
	}
	walk("", a, b)
	sort.Strings(out)
	return out
}

func merge(a, b map[string]any) map[string]bool {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return keys
}

func newClient(t testing.TB) *cluster.Client {
	c, err := cluster.New(lc.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// report logs the cases as a table and the counts, and checks that the
// plain re-applies were proven.
func (r *results) report(t *testing.T) {
	sort.Slice(r.rows, func(i, j int) bool { return r.rows[i].name < r.rows[j].name })
	var b strings.Builder
	var proven, notProven, serverSame, serverChanged, serverErr, conservative int
	for _, x := range r.rows {
		local := "unchanged"
		if !x.local.Unchanged {
			local = "not proven: " + x.local.Reason
			notProven++
		} else {
			proven++
		}
		server := "unchanged"
		switch {
		case x.serverErr != "":
			server = "error: " + x.serverErr
			serverErr++
		case !x.serverSame:
			server = "changed " + strings.Join(x.changed, " ")
			serverChanged++
		default:
			serverSame++
			if !x.local.Unchanged {
				conservative++
			}
		}
		fmt.Fprintf(&b, "%s\n    local: %s\n    server: %s\n", x.name, local, server)
	}
	t.Logf("cases:\n%s", b.String())
	t.Logf("%d cases: local proven unchanged %d, not proven %d; server unchanged %d, changed %d, error %d; server unchanged but not proven (a dry-run that was not needed) %d",
		len(r.rows), proven, notProven, serverSame, serverChanged, serverErr, conservative)
	if out := os.Getenv("SSAPROOF_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// The benchmark app's objects (pkg/sync's benchApp), one service.
const (
	benchConfigMap = `apiVersion: v1
kind: ConfigMap
metadata: {name: svc-000, annotations: {argocd.argoproj.io/sync-wave: "0"}}
data: {LOG_LEVEL: info}
`
	benchServiceAccount = `apiVersion: v1
kind: ServiceAccount
metadata: {name: svc-000, annotations: {argocd.argoproj.io/sync-wave: "0"}}
`
	benchDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: svc-000, annotations: {argocd.argoproj.io/sync-wave: "1"}}
spec:
  replicas: 1
  selector: {matchLabels: {app: svc-000}}
  template:
    metadata: {labels: {app: svc-000}}
    spec:
      serviceAccountName: svc-000
      containers: [{name: main, image: "registry.example/svc-000:1.0"}]
`
	benchService = `apiVersion: v1
kind: Service
metadata: {name: svc-000, annotations: {argocd.argoproj.io/sync-wave: "1"}}
spec: {selector: {app: svc-000}, ports: [{port: 80}]}
`
	benchHPA = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: svc-000, annotations: {argocd.argoproj.io/sync-wave: "2"}}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: svc-000}, minReplicas: 1, maxReplicas: 3}
`
	benchPDB = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: svc-000, annotations: {argocd.argoproj.io/sync-wave: "2"}}
spec: {minAvailable: 0, selector: {matchLabels: {app: svc-000}}}
`
)

// A richer Deployment for the hand-made cases.
const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web, extra: "yes"}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: main
        image: registry.example/web:1.0
        args: [serve, --port=8000]
        env:
        - {name: A, value: "1"}
        - {name: B, value: "2"}
        ports:
        - {containerPort: 8000}
        - {containerPort: 9090, name: metrics}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
      - name: side
        image: registry.example/side:1.0
`

const webService = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8000}
  - {name: metrics, port: 9090}
`

// genericMutations apply to any object: changes through metadata, which
// every kind has.
func genericMutations(base string) []serverCase {
	return []serverCase{
		{name: "re-apply", initial: base, proven: true},
		{name: "kubectl-label adds a label", initial: base, proven: true, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl-label", types.MergePatchType, `{"metadata":{"labels":{"by-hand":"x"}}}`)
		}},
		{name: "kubectl-annotate adds an annotation", initial: base, proven: true, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl-annotate", types.MergePatchType, `{"metadata":{"annotations":{"by-hand":"x"}}}`)
		}},
		{name: "kubectl-label overwrites our label", initial: base, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl-label", types.MergePatchType, `{"metadata":{"labels":{"`+inventory.LabelPartOf+`":"other"}}}`)
		}},
		{name: "kubectl-edit saves without a change", initial: base, proven: true, live: func(e *env, o *unstructured.Unstructured) {
			e.update(o, "kubectl-edit", func(map[string]any) {})
		}},
		{name: "label added in Git", initial: base, edit: func(d map[string]any) {
			_ = unstructured.SetNestedField(d, "new", "metadata", "labels", "added")
		}},
		{name: "label removed from Git", initial: base, edit: func(d map[string]any) {
			unstructured.RemoveNestedField(d, "metadata", "labels", inventory.LabelPartOf)
		}},
		{name: "another applier shares our fields", initial: base, proven: true, live: func(e *env, o *unstructured.Unstructured) {
			e.mustApply(o, "other-applier")
		}},
		{name: "another applier takes our label with force", initial: base, live: func(e *env, o *unstructured.Unstructured) {
			c := &unstructured.Unstructured{Object: copyJSON(o.Object).(map[string]any)}
			_ = unstructured.SetNestedField(c.Object, "other", "metadata", "labels", inventory.LabelPartOf)
			e.mustApply(c, "other-applier")
		}},
	}
}

func TestProofAgainstServer(t *testing.T) {
	c := newClient(t)
	res := &results{}
	t.Cleanup(func() { res.report(t) })

	t.Run("demo", func(t *testing.T) {
		root, err := filepath.Abs(filepath.Join("..", "..", "testdata", "config-repo"))
		if err != nil {
			t.Fatal(err)
		}
		overlays, err := filepath.Glob(filepath.Join(root, "apps", "*", "overlays", "*"))
		if err != nil || len(overlays) == 0 {
			t.Fatalf("no overlays: %v", err)
		}
		for _, dir := range overlays {
			rel, _ := filepath.Rel(root, dir)
			objs, err := render.Render(root, rel, render.Options{})
			if err != nil {
				t.Fatalf("render %s: %v", rel, err)
			}
			for _, o := range objs {
				name := strings.ReplaceAll(rel, string(filepath.Separator), "/") + "/" + o.GetKind() + "/" + o.GetName()
				cases := genericMutations("")
				if !strings.HasSuffix(rel, "production") {
					cases = cases[:1] // every object re-applied; the mutations on production
				}
				for _, tc := range cases {
					tc.name = name + "/" + tc.name
					tc.initialObj = o
					runCase(t, c, res, tc)
				}
			}
		}
	})

	t.Run("bench", func(t *testing.T) {
		for _, base := range []string{benchConfigMap, benchServiceAccount, benchDeployment, benchService, benchHPA, benchPDB} {
			kind := strings.Fields(strings.SplitN(base, "kind:", 2)[1])[0]
			for _, tc := range genericMutations(base) {
				tc.name = kind + "/" + tc.name
				runCase(t, c, res, tc)
			}
		}
	})

	t.Run("hand", func(t *testing.T) {
		for _, tc := range handCases() {
			runCase(t, c, res, tc)
		}
	})

	t.Run("crd", func(t *testing.T) {
		for _, tc := range crdCases(t, c) {
			runCase(t, c, res, tc)
		}
	})
}

// containersOf returns the pod template's containers of a Deployment map.
func containersOf(m map[string]any) []any {
	cs, _, _ := unstructured.NestedSlice(m, "spec", "template", "spec", "containers")
	return cs
}

func setContainers(m map[string]any, cs []any) {
	_ = unstructured.SetNestedSlice(m, cs, "spec", "template", "spec", "containers")
}

// container edits the first container of a Deployment map.
func container(fn func(c map[string]any)) func(m map[string]any) {
	return func(m map[string]any) {
		cs := containersOf(m)
		fn(cs[0].(map[string]any))
		setContainers(m, cs)
	}
}

func deploymentWith(fn func(m map[string]any)) string {
	objs, err := render.Decode([]byte(webDeployment))
	if err != nil {
		panic(err)
	}
	fn(objs[0].Object)
	b, err := json.Marshal(objs[0].Object)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func handCases() []serverCase {
	requests := func(cpu, memory any) string {
		return deploymentWith(container(func(c map[string]any) {
			c["resources"] = map[string]any{"requests": map[string]any{"cpu": cpu, "memory": memory}}
		}))
	}
	cases := []serverCase{
		{name: "deployment/re-apply", initial: webDeployment, proven: true},
		{name: "service/re-apply", initial: webService, proven: true},
		{name: "deployment/kubectl edit changes the image", initial: webDeployment, live: func(e *env, o *unstructured.Unstructured) {
			e.update(o, "kubectl-edit", container(func(c map[string]any) { c["image"] = "registry.example/web:hotfix" }))
		}},
		{name: "deployment/kubectl edit adds a field we do not own", initial: webDeployment, proven: true, live: func(e *env, o *unstructured.Unstructured) {
			e.update(o, "kubectl-edit", func(m map[string]any) { _ = unstructured.SetNestedField(m, int64(5), "spec", "minReadySeconds") })
		}},
		{name: "deployment/kubectl edit adds an env var", initial: webDeployment, proven: true, live: func(e *env, o *unstructured.Unstructured) {
			e.update(o, "kubectl-edit", container(func(c map[string]any) {
				c["env"] = append(c["env"].([]any), map[string]any{"name": "DEBUG", "value": "1"})
			}))
		}},
		{name: "deployment/kubectl scale", initial: webDeployment, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl", types.MergePatchType, `{"spec":{"replicas":5}}`, "scale")
		}},
		{name: "deployment/kubectl scale to the same count", initial: webDeployment, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl", types.MergePatchType, `{"spec":{"replicas":2}}`, "scale")
		}},
		{name: "deployment/kubectl client-side apply changes replicas", initial: webDeployment, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl-client-side-apply", types.StrategicMergePatchType,
				`{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"spec\":{\"replicas\":3}}"}},"spec":{"replicas":3}}`)
		}},
		{name: "deployment/kubectl client-side apply of a field we do not own", initial: webDeployment, proven: true, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl-client-side-apply", types.StrategicMergePatchType,
				`{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"spec\":{\"minReadySeconds\":3}}"}},"spec":{"minReadySeconds":3}}`)
		}},
		{name: "deployment/another applier takes replicas with force", initial: webDeployment, live: func(e *env, o *unstructured.Unstructured) {
			c := &unstructured.Unstructured{Object: copyJSON(o.Object).(map[string]any)}
			_ = unstructured.SetNestedField(c.Object, int64(4), "spec", "replicas")
			e.mustApply(c, "hpa-like-controller")
		}},
		{name: "deployment/replicas removed from Git", initial: webDeployment, edit: func(m map[string]any) {
			unstructured.RemoveNestedField(m, "spec", "replicas")
		}},
		{name: "deployment/minReadySeconds added in Git", initial: webDeployment, edit: func(m map[string]any) {
			_ = unstructured.SetNestedField(m, int64(5), "spec", "minReadySeconds")
		}},
		{name: "deployment/image changed in Git", initial: webDeployment, edit: container(func(c map[string]any) { c["image"] = "registry.example/web:2.0" })},
		{name: "deployment/containers reordered in Git", initial: webDeployment, edit: func(m map[string]any) {
			cs := containersOf(m)
			setContainers(m, []any{cs[1], cs[0]})
		}},
		{name: "deployment/env reordered in Git", initial: webDeployment, edit: container(func(c map[string]any) {
			env := c["env"].([]any)
			c["env"] = []any{env[1], env[0]}
		})},
		{name: "deployment/container ports reordered in Git", initial: webDeployment, edit: container(func(c map[string]any) {
			p := c["ports"].([]any)
			c["ports"] = []any{p[1], p[0]}
		})},
		{name: "deployment/args reordered in Git", initial: webDeployment, edit: container(func(c map[string]any) {
			c["args"] = []any{"--port=8000", "serve"}
		})},
		{name: "deployment/cpu 1000m re-applied", initial: requests("1000m", "128Mi")},
		{name: "deployment/cpu 1000m then 1", initial: requests("1000m", "128Mi"), desired: requests("1", "128Mi")},
		{name: "deployment/cpu 1 then 1000m", initial: requests("1", "128Mi"), desired: requests("1000m", "128Mi")},
		{name: "deployment/cpu as integer 1 re-applied", initial: requests(int64(1), "128Mi")},
		{name: "deployment/cpu 1 re-applied", initial: requests("1", "128Mi"), proven: true},
		{name: "deployment/memory 1Gi then 1024Mi", initial: requests("1", "1Gi"), desired: requests("1", "1024Mi")},
		{name: "deployment/memory 1024Mi then 1Gi", initial: requests("1", "1024Mi"), desired: requests("1", "1Gi")},
		{name: "deployment/memory 1024Mi re-applied", initial: requests("1", "1024Mi")},
		{name: "deployment/memory 1Gi re-applied", initial: requests("1", "1Gi"), proven: true},
		{name: "deployment/imagePullPolicy explicit in Git later", initial: webDeployment, edit: container(func(c map[string]any) { c["imagePullPolicy"] = "IfNotPresent" })},
		{name: "deployment/imagePullPolicy explicit re-applied", initial: deploymentWith(container(func(c map[string]any) { c["imagePullPolicy"] = "IfNotPresent" })), proven: true},
		{name: "deployment/strategy explicit in Git later", initial: webDeployment, edit: func(m map[string]any) {
			m["spec"].(map[string]any)["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": "25%", "maxUnavailable": "25%"}}
		}},
		{name: "deployment/strategy explicit re-applied", proven: true, initial: deploymentWith(func(m map[string]any) {
			m["spec"].(map[string]any)["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": "25%", "maxUnavailable": "25%"}}
		})},
		{name: "deployment/strategy {} then the defaults spelled out", initial: deploymentWith(func(m map[string]any) {
			m["spec"].(map[string]any)["strategy"] = map[string]any{}
		}), edit: func(m map[string]any) {
			m["spec"].(map[string]any)["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": "25%", "maxUnavailable": "25%"}}
		}},
		{name: "deployment/strategy {} re-applied", initial: deploymentWith(func(m map[string]any) {
			m["spec"].(map[string]any)["strategy"] = map[string]any{}
		})},
		{name: "deployment/replicas 2.0 in YAML", initial: webDeployment, desired: strings.Replace(webDeployment, "replicas: 2", "replicas: 2.0", 1)},
		{name: "deployment/replicas 2.5 in YAML", initial: webDeployment, desired: strings.Replace(webDeployment, "replicas: 2", "replicas: 2.5", 1)},
		{name: "deployment/empty pod annotations in Git", initial: webDeployment, edit: func(m map[string]any) {
			_ = unstructured.SetNestedMap(m, map[string]any{}, "spec", "template", "metadata", "annotations")
		}},
		{name: "deployment/empty pod annotations re-applied", initial: deploymentWith(func(m map[string]any) {
			_ = unstructured.SetNestedMap(m, map[string]any{}, "spec", "template", "metadata", "annotations")
		})},
		{name: "deployment/empty resources and securityContext re-applied", proven: true, initial: deploymentWith(container(func(c map[string]any) {
			c["resources"] = map[string]any{}
			c["securityContext"] = map[string]any{}
		}))},
		{name: "deployment/null nodeSelector in Git", initial: webDeployment, edit: func(m map[string]any) {
			_ = unstructured.SetNestedField(m, nil, "spec", "template", "spec", "nodeSelector")
		}},
		{name: "deployment/null creationTimestamp in Git", initial: webDeployment, edit: func(m map[string]any) {
			m["metadata"].(map[string]any)["creationTimestamp"] = nil
		}},
		{name: "deployment/status in Git", initial: webDeployment, edit: func(m map[string]any) {
			m["status"] = map[string]any{"replicas": int64(2)}
		}},
		{name: "deployment/args emptied in Git", initial: webDeployment, edit: container(func(c map[string]any) { c["args"] = []any{} })},
		{name: "service/protocol TCP explicit in Git later", initial: webService, edit: func(m map[string]any) {
			ports, _, _ := unstructured.NestedSlice(m, "spec", "ports")
			ports[0].(map[string]any)["protocol"] = "TCP"
			_ = unstructured.SetNestedSlice(m, ports, "spec", "ports")
		}},
		{name: "service/protocol TCP explicit re-applied", proven: true, initial: strings.Replace(webService, "port: 80,", "port: 80, protocol: TCP,", 1)},
		{name: "service/ports reordered in Git", initial: webService, edit: func(m map[string]any) {
			ports, _, _ := unstructured.NestedSlice(m, "spec", "ports")
			_ = unstructured.SetNestedSlice(m, []any{ports[1], ports[0]}, "spec", "ports")
		}},
		{name: "service/type ClusterIP explicit in Git later", initial: webService, edit: func(m map[string]any) {
			_ = unstructured.SetNestedField(m, "ClusterIP", "spec", "type")
		}},
		{name: "service/kubectl edit of the selector", initial: webService, live: func(e *env, o *unstructured.Unstructured) {
			e.update(o, "kubectl-edit", func(m map[string]any) { _ = unstructured.SetNestedField(m, "x", "spec", "selector", "extra") })
		}},
		{name: "hpa/re-apply with metrics", proven: true, initial: hpaV2},
		{name: "hpa/applied as autoscaling/v1, desired as v2", initial: hpaV1, desired: hpaV2},
		{name: "hpa/applied as autoscaling/v2, desired as v1", initial: hpaV2, desired: hpaV1},
		{name: "hpa/autoscaling/v1 re-applied", proven: true, initial: hpaV1},
		{name: "secret/data re-applied", proven: true, initial: secretData},
		{name: "secret/stringData re-applied", initial: secretStringData},
		{name: "secret/stringData then the same data", initial: secretStringData, desired: secretData},
		{name: "secret/data then the same stringData", initial: secretData, desired: secretStringData},
		{name: "secret/data value changed in Git", initial: secretData, desired: strings.Replace(secretData, "c2VjcmV0LXBhc3N3b3Jk", "b3RoZXItcGFzc3dvcmQ=", 1)},
		{name: "secret/kubectl edit changes a value", initial: secretData, live: func(e *env, o *unstructured.Unstructured) {
			e.update(o, "kubectl-edit", func(m map[string]any) { _ = unstructured.SetNestedField(m, "b3RoZXItcGFzc3dvcmQ=", "data", "password") })
		}},
		{name: "configmap/before-first-apply: created by kubectl create", initial: benchConfigMap, before: func(e *env, o *unstructured.Unstructured) {
			c := o.DeepCopy()
			if _, err := e.c.Dynamic.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(c.GetNamespace()).Create(context.Background(), c, metav1.CreateOptions{FieldManager: "kubectl-create"}); err != nil {
				e.t.Fatal(err)
			}
		}},
		{name: "configmap/managedFields cleared", initial: benchConfigMap, live: func(e *env, o *unstructured.Unstructured) {
			e.patch(o, "kubectl-edit", types.MergePatchType, `{"metadata":{"managedFields":[{}]}}`)
		}},
	}
	for i := range cases {
		if cases[i].desired == "" && cases[i].edit == nil && cases[i].live == nil && cases[i].before == nil && !strings.Contains(cases[i].name, "re-appl") {
			panic("case without a change: " + cases[i].name)
		}
	}
	return cases
}

const hpaV2 = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 6
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 70}
`

const hpaV1 = `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 6
  targetCPUUtilizationPercentage: 70
`

const secretData = `apiVersion: v1
kind: Secret
metadata: {name: db}
type: Opaque
data: {password: c2VjcmV0LXBhc3N3b3Jk}
`

const secretStringData = `apiVersion: v1
kind: Secret
metadata: {name: db}
type: Opaque
stringData: {password: secret-password}
`

const crdDefaults = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.proof.example.dev}
spec:
  group: proof.example.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, default: 1}
              color: {type: string}
              ratio: {type: number}
              tags: {type: array, items: {type: string}}
              ports:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    port: {type: integer}
              config:
                type: object
                properties:
                  mode: {type: string, default: fast}
                  level: {type: integer}
              labels:
                type: object
                additionalProperties: {type: string}
`

const crdOpen = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: blobs.proof.example.dev}
spec:
  group: proof.example.dev
  scope: Namespaced
  names: {plural: blobs, singular: blob, kind: Blob, listKind: BlobList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`

const widget = `apiVersion: proof.example.dev/v1
kind: Widget
metadata: {name: w}
spec:
  size: 3
  color: blue
  ports: [{name: http, port: 80}, {name: grpc, port: 90}]
  config: {mode: slow, level: 2}
  labels: {a: b}
`

const blob = `apiVersion: proof.example.dev/v1
kind: Blob
metadata: {name: b}
spec:
  anything: {nested: {deep: 1}, flag: true}
  name: x
`

// crdCases applies the two definitions (once, cluster-wide) and returns the
// cases of their custom resources.
func crdCases(t *testing.T, c *cluster.Client) []serverCase {
	e := &env{t: t, c: c}
	for _, y := range []string{crdDefaults, crdOpen} {
		crd := e.object(y)
		e.mustApply(crd, manager)
		t.Cleanup(func() {
			gvr, _ := e.resource(crd)
			_ = c.Dynamic.Resource(gvr).Delete(context.Background(), crd.GetName(), metav1.DeleteOptions{})
		})
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			live := e.get(crd)
			conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			t.Fatalf("%s not established: %v", crd.GetName(), err)
		}
	}
	for _, gvk := range []schema.GroupVersionKind{{Group: "proof.example.dev", Version: "v1", Kind: "Widget"}, {Group: "proof.example.dev", Version: "v1", Kind: "Blob"}} {
		if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			_, _, err := c.Resource(gvk)
			return err == nil, nil
		}); err != nil {
			t.Fatalf("%s not served: %v", gvk.Kind, err)
		}
	}
	spec := func(fn func(s map[string]any)) func(m map[string]any) {
		return func(m map[string]any) { fn(m["spec"].(map[string]any)) }
	}
	return []serverCase{
		{name: "crd/definition re-applied", initial: crdDefaults, proven: false},
		{name: "widget/re-apply", initial: widget, proven: true},
		{name: "widget/defaulted size spelled out in Git", initial: strings.Replace(widget, "  size: 3\n", "", 1), desired: strings.Replace(widget, "size: 3", "size: 1", 1)},
		{name: "widget/config {} then the default spelled out", initial: strings.Replace(widget, "config: {mode: slow, level: 2}", "config: {}", 1),
			desired: strings.Replace(widget, "config: {mode: slow, level: 2}", "config: {mode: fast}", 1)},
		{name: "widget/config {} re-applied", initial: strings.Replace(widget, "config: {mode: slow, level: 2}", "config: {}", 1)},
		{name: "widget/tags, an atomic list, re-applied", initial: strings.Replace(widget, "color: blue", "color: blue\n  tags: [red, green]", 1)},
		{name: "widget/ports reordered in Git", initial: widget, edit: spec(func(s map[string]any) {
			p := s["ports"].([]any)
			s["ports"] = []any{p[1], p[0]}
		})},
		{name: "widget/port removed from Git", initial: widget, edit: spec(func(s map[string]any) { s["ports"] = s["ports"].([]any)[:1] })},
		{name: "widget/ratio 1.5 re-applied", proven: true, initial: strings.Replace(widget, "color: blue", "color: blue\n  ratio: 1.5", 1)},
		{name: "widget/ratio 2.0 re-applied", initial: strings.Replace(widget, "color: blue", "color: blue\n  ratio: 2.0", 1)},
		{name: "widget/kubectl edit of a label", initial: widget, live: func(e *env, o *unstructured.Unstructured) {
			e.update(o, "kubectl-edit", func(m map[string]any) { _ = unstructured.SetNestedField(m, "c", "spec", "labels", "a") })
		}},
		{name: "blob/re-apply", initial: blob, proven: true},
		{name: "blob/list inside re-applied", initial: strings.Replace(blob, "name: x", "name: x\n  list: [1, 2]", 1)},
		{name: "blob/nested value changed in Git", initial: blob, desired: strings.Replace(blob, "deep: 1", "deep: 2", 1)},
		{name: "blob/nested field removed from Git", initial: blob, desired: strings.Replace(blob, "flag: true", "", 1)},
		{name: "blob/empty object re-applied", initial: strings.Replace(blob, "name: x", "name: x\n  empty: {}", 1)},
		{name: "blob/null value in Git", initial: blob, desired: strings.Replace(blob, "name: x", "name: null", 1)},
	}
}
