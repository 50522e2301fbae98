package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// `kubectl gitops sync` SIGKILLed while its Sync-phase hook runs (its
// PreSync hook done), then run again with --wait-for-lock: the second run
// waits for the dead one's lock, continues its sync and creates no hook
// again; the app converges and the history has one record of the commit.
func TestSyncKilledMidHookIsContinued(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	hold := strings.Replace(hookJob("name: hold", "argocd.argoproj.io/hook: Sync, argocd.argoproj.io/sync-wave: \"1\", argocd.argoproj.io/hook-delete-policy: HookSucceeded", false),
		"  backoffLimit: 0\n", "  backoffLimit: 0\n  suspend: true\n", 1)
	r := testrepo.New(t)
	r.Commit("hooks", map[string]string{
		"app/kustomization.yaml": "resources: [migrate.yaml, cm.yaml, hold.yaml]\n",
		"app/migrate.yaml":       hookJob("generateName: migrate-", "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded", false),
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {k: v}\n",
		"app/hold.yaml":          hold,
	})
	args := []string{"sync", "app", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns}

	w, err := kube.BatchV1().Jobs(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: gsync.LabelHookOf})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string][]types.UID{}
	go func() {
		for e := range w.ResultChan() {
			if e.Type != watch.Added {
				continue
			}
			m, err := meta.Accessor(e.Object)
			if err != nil {
				continue
			}
			base := m.GetName()
			if g := m.GetGenerateName(); g != "" {
				base = g
			}
			mu.Lock()
			if !slices.Contains(created[base], m.GetUID()) {
				created[base] = append(created[base], m.GetUID())
			}
			mu.Unlock()
		}
	}()

	cmd := exec.Command(filepath.Join(plugin, "kubectl-gitops"), append([]string{"--kubeconfig", lc.Kubeconfig}, args...)...)
	var killedOut, killedErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &killedOut, &killedErr
	t.Cleanup(func() { sweepOutput(t, "kubectl-gitops (SIGKILLed)", args, killedOut.String(), killedErr.String()) })
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var holder string
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if _, err := kube.BatchV1().Jobs(ns).Get(ctx, "hold", metav1.GetOptions{}); err != nil {
			return false, nil
		}
		l, err := kube.CoordinationV1().Leases(ns).Get(ctx, "gitops-app", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return false, nil
		}
		holder = *l.Spec.HolderIdentity
		return true, nil
	})
	if err != nil {
		cmd.Process.Kill()
		t.Fatal("the Sync hook was never created")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	type runResult struct {
		out, errOut string
		code        int
	}
	done := make(chan runResult, 1)
	go func() {
		out, errOut, code := gitopsIn(t, "", nil, append(args, "--wait-for-lock", "--timeout", "4m", "-o", "json")...)
		done <- runResult{out, errOut, code}
	}()
	// The rerun holds the lock once the dead one's expired: then the hook
	// is let go.
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 150*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := kube.CoordinationV1().Leases(ns).Get(ctx, "gitops-app", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != holder, nil
	})
	if err != nil {
		t.Fatalf("the rerun never took the lock from %s", holder)
	}
	if _, err := kube.BatchV1().Jobs(ns).Patch(context.Background(), "hold", types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.code != 0 {
		t.Fatalf("the rerun: exit %d\n%s%s", res.code, res.out, res.errOut)
	}
	var doc struct {
		Phase   string
		Objects []struct {
			Name, GenerateName, Phase, Action string
			Hook                              *struct {
				Status             string
				Deleted, Continued bool
			}
		}
	}
	if err := json.Unmarshal([]byte(res.out), &doc); err != nil {
		t.Fatalf("-o json: %v\n%s", err, res.out)
	}
	hooks := 0
	for _, o := range doc.Objects {
		if o.Hook == nil {
			continue
		}
		hooks++
		if !o.Hook.Continued || o.Hook.Status != "Succeeded" || !o.Hook.Deleted || o.Action != "unchanged" {
			t.Errorf("hook %s%s (%s) in the rerun: action %s, %+v; want continued, Succeeded, deleted", o.Name, o.GenerateName, o.Phase, o.Action, *o.Hook)
		}
	}
	if doc.Phase != "Succeeded" || hooks != 2 {
		t.Errorf("rerun: phase %s, %d hooks\n%s", doc.Phase, hooks, res.out)
	}
	mu.Lock()
	if len(created["migrate-"]) != 1 || len(created["hold"]) != 1 {
		t.Errorf("hooks created over both runs: %v; want migrate- and hold once each", created)
	}
	mu.Unlock()
	if _, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "web", metav1.GetOptions{}); err != nil {
		t.Errorf("ConfigMap web: %v", err)
	}
	hist, _, _ := gitops(t, "history", "app", "--inventory-namespace", ns, "-o", "json")
	if strings.Count(hist, `"phase": "Succeeded"`)+strings.Count(hist, `"phase":"Succeeded"`) != 1 {
		t.Errorf("history: want one Succeeded record\n%s", hist)
	}
}
