package sync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func (f *fixture) input(stream string) gsync.Input {
	f.t.Helper()
	objs, err := render.Decode([]byte(strings.ReplaceAll(stream, "{{ns}}", f.ns)))
	if err != nil {
		f.t.Fatal(err)
	}
	return gsync.Input{App: f.app, Objects: objs, Repo: "test", Path: ".", Revision: "HEAD", Commit: "abc"}
}

func (f *fixture) history() []inventory.Record {
	f.t.Helper()
	st, err := inventory.Load(context.Background(), f.client, inventory.Inventory{App: f.app, Namespace: f.ns})
	if err != nil {
		f.t.Fatal(err)
	}
	return st.History
}

// Compare writes nothing, not even the inventory namespace or the lock, and
// returns the whole order: waves with their steps, then prunes in order.
func TestCompareIsReadOnlyAndOrdered(t *testing.T) {
	f := newFixture(t)
	f.mustSync(join(configMapYAML("old-a", "0", ""), configMapYAML("old-b", "3", ""), configMapYAML("stays", "0", "")), f.options())

	in := f.input(join(
		`apiVersion: v1
kind: Namespace
metadata: {name: {{ns}}-extra, annotations: {argocd.argoproj.io/sync-wave: "1"}}
`,
		configMapYAML("stays", "0", ""),
		deploymentYAML("web", "1", "registry.example/web:1"),
	))
	before := in.Objects[1].DeepCopy()
	c, _ := cluster.New(lc.Config)
	cs, err := gsync.New(c, f.options()).Compare(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Requests.Writes != 0 {
		t.Errorf("Compare made %d writes", cs.Requests.Writes)
	}
	if _, err := f.kube.CoreV1().Namespaces().Get(context.Background(), f.ns+"-extra", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Compare created the namespace: %v", err)
	}
	if fmt.Sprint(in.Objects[1].Object) != fmt.Sprint(before.Object) {
		t.Errorf("Compare changed its input")
	}
	var got []string
	for _, ch := range cs.Changes {
		got = append(got, fmt.Sprintf("%d %s %s/%s", ch.Step, ch.Action, ch.Kind, ch.Name))
	}
	want := []string{
		"0 unchanged ConfigMap/stays",
		"2 create Namespace/" + f.ns + "-extra",
		"3 create Deployment/web",
		"4 prune ConfigMap/old-b", // reverse waves
		"5 prune ConfigMap/old-a",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("change set:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The Deployment lives in the default namespace; the Namespace's own
	// objects would be judged in an existing one.
	for _, ch := range cs.Changes {
		if ch.Action == gsync.ChangeCreate && ch.Judged != gsync.JudgedByServer {
			t.Errorf("%s judged %s, want by the server", ch.Ref(), ch.Judged)
		}
	}
}

// Two apps synced at once by one process on one shared client: each result
// is right and counts only its own requests.
func TestConcurrentAppsOnSharedClient(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	shared, err := cluster.New(lc.Config)
	if err != nil {
		t.Fatal(err)
	}
	var docsA, docsB []string
	for i := 0; i < 3; i++ {
		docsA = append(docsA, configMapYAML(fmt.Sprintf("a-%d", i), "0", ""))
	}
	for i := 0; i < 12; i++ {
		docsB = append(docsB, configMapYAML(fmt.Sprintf("b-%d", i), fmt.Sprint(i%3), ""))
	}
	var wg gosync.WaitGroup
	var resA, resB *gsync.Result
	var errA, errB error
	wg.Add(2)
	go func() {
		defer wg.Done()
		resA, errA = gsync.New(shared, f.options()).Run(context.Background(), f.input(join(docsA...)))
	}()
	go func() {
		defer wg.Done()
		resB, errB = gsync.New(shared, other.options()).Run(context.Background(), other.input(join(docsB...)))
	}()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("syncs: %v; %v", errA, errB)
	}
	if resA.Counts[gsync.Created] != 3 || resB.Counts[gsync.Created] != 12 || len(resA.Objects) != 3 || len(resB.Objects) != 12 {
		t.Errorf("counts: %v and %v", resA.Counts, resB.Counts)
	}
	// A first sync dry-runs each object once and writes it once, plus four
	// bookkeeping writes: lock, inventory members, history, lock release.
	if resA.Requests.DryRuns != 3 || resA.Requests.Writes != 3+4 {
		t.Errorf("app A requests %+v, want 3 dry-runs and 7 writes", resA.Requests)
	}
	if resB.Requests.DryRuns != 12 || resB.Requests.Writes != 12+4 {
		t.Errorf("app B requests %+v, want 12 dry-runs and 16 writes", resB.Requests)
	}
	_, writes, dryRuns := shared.Requests.Counts()
	if writes != resA.Requests.Writes+resB.Requests.Writes || dryRuns != 15 {
		t.Errorf("client total: %d writes, %d dry-runs; the runs account for %d and 15", writes, dryRuns, resA.Requests.Writes+resB.Requests.Writes)
	}
}

// Defect: a failed sync's history message was stored unmasked, and some
// failed syncs were not recorded at all.
func TestFailedSyncIsRecordedMasked(t *testing.T) {
	f := newFixture(t)
	const plaintext = "hunter2 is the password"
	secret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {password: %q}\n", plaintext)
	// A label value the API server rejects, echoing it.
	bad := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad, labels: {note: %q}}\ndata: {k: v}\n", plaintext)
	res, err := f.sync(join(secret, bad), f.options())
	if err == nil {
		t.Fatal("the sync passed")
	}
	h := f.history()
	if len(h) != 1 || h[0].Phase != gsync.PhaseFailed {
		t.Fatalf("history %+v, want one failed record", h)
	}
	for what, text := range map[string]string{"history message": h[0].Message, "error": err.Error(), "result message": res.Message} {
		if strings.Contains(text, plaintext) || strings.Contains(text, "hunter2") {
			t.Errorf("%s holds the secret value: %s", what, text)
		}
	}
	if !strings.Contains(h[0].Message, "ConfigMap/"+f.ns+"/bad") {
		t.Errorf("history message %q does not name the object", h[0].Message)
	}
	if f.exists("ConfigMap/bad") {
		t.Errorf("an object was applied after a failed dry-run")
	}

	// A destination namespace that does not exist fails the dry-run; that
	// sync is recorded too.
	o := f.options()
	o.DestNamespace = f.ns + "-missing"
	if _, err := f.sync(configMapYAML("elsewhere", "0", ""), o); err == nil || !strings.Contains(err.Error(), "CreateNamespace=true") {
		t.Fatalf("missing destination namespace: got %v, want a hint to CreateNamespace=true", err)
	}
	if h := f.history(); len(h) != 2 || h[1].Phase != gsync.PhaseFailed {
		t.Errorf("history %+v, want the second failure recorded", h)
	}
}

// blockHealthLists holds every LIST by label selector (the health polls)
// until its request's context ends, as a slow API server would at the
// deadline.
type blockHealthLists struct{ next http.RoundTripper }

func (b *blockHealthLists) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.URL.Query().Get("labelSelector") != "" {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return b.next.RoundTrip(req)
}

// Defect: a deadline reached while polling health ended the wave as
// healthy, and the next wave ran. The failed sync's history counted objects
// never reached as created.
func TestHealthDeadlineFailsTheWave(t *testing.T) {
	f := newFixture(t)
	cfg := rest.CopyConfig(lc.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &blockHealthLists{next: rt} })
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := f.options()
	o.Timeout = 3 * time.Second
	in := f.input(join(configMapYAML("first", "0", ""), deploymentYAML("web", "1", "registry.example/web:1"), configMapYAML("after", "2", "")))
	res, err := gsync.New(c, o).Run(context.Background(), in)
	var timeout *gsync.HealthTimeoutError
	if !errors.As(err, &timeout) || !strings.Contains(err.Error(), "hint:timeout") {
		t.Fatalf("got %v, want a health timeout", err)
	}
	if res.Phase != gsync.PhaseFailed {
		t.Errorf("phase %s", res.Phase)
	}
	if f.exists("ConfigMap/after") {
		t.Errorf("wave 2 ran after wave 1 timed out")
	}
	if a := actions(res)["ConfigMap/"+f.ns+"/after"]; a != gsync.Pending {
		t.Errorf("ConfigMap/after %s, want pending", a)
	}
	h := f.history()
	if len(h) != 1 || h[0].Counts["created"] != 2 || h[0].Counts["pending"] != 1 {
		t.Errorf("history %+v, want 2 created and 1 pending", h)
	}
}

// failDeletes answers DELETE requests for one object with 503.
type failDeletes struct {
	next http.RoundTripper
	name string
}

func (d *failDeletes) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete && strings.HasSuffix(req.URL.Path, "/"+d.name) {
		body := `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the server is currently unable to handle the request","reason":"ServiceUnavailable","code":503}`
		return &http.Response{StatusCode: 503, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
	}
	return d.next.RoundTrip(req)
}

// Defect: a failed prune reported the later candidates as pruned and
// dropped the API status, so the failure was never retried.
func TestFailedPruneStopsAndIsRetried(t *testing.T) {
	f := newFixture(t)
	f.mustSync(join(configMapYAML("keep", "0", ""), configMapYAML("p-1", "0", ""), configMapYAML("p-2", "0", ""), configMapYAML("p-3", "0", "")), f.options())
	cfg := rest.CopyConfig(lc.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &failDeletes{next: rt, name: "p-2"} })
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gsync.New(c, f.options()).Run(context.Background(), f.input(configMapYAML("keep", "0", "")))
	if err == nil || !gsync.IsTransient(err) {
		t.Fatalf("got %v, want a transient prune failure", err)
	}
	got := actions(res)
	if got["ConfigMap/"+f.ns+"/p-1"] != gsync.Pruned || got["ConfigMap/"+f.ns+"/p-2"] != gsync.Failed || got["ConfigMap/"+f.ns+"/p-3"] != gsync.Pending {
		t.Errorf("actions %v, want p-1 pruned, p-2 failed, p-3 pending", got)
	}
	if !f.exists("ConfigMap/p-3") {
		t.Errorf("p-3 was deleted after the prune stopped")
	}
	// The next sync (or a retry) prunes the rest.
	res = f.mustSync(configMapYAML("keep", "0", ""), f.options())
	if got := actions(res); got["ConfigMap/"+f.ns+"/p-2"] != gsync.Pruned || got["ConfigMap/"+f.ns+"/p-3"] != gsync.Pruned {
		t.Errorf("second sync: %v", got)
	}
}

// Defect: objects with the Skip hook were left out of the desired set and
// then pruned. They are reported as skipped and kept. An unreadable
// sync-options annotation on a member never falls back to pruning it.
func TestSkipHookAndUnreadableOptionsAreKept(t *testing.T) {
	f := newFixture(t)
	f.mustSync(join(configMapYAML("hooked", "0", ""), configMapYAML("odd", "0", ""), configMapYAML("keep", "0", "")), f.options())
	skipped := strings.Replace(configMapYAML("hooked", "0", ""), `"0"}`, `"0", argocd.argoproj.io/hook: Skip}`, 1)
	never := strings.Replace(configMapYAML("never", "0", ""), `"0"}`, `"0", argocd.argoproj.io/hook: Skip}`, 1)
	// Someone wrote a sync-options value we cannot read on the live member.
	cm, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "odd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Annotations["argocd.argoproj.io/sync-options"] = "Prune=maybe"
	if _, err := f.kube.CoreV1().ConfigMaps(f.ns).Update(context.Background(), cm, metav1.UpdateOptions{FieldManager: "kubectl-annotate"}); err != nil {
		t.Fatal(err)
	}
	res := f.mustSync(join(skipped, never, configMapYAML("keep", "0", "")), f.options())
	got := actions(res)
	if got["ConfigMap/"+f.ns+"/hooked"] != gsync.Skipped || got["ConfigMap/"+f.ns+"/never"] != gsync.Skipped || got["ConfigMap/"+f.ns+"/odd"] != gsync.Skipped {
		t.Errorf("actions %v, want hooked, never and odd skipped", got)
	}
	if !f.exists("ConfigMap/hooked") || !f.exists("ConfigMap/odd") {
		t.Errorf("a skipped member was pruned")
	}
	if f.exists("ConfigMap/never") {
		t.Errorf("a Skip hook was applied")
	}
}

// Objects in a namespace the sync creates are judged before the first
// write: an invalid one fails the sync and nothing, not even the namespace,
// is written.
func TestNewNamespaceObjectsAreJudgedFirst(t *testing.T) {
	f := newFixture(t)
	newNS := f.ns + "-new"
	t.Cleanup(func() { _ = f.kube.CoreV1().Namespaces().Delete(context.Background(), newNS, metav1.DeleteOptions{}) })
	nsDoc := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", newNS)
	good := fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: good, namespace: %s}\ndata: {k: v}\n", newNS)
	bad := strings.Replace(deploymentYAML("bad", "0", "registry.example/x:1"), "replicas: 2", "replicas: -3", 1)
	bad = strings.Replace(bad, "metadata:\n  name: bad", "metadata:\n  name: bad\n  namespace: "+newNS, 1)
	_, err := f.sync(join(nsDoc, good, bad), f.options())
	if err == nil || !strings.Contains(err.Error(), "Deployment/"+newNS+"/bad") || !strings.Contains(err.Error(), "spec.replicas") {
		t.Fatalf("got %v, want the invalid Deployment refused before any write", err)
	}
	if _, err := f.kube.CoreV1().Namespaces().Get(context.Background(), newNS, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the namespace was created although the dry-run failed: %v", err)
	}
	// Valid, the same set syncs, the objects judged in an existing namespace.
	res := f.mustSync(join(nsDoc, good), f.options())
	if got := actions(res); got["ConfigMap/"+newNS+"/good"] != gsync.Created || got["Namespace/"+newNS] != gsync.Created {
		t.Errorf("actions %v", got)
	}
}

// Apply re-checks: when another sync wrote the app between Compare and
// Apply, the verdicts are made again under the lock.
func TestApplyRecomparesAfterAnotherSync(t *testing.T) {
	f := newFixture(t)
	v1 := configMapYAML("c", "0", "")
	v2 := strings.Replace(v1, "{k: v}", "{k: v2}", 1)
	f.mustSync(v1, f.options())
	s := gsync.New(f.client, f.options())
	cs, err := s.Compare(context.Background(), f.input(v1))
	if err != nil || !cs.InSync() {
		t.Fatalf("compare: %v, in sync %v", err, cs.InSync())
	}
	f.mustSync(v2, f.options()) // another sync in between
	res, err := s.Apply(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(res)["ConfigMap/"+f.ns+"/c"]; a != gsync.Configured {
		t.Errorf("stale change set applied as %s, want configured after a fresh comparison", a)
	}
	cm, _ := f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "c", metav1.GetOptions{})
	if cm.Data["k"] != "v" {
		t.Errorf("data %v, want the compared revision", cm.Data)
	}
}

// Objects of a kind the cluster does not serve cost one rediscovery, not
// one per object.
func TestUnknownKindRediscoversOnce(t *testing.T) {
	f := newFixture(t)
	c, err := cluster.New(lc.Config)
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	for i := 0; i < 50; i++ {
		docs = append(docs, fmt.Sprintf("apiVersion: nowhere.example.com/v1\nkind: Gadget\nmetadata: {name: g-%d}\n", i))
	}
	_, err = gsync.New(c, f.options()).Compare(context.Background(), f.input(join(docs...)))
	if err == nil || strings.Count(err.Error(), "does not serve Gadget") != 50 {
		t.Fatalf("got %v, want 50 errors naming the kind", err)
	}
	// Discovery (about 3 reads), one rediscovery, the inventory read.
	if reads, _, _ := c.Requests.Counts(); reads > 10 {
		t.Errorf("%d reads for 50 objects of an unknown kind; want one rediscovery", reads)
	}
}

// Defect: credentials in a repository URL were stored in the result and the
// history. The engine strips them whatever its caller passes.
func TestRepoCredentialsAreNotStored(t *testing.T) {
	f := newFixture(t)
	in := f.input(configMapYAML("c", "0", ""))
	in.Repo, in.Origin = "https://user:tok3n@git.example/config.git", "https://tok3n@git.example/mirror.git"
	res, err := gsync.New(f.client, f.options()).Run(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	h := f.history()
	for what, text := range map[string]string{"result repo": res.Repo, "result origin": res.Origin, "history repo": h[0].Repo, "history origin": h[0].Origin} {
		if strings.Contains(text, "tok3n") || !strings.Contains(text, "git.example/") {
			t.Errorf("%s is %q", what, text)
		}
	}
}

// A sync that loses its lock stops, says so, and does not record itself
// over the new holder's inventory.
func TestLostLockStopsTheSync(t *testing.T) {
	f := newFixture(t)
	o := f.options()
	o.LockDuration = 3 * time.Second
	stuck := strings.Replace(deploymentYAML("stuck", "0", "registry.example/stuck:1"), "    spec: {containers:", "    spec: {nodeSelector: {no-such-node: \"true\"}, containers:", 1)
	done := make(chan struct{})
	var res *gsync.Result
	var err error
	go func() {
		defer close(done)
		res, err = gsync.New(f.client, o).Run(context.Background(), f.input(join(stuck, configMapYAML("later", "1", ""))))
	}()
	inv := inventory.Inventory{App: f.app, Namespace: f.ns}
	waitFor(t, func() bool {
		l, err := f.kube.CoordinationV1().Leases(f.ns).Get(context.Background(), inv.ParentName(), metav1.GetOptions{})
		if err != nil {
			return false
		}
		other := "mallory@elsewhere:1"
		l.Spec.HolderIdentity = &other
		_, err = f.kube.CoordinationV1().Leases(f.ns).Update(context.Background(), l, metav1.UpdateOptions{})
		return err == nil
	})
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync went on after losing its lock")
	}
	var lost *lock.LostError
	if !errors.As(err, &lost) || !strings.Contains(err.Error(), "not recorded") {
		t.Fatalf("got %v, want a lost-lock error", err)
	}
	if res.Phase != gsync.PhaseFailed || f.exists("ConfigMap/later") {
		t.Errorf("phase %s; later wave applied: %v", res.Phase, f.exists("ConfigMap/later"))
	}
	for _, h := range f.history() {
		if h.Phase == gsync.PhaseFailed {
			t.Errorf("the sync that lost its lock recorded itself: %+v", h)
		}
	}
}

// A no-op re-sync is proven locally: no dry-run, and no write but the lock
// and the history record; its health gates cost no poll.
func TestNoOpSyncCostsNothing(t *testing.T) {
	f := newFixture(t)
	app := join(
		configMapYAML("config", "0", ""),
		"apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: web}\nstringData: {token: noop-sync-token-0123}\n",
		deploymentYAML("web", "1", "registry.example/web:1"),
		"apiVersion: v1\nkind: Service\nmetadata: {name: web, annotations: {argocd.argoproj.io/sync-wave: \"1\"}}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
		"apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, annotations: {argocd.argoproj.io/sync-wave: \"2\"}}\nspec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}, minReplicas: 2, maxReplicas: 3}\n",
		"apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web, annotations: {argocd.argoproj.io/sync-wave: \"2\"}}\nspec: {minAvailable: 0, selector: {matchLabels: {app: web}}}\n",
	)
	f.mustSync(app, f.options())
	res := f.mustSync(app, f.options())
	for ref, a := range actions(res) {
		if a != gsync.Unchanged {
			t.Errorf("%s %s, want unchanged", ref, a)
		}
	}
	// Lock take, history record, lock release.
	if res.Requests.DryRuns != 0 || res.Requests.Writes != 3 {
		t.Errorf("no-op requests %+v, want 0 dry-runs and 3 writes", res.Requests)
	}
	// The inventory read (twice), the live LISTs (one per resource: 7),
	// the namespace check and the lock release's read at most.
	if res.Requests.Reads > 12 {
		t.Errorf("no-op made %d reads", res.Requests.Reads)
	}
}

// The namespace CreateNamespace=true creates is reported, first, and is no
// member of the app.
func TestCreateNamespaceIsReported(t *testing.T) {
	f := newFixture(t)
	o := f.options()
	o.DestNamespace = f.ns + "-dest"
	o.SyncOptions = []string{"CreateNamespace=true"}
	t.Cleanup(func() {
		_ = f.kube.CoreV1().Namespaces().Delete(context.Background(), o.DestNamespace, metav1.DeleteOptions{})
	})
	res := f.mustSync(configMapYAML("c", "0", ""), o)
	if len(res.Objects) != 2 || res.Objects[0].Ref() != "Namespace/"+o.DestNamespace || res.Objects[0].Action != gsync.Created || !strings.Contains(res.Objects[0].Message, "CreateNamespace=true") {
		t.Fatalf("objects %+v, want the created namespace first", res.Objects)
	}
	if res.Objects[1].Ref() != "ConfigMap/"+o.DestNamespace+"/c" || res.Objects[1].Action != gsync.Created {
		t.Errorf("objects %+v", res.Objects)
	}
	ns, err := f.kube.CoreV1().Namespaces().Get(context.Background(), o.DestNamespace, metav1.GetOptions{})
	if err != nil || ns.Labels[inventory.LabelPartOf] != "" {
		t.Errorf("namespace: %v, labels %v; want it created and not a member", err, ns.Labels)
	}
}

// managedNamespaceMetadata: the destination namespace gets the labels and
// annotations when created, an existing one when they differ; once
// applied, a sync writes nothing; a key taken out leaves the namespace; a
// Namespace of the render wins.
func TestNamespaceMetadata(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	o := f.options()
	o.DestNamespace = f.ns + "-meta"
	o.SyncOptions = []string{"CreateNamespace=true"}
	t.Cleanup(func() { _ = f.kube.CoreV1().Namespaces().Delete(ctx, o.DestNamespace, metav1.DeleteOptions{}) })
	o.NamespaceMetadata = &gsync.NamespaceMetadata{Labels: map[string]string{"team": "orders", "tier": "gold"}, Annotations: map[string]string{"owner": "sre"}}
	res := f.mustSync(configMapYAML("c", "0", ""), o)
	if res.Objects[0].Ref() != "Namespace/"+o.DestNamespace || res.Objects[0].Action != gsync.Created {
		t.Fatalf("objects %+v", res.Objects)
	}
	get := func() *corev1.Namespace {
		ns, err := f.kube.CoreV1().Namespaces().Get(ctx, o.DestNamespace, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	if ns := get(); ns.Labels["team"] != "orders" || ns.Labels["tier"] != "gold" || ns.Annotations["owner"] != "sre" || ns.Labels[inventory.LabelPartOf] != "" {
		t.Fatalf("namespace labels %v annotations %v", ns.Labels, ns.Annotations)
	}
	// In sync: nothing written but the lock and the record, as any no-op.
	res = f.mustSync(configMapYAML("c", "0", ""), o)
	if res.Requests.Writes != 3 || res.Requests.DryRuns != 0 || len(res.Objects) != 1 {
		t.Errorf("no-op: %d writes, objects %+v", res.Requests.Writes, res.Objects)
	}
	// A label out, one changed: applied to the existing namespace.
	o.NamespaceMetadata = &gsync.NamespaceMetadata{Labels: map[string]string{"team": "payments"}, Annotations: map[string]string{"owner": "sre"}}
	res = f.mustSync(configMapYAML("c", "0", ""), o)
	if res.Objects[0].Ref() != "Namespace/"+o.DestNamespace || res.Objects[0].Action != gsync.Configured || !strings.Contains(res.Objects[0].Message, "managedNamespaceMetadata") {
		t.Errorf("objects %+v", res.Objects)
	}
	if ns := get(); ns.Labels["team"] != "payments" || ns.Labels["tier"] != "" {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	// The render's Namespace wins: its labels, not the metadata's.
	res = f.mustSync("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+o.DestNamespace+", labels: {team: from-git}}\n---\n"+configMapYAML("c", "0", ""), o)
	if ns := get(); ns.Labels["team"] != "from-git" {
		t.Errorf("namespace labels %v (objects %+v)", ns.Labels, res.Objects)
	}
}

// A custom resource in a later wave than its CRD waits until the CRD is
// served, and its health is gated like any object's.
func TestCustomResourceInALaterWave(t *testing.T) {
	f := newFixture(t)
	group := f.ns + ".example.com"
	t.Cleanup(func() {
		crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		_ = f.client.Dynamic.Resource(crds).Delete(context.Background(), "gizmos."+group, metav1.DeleteOptions{})
	})
	res := f.mustSync(fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.%[1]s, annotations: {argocd.argoproj.io/sync-wave: "-1"}}
spec:
  group: %[1]s
  scope: Namespaced
  names: {kind: Gizmo, plural: gizmos, singular: gizmo}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, properties: {spec: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
---
apiVersion: %[1]s/v1
kind: Gizmo
metadata: {name: g1, annotations: {argocd.argoproj.io/sync-wave: "0"}}
spec: {size: 1}
`, group), f.options())
	for _, o := range res.Objects {
		if o.Kind == "Gizmo" && (o.Action != gsync.Created || o.Health == "") {
			t.Errorf("Gizmo: %s, health %q; want created and health-gated", o.Action, o.Health)
		}
	}
}

// The first sync of an app whose objects live in the inventory namespace,
// which does not exist yet, judges them as objects of a new namespace.
func TestObjectsInAMissingInventoryNamespace(t *testing.T) {
	f := newFixture(t)
	o := f.options()
	o.InventoryNamespace = f.ns + "-inv"
	o.DestNamespace = o.InventoryNamespace
	t.Cleanup(func() {
		_ = f.kube.CoreV1().Namespaces().Delete(context.Background(), o.InventoryNamespace, metav1.DeleteOptions{})
	})
	res := f.mustSync(configMapYAML("c", "0", ""), o)
	if a := actions(res)["ConfigMap/"+o.InventoryNamespace+"/c"]; a != gsync.Created {
		t.Errorf("actions %v", actions(res))
	}
}

// An object replaced once, then applied with a field added, then replaced
// again from the first revision: the added field is a change, not ignored
// because the old replace record matches.
func TestReplaceRecordForgottenWhenApplied(t *testing.T) {
	f := newFixture(t)
	replace := f.options()
	replace.SyncOptions = []string{"Replace=true"}
	a := configMapYAML("c", "0", "")
	f.mustSync(a, replace)
	f.mustSync(strings.Replace(a, "data: {k: v}", "data: {k: v, extra: x}", 1), f.options())
	res := f.mustSync(a, replace)
	cm, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if act := actions(res)["ConfigMap/"+f.ns+"/c"]; act != gsync.Replaced || cm.Data["extra"] != "" {
		t.Errorf("back to the first revision: %s, data %v; want replaced without the added key", act, cm.Data)
	}
}

// A State the caller just read saves Compare its own read of the
// inventory, and gives the same verdicts; the caller's State is left as
// it was.
func TestCompareReusesGivenState(t *testing.T) {
	f := newFixture(t)
	doc := configMapYAML("shared-state", "0", "")
	f.mustSync(doc, f.options())
	st, err := inventory.Load(context.Background(), f.client, inventory.Inventory{App: f.app, Namespace: f.ns})
	if err != nil {
		t.Fatal(err)
	}
	before := *st
	read, err := gsync.New(f.client, f.options()).Compare(context.Background(), f.input(doc))
	if err != nil {
		t.Fatal(err)
	}
	in := f.input(doc)
	in.State = st
	given, err := gsync.New(f.client, f.options()).Compare(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !read.InSync() || !given.InSync() || given.Requests.Reads != read.Requests.Reads-1 {
		t.Errorf("in sync %v/%v, reads %d with the state given, %d without; want both in sync and one read fewer", read.InSync(), given.InSync(), given.Requests.Reads, read.Requests.Reads)
	}
	if st.ResourceVersion != before.ResourceVersion || len(st.History) != len(before.History) {
		t.Error("Compare changed the State it was given")
	}
}

// The inventory's own namespace is searched for members only when some may
// be there: with every member elsewhere, a compare lists nothing in it (an
// agent keeps all its apps' inventories in one namespace); a member moved
// into it is found, and pruned, again.
func TestInventoryNamespaceListedOnlyWithMembers(t *testing.T) {
	f := newFixture(t)
	invNS := testcluster.Namespace(t, lc)
	o := f.options()
	o.InventoryNamespace = invNS
	doc := configMapYAML("config", "0", "") + "---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n"
	f.mustSync(doc, o)

	var lists []string
	var mu gosync.Mutex
	ctx := cluster.WithRequestObserver(context.Background(), func(method string, u *url.URL, _ int) {
		mu.Lock()
		defer mu.Unlock()
		if method == http.MethodGet && !strings.Contains(u.Path, "/configmaps/gitops-") && strings.Contains(u.Path, "/namespaces/"+invNS+"/") {
			lists = append(lists, u.Path)
		}
	})
	o.DryRun = true
	cs, err := gsync.New(f.client, o).Compare(ctx, f.input(doc))
	if err != nil || cs == nil {
		t.Fatalf("compare: %v", err)
	}
	if len(lists) != 0 {
		t.Errorf("the compare read the inventory namespace, which holds no member: %v", lists)
	}

	// A member in the inventory's namespace: recorded, found, pruned.
	inInv := strings.Replace(configMapYAML("moved", "0", ""), "  name: moved\n", "  name: moved\n  namespace: "+invNS+"\n", 1)
	o.DryRun = false
	f.mustSync(doc+"---\n"+inInv, o)
	res := f.mustSync(doc, o)
	pruned := false
	for _, obj := range res.Objects {
		pruned = pruned || (obj.Ref() == "ConfigMap/"+invNS+"/moved" && obj.Action == gsync.Pruned)
	}
	if !pruned {
		t.Errorf("the member in the inventory's namespace was not pruned: %+v", res.Objects)
	}
}
