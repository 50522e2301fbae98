package sync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// jobYAML is a hook Job; kwok completes its pod. unschedulable Jobs never
// get a pod and fail after activeDeadlineSeconds (the Job controller's
// DeadlineExceeded).
func jobYAML(meta, annotations string, unschedulable bool) string {
	spec := "restartPolicy: Never, containers: [{name: main, image: busybox}]"
	deadline := ""
	if unschedulable {
		spec = "restartPolicy: Never, nodeSelector: {no-such-node: \"true\"}, containers: [{name: main, image: busybox}]"
		deadline = "  activeDeadlineSeconds: 2\n"
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  %s
  annotations: {%s}
spec:
%s  backoffLimit: 0
  template:
    spec: {%s}
`, meta, annotations, deadline, spec)
}

// hookEvents lists, in order, what happened to hooks and waves.
func (f *fixture) hookEvents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		switch {
		case e.Type == gsync.EventWaveHealthy:
			out = append(out, fmt.Sprintf("%s %d done", e.Phase, e.Wave))
		case e.Type == gsync.EventHookStatus && e.Object.Hook.Status != gsync.HookRunning:
			out = append(out, fmt.Sprintf("%s %s %s", e.Phase, hookBase(e.Object), e.Object.Hook.Status))
		case e.Type == gsync.EventHookDeleted:
			out = append(out, fmt.Sprintf("%s %s deleted", e.Phase, hookBase(e.Object)))
		case e.Type == gsync.EventObjectHealth && e.Object.Hook == nil && e.Object.Health == "Healthy":
			out = append(out, fmt.Sprintf("%s %s Healthy", e.Phase, e.Object.Ref()))
		}
	}
	f.events = nil
	return out
}

func hookBase(o *gsync.ObjectResult) string {
	if o.GenerateName != "" {
		return o.Kind + "/" + o.GenerateName + "*"
	}
	return o.Kind + "/" + o.Name
}

func hooksOf(res *gsync.Result) map[string]gsync.ObjectResult {
	out := map[string]gsync.ObjectResult{}
	for _, o := range res.Objects {
		if o.Hook != nil {
			out[string(o.Phase)+" "+hookBase(&o)] = o
		}
	}
	return out
}

func (f *fixture) jobs() []string {
	f.t.Helper()
	list, err := f.kube.BatchV1().Jobs(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j.Name)
		}
	}
	slices.Sort(out)
	return out
}

func TestHookPhasesRunInOrder(t *testing.T) {
	f := newFixture(t)
	stream := strings.Join([]string{
		jobYAML("generateName: migrate-", "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded", false),
		deploymentYAML("web", "0", "nginx:1"),
		jobYAML("name: warm", "argocd.argoproj.io/hook: Sync, argocd.argoproj.io/sync-wave: \"1\", argocd.argoproj.io/hook-delete-policy: BeforeHookCreation", false),
		jobYAML("generateName: smoke-", "argocd.argoproj.io/hook: PostSync", false),
		jobYAML("name: cleanup", "argocd.argoproj.io/hook: SyncFail", false),
	}, "---\n")
	opts := f.options()
	res := f.mustSync(stream, opts)
	got := f.hookEvents()
	want := []string{
		"PreSync Job/migrate-* Succeeded", "PreSync 0 done",
		"Sync Deployment/" + f.ns + "/web Healthy", "Sync 0 done",
		"Sync Job/warm Succeeded", "Sync 1 done",
		"PostSync Job/smoke-* Succeeded", "PostSync 0 done",
		"PreSync Job/migrate-* deleted",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	hooks := hooksOf(res)
	migrate := hooks["PreSync Job/migrate-*"]
	if !strings.HasPrefix(migrate.Name, "migrate-") || len(migrate.Name) <= len("migrate-") || !migrate.Hook.Deleted || migrate.Action != gsync.Created {
		t.Errorf("PreSync hook result %+v %+v: want a generated name, created, deleted", migrate, migrate.Hook)
	}
	if c := hooks["SyncFail Job/cleanup"]; c.Action != gsync.Skipped || c.Hook.Status != "" {
		t.Errorf("SyncFail hook of a good sync: %+v", c)
	}
	if res.Counts[gsync.Created] != 1 {
		t.Errorf("counts %v: hooks are not counted as objects", res.Counts)
	}
	smoke := hooks["PostSync Job/smoke-*"].Name
	if jobs := f.jobs(); !slices.Equal(jobs, []string{smoke, "warm"}) {
		t.Errorf("jobs after the sync: %v, want %s and warm (migrate deleted by HookSucceeded)", jobs, smoke)
	}
	warm, err := f.kube.BatchV1().Jobs(f.ns).Get(context.Background(), "warm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(warm.Finalizers) != 0 || warm.Labels["applyset.kubernetes.io/part-of"] != "" {
		t.Errorf("hook left with finalizers %v, labels %v", warm.Finalizers, warm.Labels)
	}

	// Again: BeforeHookCreation deletes and re-creates warm; generateName
	// creates new Jobs; no hook is a member, so none is pruned.
	res = f.mustSync(stream, opts)
	f.hookEvents()
	warm2, err := f.kube.BatchV1().Jobs(f.ns).Get(context.Background(), "warm", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if warm2.UID == warm.UID {
		t.Errorf("warm was not re-created")
	}
	smoke2 := hooksOf(res)["PostSync Job/smoke-*"].Name
	if smoke2 == smoke || smoke2 == "" {
		t.Errorf("second PostSync Job %q, first %q: want a new one", smoke2, smoke)
	}
	if jobs := f.jobs(); !slices.Equal(jobs, sorted(smoke, smoke2, "warm")) {
		t.Errorf("jobs after the second sync: %v", jobs)
	}
	if res.Counts[gsync.Pruned] != 0 || res.Counts[gsync.Unchanged] != 1 {
		t.Errorf("second sync counts %v", res.Counts)
	}

	// Hooks never make the app out of sync.
	cs, err := gsync.New(f.client, opts).Compare(context.Background(), f.input(stream))
	if err != nil {
		t.Fatal(err)
	}
	if !cs.InSync() || cs.Requests.DryRuns != 0 {
		t.Errorf("compare after the sync: in sync %v, %d dry-runs", cs.InSync(), cs.Requests.DryRuns)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func TestFailedPreSyncHookRunsSyncFail(t *testing.T) {
	f := newFixture(t)
	stream := strings.Join([]string{
		jobYAML("name: migrate", "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookFailed", true),
		deploymentYAML("web", "0", "nginx:1"),
		jobYAML("generateName: page-", "argocd.argoproj.io/hook: SyncFail", false),
	}, "---\n")
	res, err := f.sync(stream, f.options())
	if err == nil || !strings.Contains(err.Error(), "hook Job/"+f.ns+"/migrate failed: DeadlineExceeded") {
		t.Fatalf("sync error %v, want the failed hook named", err)
	}
	got := f.hookEvents()
	want := []string{"PreSync Job/migrate Failed", "SyncFail Job/page-* Succeeded", "SyncFail 0 done", "PreSync Job/migrate deleted"}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if _, err := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Sync phase was applied after a failed PreSync hook: %v", err)
	}
	if actions(res)["Deployment/"+f.ns+"/web"] != gsync.Pending {
		t.Errorf("deployment %v", actions(res))
	}
	if jobs := f.jobs(); len(jobs) != 1 || !strings.HasPrefix(jobs[0], "page-") {
		t.Errorf("jobs %v: want the SyncFail Job only (migrate deleted by HookFailed)", jobs)
	}
	if res.Phase != gsync.PhaseFailed || !strings.Contains(res.Message, "migrate failed") {
		t.Errorf("result %s: %s", res.Phase, res.Message)
	}
}

// A named hook of two phases runs in each, every sync: the later phase
// deletes what the earlier one created (BeforeHookCreation) and creates it
// again. Without BeforeHookCreation the later phase applies over that very
// object, and its HookSucceeded deletes it once.
func TestNamedHookOfTwoPhases(t *testing.T) {
	f := newFixture(t)
	stream := strings.Join([]string{
		configMapYAML("app", "0", ""),
		jobYAML("name: check", "argocd.argoproj.io/hook: \"PreSync,PostSync\"", false),
	}, "---\n")
	for i := 0; i < 2; i++ {
		f.mustSync(stream, f.options())
		if got, want := f.hookEvents(), []string{"PreSync Job/check Succeeded", "PreSync 0 done", "Sync ConfigMap/" + f.ns + "/app Healthy", "Sync 0 done", "PostSync Job/check Succeeded", "PostSync 0 done"}; !slices.Equal(got, want) {
			t.Fatalf("sync %d: events %v, want %v", i+1, got, want)
		}
	}

	once := strings.Join([]string{
		configMapYAML("app", "0", ""),
		jobYAML("name: once", "argocd.argoproj.io/hook: \"PreSync,PostSync\", argocd.argoproj.io/hook-delete-policy: HookSucceeded", false),
	}, "---\n")
	for i := 0; i < 2; i++ {
		res := f.mustSync(once, f.options())
		got := f.hookEvents()
		want := []string{"PreSync Job/once Succeeded", "PreSync 0 done", "Sync ConfigMap/" + f.ns + "/app Healthy", "Sync 0 done", "PostSync Job/once Succeeded", "PostSync 0 done", "PostSync Job/once deleted"}
		if !slices.Equal(got, want) {
			t.Fatalf("HookSucceeded, sync %d: events %v, want %v", i+1, got, want)
		}
		if a := hooksOf(res)["PostSync Job/once"].Action; a != gsync.Configured {
			t.Errorf("the PostSync run: %s, want configured (applied over the PreSync run)", a)
		}
	}
	if jobs := f.jobs(); slices.Contains(jobs, "once") {
		t.Errorf("jobs %v", jobs)
	}
}

// A named hook never deletes or takes over an object of its name that is
// not this app's: the sync fails before any write.
func TestHookDoesNotTakeOverAnotherObject(t *testing.T) {
	f := newFixture(t)
	if _, err := f.kube.CoreV1().ConfigMaps(f.ns).Create(context.Background(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "setup"}, Data: map[string]string{"owner": "someone"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hook := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: setup\n  annotations: {argocd.argoproj.io/hook: PreSync}\ndata: {owner: hook}\n"
	_, err := f.sync(join(configMapYAML("app", "0", ""), hook), f.options())
	if err == nil || !strings.Contains(err.Error(), "ConfigMap/"+f.ns+"/setup: an object of this name exists and is not a hook or member of app") {
		t.Fatalf("sync: %v", err)
	}
	cm, err := f.kube.CoreV1().ConfigMaps(f.ns).Get(context.Background(), "setup", metav1.GetOptions{})
	if err != nil || cm.Data["owner"] != "someone" {
		t.Errorf("the other object: %v %v", cm.Data, err)
	}
	if f.exists("ConfigMap/app") {
		t.Errorf("applied after the hooks were refused")
	}
}

// A sync that died while its hooks ran left the finalizer on them; the
// next sync removes it, also once the hooks have left Git (the inventory
// says where hooks went). A dry run writes nothing, finalizers included.
func TestLeftoverHookFinalizersAreRemoved(t *testing.T) {
	f := newFixture(t)
	f.mustSync(join(configMapYAML("app", "0", ""), jobYAML("name: migrate", "argocd.argoproj.io/hook: PreSync", false)), f.options())
	inv := inventory.Inventory{App: f.app, Namespace: f.ns}
	st, err := inventory.Load(context.Background(), f.client, inv)
	if err != nil || inventory.FormatHookResources(st.HookResources) != "Job.batch/"+f.ns {
		t.Fatalf("hook resources recorded: %v %v", st.HookResources, err)
	}
	// What a crash leaves: a hook of this app with the finalizer.
	leftover, err := render.Decode([]byte(jobYAML("name: crashed", "argocd.argoproj.io/hook: PreSync", false)))
	if err != nil {
		t.Fatal(err)
	}
	leftover[0].SetLabels(map[string]string{gsync.LabelHookOf: inv.ID()})
	leftover[0].SetFinalizers([]string{gsync.HookFinalizer})
	jobs := f.client.Dynamic.Resource(schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}).Namespace(f.ns)
	if _, err := jobs.Create(context.Background(), leftover[0], metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	finalizers := func() []string {
		j, err := f.kube.BatchV1().Jobs(f.ns).Get(context.Background(), "crashed", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return j.Finalizers
	}
	dry := f.options()
	dry.DryRun = true
	if _, err := f.sync(configMapYAML("app", "0", ""), dry); err != nil {
		t.Fatal(err)
	}
	if got := finalizers(); !slices.Equal(got, []string{gsync.HookFinalizer}) {
		t.Errorf("a dry run changed the finalizers: %v", got)
	}
	f.mustSync(configMapYAML("app", "0", ""), f.options())
	if got := finalizers(); len(got) != 0 {
		t.Errorf("finalizers left: %v", got)
	}
	if st, _ := inventory.Load(context.Background(), f.client, inv); len(st.HookResources) != 0 {
		t.Errorf("hook resources still recorded: %v", st.HookResources)
	}
}

// A sync that stops while a hook runs (its deadline) takes the finalizer
// off the running hook, and runs the SyncFail hooks on a deadline of their
// own.
func TestTimeoutWhileHookRuns(t *testing.T) {
	f := newFixture(t)
	stuck := strings.Replace(jobYAML("name: stuck", "argocd.argoproj.io/hook: PreSync", true), "  activeDeadlineSeconds: 2\n", "", 1)
	opts := f.options()
	opts.Timeout = 3 * time.Second
	_, err := f.sync(join(configMapYAML("app", "0", ""), stuck, jobYAML("generateName: page-", "argocd.argoproj.io/hook: SyncFail", false)), opts)
	var timeout *gsync.HealthTimeoutError
	if !errors.As(err, &timeout) || !strings.Contains(err.Error(), "hook Job/"+f.ns+"/stuck is Running") {
		t.Fatalf("sync: %v", err)
	}
	if got := f.hookEvents(); !slices.Equal(got, []string{"SyncFail Job/page-* Succeeded", "SyncFail 0 done"}) {
		t.Errorf("events %v", got)
	}
	j, err := f.kube.BatchV1().Jobs(f.ns).Get(context.Background(), "stuck", metav1.GetOptions{})
	if err != nil || len(j.Finalizers) != 0 {
		t.Errorf("the running hook: finalizers %v (%v)", j.Finalizers, err)
	}
}

// A hook Job whose container fails: the real Job controller fails the Job
// (BackoffLimitExceeded), and the sync's message names the pod, the
// container, its reason and exit code, with Secret values masked. kwok only
// completes pods, so the test plays the kubelet: the Job's pod is never
// scheduled (no node matches) and the test writes its status.
func TestFailedHookNamesTheContainer(t *testing.T) {
	f := newFixture(t)
	const secret = "pa55-in-the-termination-log"
	secretYAML := "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: " + secret + "}\n"
	job := strings.Replace(jobYAML("name: migrate", "argocd.argoproj.io/hook: PreSync", true), "  activeDeadlineSeconds: 2\n", "", 1)
	var events []string
	opts := f.options()
	opts.OnEvent = func(e gsync.Event) {
		if e.Object != nil {
			f.mu.Lock()
			events = append(events, e.Object.Message)
			f.mu.Unlock()
		}
	}
	done := make(chan struct{})
	var res *gsync.Result
	var err error
	go func() {
		defer close(done)
		res, err = f.sync(join(secretYAML, job), opts)
	}()
	// The Job's pod, once the Job controller made it: terminated with an
	// error, its message echoing the Secret.
	var pod *corev1.Pod
	werr := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := f.kube.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=migrate"})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		pod = &pods.Items[0]
		return true, nil
	})
	if werr != nil {
		t.Fatal("the Job made no pod")
	}
	// The kubelet's part (kwok or the pod's node may write its status too:
	// on a conflict, read it again).
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := f.kube.CoreV1().Pods(f.ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Phase = corev1.PodFailed
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", Image: "busybox", ImageID: "busybox",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", Message: "cannot log in with " + secret,
				StartedAt: metav1.Now(), FinishedAt: metav1.Now()}}}}
		_, err = f.kube.CoreV1().Pods(f.ns).UpdateStatus(context.Background(), cur, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	<-done
	want := "hook Job/" + f.ns + "/migrate failed: BackoffLimitExceeded: Job has reached the specified backoff limit; pod " + pod.Name + ": container main terminated: Error (exit code 3): cannot log in with "
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("sync: %v\nwant it to contain %q", err, want)
	}
	f.mu.Lock()
	printed := strings.Join(append(events, err.Error(), res.Message, fmt.Sprint(res.Objects)), "\n")
	f.mu.Unlock()
	for _, r := range f.history() {
		printed += fmt.Sprint(r)
	}
	if strings.Contains(printed, secret) {
		t.Errorf("the Secret value was shown:\n%s", printed)
	}
}
