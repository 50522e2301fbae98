package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// hookJob is a Job hook. kwok completes the pods of Jobs; an unschedulable
// Job never gets a pod and the Job controller fails it after
// activeDeadlineSeconds (DeadlineExceeded).
func hookJob(meta, annotations string, unschedulable bool) string {
	extra, pod := "", "restartPolicy: Never, containers: [{name: main, image: busybox}]"
	if unschedulable {
		extra = "  activeDeadlineSeconds: 2\n"
		pod = "restartPolicy: Never, nodeSelector: {no-such-node: \"true\"}, containers: [{name: main, image: busybox}]"
	}
	return fmt.Sprintf("apiVersion: batch/v1\nkind: Job\nmetadata:\n  %s\n  annotations: {%s}\nspec:\n%s  backoffLimit: 0\n  template:\n    spec: {%s}\n", meta, annotations, extra, pod)
}

type syncDoc struct {
	Phase, Message string
	Counts         map[string]int
	Objects        []struct {
		Kind, Namespace, Name, GenerateName, Phase, Action, Message string
		Hook                                                        *struct {
			Status  string
			Deleted bool
		}
	}
}

func syncJSON(t *testing.T, wantCode int, args ...string) (syncDoc, string) {
	t.Helper()
	out, errOut, code := gitops(t, append([]string{"sync", "-o", "json", "--timeout", "2m"}, args...)...)
	if code != wantCode {
		t.Fatalf("sync %v: code %d, want %d\n%s%s", args, code, wantCode, out, errOut)
	}
	var doc syncDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("sync -o json: %v\n%s", err, out)
	}
	return doc, errOut
}

// hookNamed finds a hook of the result by phase and name prefix.
func (d syncDoc) hook(phase, prefix string) (name string, status string, deleted bool) {
	for _, o := range d.Objects {
		if o.Hook != nil && o.Phase == phase && strings.HasPrefix(o.Name+o.GenerateName, prefix) {
			return o.Name, o.Hook.Status, o.Hook.Deleted
		}
	}
	return "", "", false
}

// inOrder checks that each line appears in text after the one before.
func inOrder(t *testing.T, text string, lines ...string) {
	t.Helper()
	at := 0
	for _, l := range lines {
		i := strings.Index(text[at:], l)
		if i < 0 {
			t.Fatalf("%q missing after position %d in:\n%s", l, at, text)
		}
		at += i + len(l)
	}
}

func jobNames(t *testing.T, ns string) []string {
	t.Helper()
	out := strings.Fields(realKubectl(t, "get", "jobs", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}"))
	slices.Sort(out)
	return out
}

func TestHooksRunInPhases(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	files := map[string]string{
		"apps/web/kustomization.yaml": "resources: [migrate.yaml, deploy.yaml, warm.yaml, smoke.yaml, page.yaml]\n",
		"apps/web/migrate.yaml":       hookJob("generateName: migrate-", "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded", false),
		"apps/web/deploy.yaml":        webDeployment("nginx:1.0"),
		"apps/web/warm.yaml":          hookJob("name: warm", "argocd.argoproj.io/hook: Sync, argocd.argoproj.io/sync-wave: \"1\", argocd.argoproj.io/hook-delete-policy: BeforeHookCreation", false),
		"apps/web/smoke.yaml":         hookJob("generateName: smoke-", "argocd.argoproj.io/hook: PostSync", false),
		"apps/web/page.yaml":          hookJob("generateName: page-", "argocd.argoproj.io/hook: SyncFail", false),
	}
	r.Commit("web with hooks", files)
	args := []string{"--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns, "--inventory-namespace", ns}

	doc, progress := syncJSON(t, 0, args...)
	migrate, st, deleted := doc.hook("PreSync", "migrate-")
	if st != "Succeeded" || !deleted || migrate == "migrate-" || !strings.HasPrefix(migrate, "migrate-") {
		t.Errorf("PreSync hook %q %s deleted=%v: want a generated name, Succeeded, deleted", migrate, st, deleted)
	}
	smoke, st, _ := doc.hook("PostSync", "smoke-")
	if st != "Succeeded" {
		t.Errorf("PostSync hook %q: %s", smoke, st)
	}
	if _, st, _ := doc.hook("SyncFail", "page-"); st != "" {
		t.Errorf("a SyncFail hook ran in a good sync: %s", st)
	}
	// PreSync complete → the Sync phase applied and healthy → the Sync hook
	// of wave 1 → PostSync complete → the HookSucceeded Job deleted.
	inOrder(t, progress,
		"PreSync wave 0: applying",
		"Job/"+ns+"/"+migrate+" (hook) Succeeded",
		"PreSync wave 0: healthy",
		"Deployment/"+ns+"/web created",
		"Deployment/"+ns+"/web Healthy",
		"Sync wave 0: healthy",
		"Job/"+ns+"/warm (hook) Succeeded",
		"Sync wave 1: healthy",
		"Job/"+ns+"/"+smoke+" (hook) Succeeded",
		"PostSync wave 0: healthy",
		"Job/"+ns+"/"+migrate+" (hook) deleted (delete policy HookSucceeded)")
	if got := jobNames(t, ns); !slices.Equal(got, sorted(smoke, "warm")) {
		t.Errorf("jobs %v, want %s and warm", got, smoke)
	}
	if doc.Counts["created"] != 1 {
		t.Errorf("counts %v: hooks are not counted as the app's objects", doc.Counts)
	}
	// Not members: the inventory does not hold Jobs; status is Synced and
	// lists no hook among the objects, but the last sync's hooks.
	if gks := realKubectl(t, "get", "configmap", "-n", ns, "gitops-web", "-o", "jsonpath={.metadata.annotations.applyset\\.kubernetes\\.io/contains-group-kinds}"); strings.Contains(gks, "Job") {
		t.Errorf("the inventory covers Jobs: %s", gks)
	}
	s := statusJSON(t, "web", "--inventory-namespace", ns)
	if s.Sync != "Synced" || s.Health != "Healthy" || len(s.Objects) != 1 {
		t.Errorf("status %s %s with %d objects, want Synced Healthy with the Deployment only", s.Sync, s.Health, len(s.Objects))
	}
	text, _, _ := gitops(t, "status", "web", "--inventory-namespace", ns)
	inOrder(t, text, "Hooks of sync #1:", "PreSync", migrate, "Succeeded, deleted", "Sync", "warm", "Succeeded", "PostSync", smoke, "Succeeded", "SyncFail", "page-*", "skipped")
	hist, _, _ := gitops(t, "history", "web", "--inventory-namespace", ns)
	if !strings.Contains(hist, "3 Succeeded") {
		t.Errorf("history does not count the hooks:\n%s", hist)
	}

	// Again: warm is deleted and re-created (BeforeHookCreation), a new
	// PostSync Job is created, and the first one is no member to prune.
	warmUID := realKubectl(t, "get", "job", "-n", ns, "warm", "-o", "jsonpath={.metadata.uid}")
	doc, _ = syncJSON(t, 0, args...)
	smoke2, _, _ := doc.hook("PostSync", "smoke-")
	if smoke2 == smoke || smoke2 == "" {
		t.Errorf("second PostSync Job %q, first %q", smoke2, smoke)
	}
	if uid := realKubectl(t, "get", "job", "-n", ns, "warm", "-o", "jsonpath={.metadata.uid}"); uid == warmUID {
		t.Errorf("warm was not re-created")
	}
	// The hooks leave Git: nothing of them is pruned.
	delete(files, "apps/web/smoke.yaml")
	files["apps/web/kustomization.yaml"] = "resources: [migrate.yaml, deploy.yaml, warm.yaml, page.yaml]\n"
	r.Commit("no smoke test", files)
	doc, _ = syncJSON(t, 0, args...)
	if doc.Counts["pruned"] != 0 {
		t.Errorf("counts %v", doc.Counts)
	}
	if got := jobNames(t, ns); !slices.Equal(got, sorted(smoke, smoke2, "warm")) {
		t.Errorf("jobs %v after the hook left Git: hooks are never pruned", got)
	}
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func TestFailedPreSyncHook(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("failing migration", map[string]string{
		"apps/web/kustomization.yaml": "resources: [migrate.yaml, deploy.yaml, page.yaml]\n",
		"apps/web/migrate.yaml":       hookJob("name: migrate", "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookFailed", true),
		"apps/web/deploy.yaml":        webDeployment("nginx:1.0"),
		"apps/web/page.yaml":          hookJob("generateName: page-", "argocd.argoproj.io/hook: SyncFail", false),
	})
	out, errOut, code := gitops(t, "sync", "--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m")
	if code != 1 || !strings.Contains(errOut, "hook Job/"+ns+"/migrate failed: DeadlineExceeded") {
		t.Fatalf("sync: code %d, want 1 naming the failed hook\n%s%s", code, out, errOut)
	}
	inOrder(t, out, "Job/"+ns+"/migrate (hook) Failed", "SyncFail wave 0: applying", "(hook) Succeeded", "Job/"+ns+"/migrate (hook) deleted (delete policy HookFailed)",
		"OBJECT", "Job/"+ns+"/migrate (hook)", "PreSync", "Failed, deleted", "Deployment/"+ns+"/web", "pending", "FAILED to sync")
	if got := realKubectl(t, "get", "deployments", "-n", ns, "-o", "name"); got != "" {
		t.Errorf("the Sync phase was applied after a failed PreSync hook: %s", got)
	}
	if got := jobNames(t, ns); len(got) != 1 || !strings.HasPrefix(got[0], "page-") {
		t.Errorf("jobs %v: want the SyncFail Job only", got)
	}
}

func TestHelmHooksInPlainDirectory(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	files := map[string]string{
		"chart/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata: {k: v}\n",
		"chart/schema.yaml": hookJob("name: schema", "helm.sh/hook: \"pre-install,pre-upgrade\", helm.sh/hook-weight: \"-1\", helm.sh/hook-delete-policy: hook-succeeded", false),
		"chart/seed.yaml":   hookJob("name: seed", "helm.sh/hook: pre-install, helm.sh/hook-weight: \"2\"", false),
		"chart/notify.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notify\n  annotations: {helm.sh/hook: post-upgrade}\ndata: {k: v}\n",
		"chart/test.yaml":   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: chart-test\n  annotations: {helm.sh/hook: test}\nspec: {containers: [{name: t, image: busybox}]}\n",
	}
	r.Commit("chart output", files)
	args := []string{"--repo", r.Dir, "--path", "chart", "--dest-namespace", ns, "--inventory-namespace", ns}
	doc, progress := syncJSON(t, 0, args...)
	inOrder(t, progress, "PreSync wave -1: applying", "Job/"+ns+"/schema (hook) Succeeded", "PreSync wave 2: applying", "Job/"+ns+"/seed (hook) Succeeded",
		"Sync wave 0: applying", "ConfigMap/"+ns+"/config created", "PostSync wave 0: applying", "ConfigMap/"+ns+"/notify (hook) Succeeded",
		"Job/"+ns+"/schema (hook) deleted")
	var test string
	for _, o := range doc.Objects {
		if o.Name == "chart-test" {
			test = o.Action + ": " + o.Message
		}
	}
	if !strings.HasPrefix(test, "skipped: Helm hook test is not run by sync") {
		t.Errorf("the Helm test hook: %q", test)
	}
	if got := realKubectl(t, "get", "pods,configmaps", "-n", ns, "-o", "name"); strings.Contains(got, "chart-test") || !strings.Contains(got, "configmap/notify") {
		t.Errorf("objects:\n%s", got)
	}

	// A delete policy that does not exist: refused before any write,
	// naming the object and the policies there are.
	files["chart/seed.yaml"] = hookJob("name: seed", "helm.sh/hook: pre-install, argocd.argoproj.io/hook-delete-policy: OnSuccess", false)
	files["chart/extra.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"
	r.Commit("typo", files)
	out, errOut, code := gitops(t, append([]string{"sync"}, args...)...)
	if code != 1 || !strings.Contains(errOut, `Job/`+ns+`/seed: annotation argocd.argoproj.io/hook-delete-policy="OnSuccess": "OnSuccess" is not a delete policy; use one or more of HookSucceeded, HookFailed, BeforeHookCreation`) {
		t.Fatalf("bad delete policy: code %d\n%s%s", code, out, errOut)
	}
	if got := realKubectl(t, "get", "configmaps", "-n", ns, "-o", "name"); strings.Contains(got, "extra") {
		t.Errorf("an object was applied after a refused plan: %s", got)
	}
}

// Interrupted while a hook runs: the sync stops, takes its finalizer off
// the running hook, records the failure and exits 1.
func TestInterruptWhileHookRuns(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	stuck := strings.Replace(hookJob("name: stuck", "argocd.argoproj.io/hook: PreSync", true), "  activeDeadlineSeconds: 2\n", "", 1)
	r.Commit("a hook that never ends", map[string]string{
		"app/kustomization.yaml": "resources: [stuck.yaml]\n",
		"app/stuck.yaml":         stuck,
	})
	cmd := exec.Command(filepath.Join(plugin, "kubectl-gitops"), "--kubeconfig", lc.Kubeconfig, "sync", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := kube.BatchV1().Jobs(ns).Get(ctx, "stuck", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		cmd.Process.Kill()
		t.Fatal("the hook was never created")
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	sweepOutput(t, cmd.Path, cmd.Args[1:], out.String(), errOut.String())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("sync after SIGINT: %v, want exit code 1\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "stopping the sync where it is") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
	job, err := kube.BatchV1().Jobs(ns).Get(context.Background(), "stuck", metav1.GetOptions{})
	if err != nil || len(job.Finalizers) != 0 {
		t.Errorf("the running hook after the interrupt: finalizers %v (%v)", job.Finalizers, err)
	}
	hist, _, _ := gitops(t, "history", "app", "--inventory-namespace", ns)
	if !strings.Contains(hist, "Failed") || !strings.Contains(hist, "1 Running") {
		t.Errorf("history:\n%s", hist)
	}
}
