package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// hookJob is a Job hook of phase and wave; a suspended one runs (holds its
// wave) until it is let go.
func hookJob(meta, phase string, wave int, suspend bool) string {
	s := ""
	if suspend {
		s = "  suspend: true\n"
	}
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  %s
  annotations: {argocd.argoproj.io/hook: %s, argocd.argoproj.io/sync-wave: "%d", argocd.argoproj.io/hook-delete-policy: HookSucceeded}
spec:
%s  backoffLimit: 0
  template:
    spec: {restartPolicy: Never, containers: [{name: main, image: busybox}]}
`, meta, phase, wave, s)
}

// uidWatch collects, from now on, every UID created of the objects a watch
// reports, by name (a generateName object by its generateName).
type uidWatch struct {
	mu   sync.Mutex
	seen map[string][]types.UID
	log  []watch.Event
}

func watchUIDs(t *testing.T, w watch.Interface) *uidWatch {
	u := &uidWatch{seen: map[string][]types.UID{}}
	t.Cleanup(w.Stop)
	go func() {
		for e := range w.ResultChan() {
			m, err := meta.Accessor(e.Object)
			if err != nil {
				continue
			}
			base := m.GetName()
			if g := m.GetGenerateName(); g != "" {
				base = g
			}
			u.mu.Lock()
			u.log = append(u.log, e)
			if !slices.Contains(u.seen[base], m.GetUID()) {
				u.seen[base] = append(u.seen[base], m.GetUID())
			}
			u.mu.Unlock()
		}
	}()
	return u
}

func (u *uidWatch) count(base string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen[base])
}

// leases are the states of the Lease a watch reported, in order; nil
// where it was deleted (released).
func (u *uidWatch) leases() []*coordinationv1.Lease {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []*coordinationv1.Lease
	for _, e := range u.log {
		if l, ok := e.Object.(*coordinationv1.Lease); ok {
			if e.Type == watch.Deleted {
				l = nil
			}
			out = append(out, l)
		}
	}
	return out
}

// Two replicas with leader election, one app whose sync holds on a running
// hook: its PreSync hook (before anything of the Sync phase is written), or
// its Sync-phase hook of wave 1 (after every object of the app is written,
// so that the app compares Synced). The leader is SIGKILLed while that hook
// runs (seen in the cluster, and the app's lock seen held by the leader's
// process). The standby takes the leadership, finds that a sync died under
// way, waits for the dead sync's lock to expire, and continues that sync:
// it waits for the running hook instead of creating it again, and runs
// what is left. Each hook is created once over both leaders, the app
// converges, the commit is synced once, and the app's lock never had two
// holders at once.
func TestAgentLeaderKilledMidSyncContinues(t *testing.T) {
	t.Run("PreSync", func(t *testing.T) { leaderKilledMidSync(t, "migrate-") })
	t.Run("Sync", func(t *testing.T) { leaderKilledMidSync(t, "warm") })
}

// leaderKilledMidSync kills the leader while the hook named held runs.
func leaderKilledMidSync(t *testing.T, held string) {
	ns := testcluster.Namespace(t, lc)
	k := kube(t)
	git := serve(t, map[string]string{
		"apps/web/cm.yaml":      configMap("hello"),
		"apps/web/migrate.yaml": hookJob("generateName: migrate-", "PreSync", 0, held == "migrate-"),
		"apps/web/warm.yaml":    hookJob("name: warm", "Sync", 1, held == "warm"),
	})
	appFile := filepath.Join(t.TempDir(), "web.yaml")
	name := "lk-" + ns
	if err := os.WriteFile(appFile, []byte(application(name, ns, git.url, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	jw, err := k.BatchV1().Jobs(ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: gsync.LabelHookOf})
	if err != nil {
		t.Fatal(err)
	}
	jobs := watchUIDs(t, jw)
	lw, err := k.CoordinationV1().Leases(ns).Watch(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=gitops-" + name})
	if err != nil {
		t.Fatal(err)
	}
	lock := watchUIDs(t, lw)

	args := []string{"--app-file", appFile, "--app-namespace", "", "--reconcile-interval", "2s", "--inventory-namespace", ns,
		"--leader-elect", "--leader-election-namespace", ns, "--lease-duration", "3s"}
	first := startAgent(t, args...)
	second := startAgent(t, args...)

	// The sync is under way: the held hook runs (and, held in the Sync
	// phase, every object of the app is written).
	var holder, migrate string
	eventually(t, 90*time.Second, "the hook "+held+" runs", func() error {
		list, err := k.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{LabelSelector: gsync.LabelHookOf})
		if err != nil {
			return err
		}
		migrate = ""
		for _, j := range list.Items {
			if strings.HasPrefix(j.Name, held) && j.Spec.Suspend != nil && *j.Spec.Suspend {
				migrate = j.Name
			}
		}
		if migrate == "" {
			return fmt.Errorf("hook jobs %d, none of them %s suspended", len(list.Items), held)
		}
		if held == "warm" && greeting(t, k, ns) != "hello" {
			return fmt.Errorf("the app's ConfigMap is not written yet")
		}
		l, err := k.CoordinationV1().Leases(ns).Get(context.Background(), "gitops-"+name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		holder = *l.Spec.HolderIdentity
		return nil
	})
	leader, standby := first, second
	if !strings.Contains(first.Logs(), `"msg":"leading"`) {
		leader, standby = second, first
	}
	if !strings.Contains(leader.Logs(), `"msg":"leading"`) || strings.Contains(standby.Logs(), `"msg":"leading"`) {
		t.Fatalf("want exactly one replica leading:\n%s\n%s", first.Logs(), second.Logs())
	}
	if !strings.HasSuffix(holder, fmt.Sprintf(":%d", leader.cmd.Process.Pid)) {
		t.Fatalf("the app's lock is held by %q, not by the leader (pid %d)", holder, leader.cmd.Process.Pid)
	}
	leader.kill()

	// The standby takes the lock once the dead sync's lease expired; then
	// the running hook is let go.
	eventually(t, 150*time.Second, "the standby holds the app's lock", func() error {
		l, err := k.CoordinationV1().Leases(ns).Get(context.Background(), "gitops-"+name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if h := *l.Spec.HolderIdentity; h == holder {
			return fmt.Errorf("held by %s", h)
		}
		return nil
	})
	if !strings.Contains(standby.Logs(), `"msg":"leading"`) {
		t.Errorf("the standby holds the app's lock without leading")
	}
	patch := []byte(`{"spec":{"suspend":false}}`)
	if _, err := k.BatchV1().Jobs(ns).Patch(context.Background(), migrate, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}

	// Converged: the commit recorded Succeeded, the hooks deleted by their
	// policy.
	eventually(t, 120*time.Second, "the app synced by the standby", func() error {
		hist, err := kubectlRun(t, "", "-n", ns, "get", "configmap", "gitops-"+name, "-o", "jsonpath={.data.history}")
		if err != nil || !strings.Contains(hist, `"phase":"Succeeded"`) {
			return fmt.Errorf("history %s (%v)", hist, err)
		}
		list, err := k.BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil || len(list.Items) != 0 {
			return fmt.Errorf("%d jobs left (%v)", len(list.Items), err)
		}
		return nil
	})
	if got := greeting(t, k, ns); got != "hello" {
		t.Errorf("greeting %q", got)
	}
	syncedOnce(t, ns, name, 1)
	if m, w := jobs.count("migrate-"), jobs.count("warm"); m != 1 || w != 1 {
		t.Errorf("hooks created: migrate %d, warm %d; want each once over both leaders", m, w)
	}
	checkOneHolderAtATime(t, lock.leases())
	hist := mustKubectl(t, "", "-n", ns, "get", "configmap", "gitops-"+name, "-o", "jsonpath={.data.history}")
	if strings.Count(hist, `"hooks"`) > 1 {
		t.Errorf("history has more than one record with hooks:\n%s", hist)
	}
}

// checkOneHolderAtATime checks, over the states of a lock Lease, that a new
// holder took it only once the lease of the one before had expired (its
// last renewal plus the lease duration) or after it was released
// (deleted: then the states restart).
func checkOneHolderAtATime(t *testing.T, states []*coordinationv1.Lease) {
	t.Helper()
	var prev *coordinationv1.Lease
	holders := 0
	for _, l := range states {
		if l == nil {
			prev = nil // released: the next holder needs no expiry
			continue
		}
		if prev != nil && *l.Spec.HolderIdentity != *prev.Spec.HolderIdentity {
			holders++
			expires := prev.Spec.RenewTime.Add(time.Duration(*prev.Spec.LeaseDurationSeconds) * time.Second)
			if l.Spec.AcquireTime == nil || l.Spec.AcquireTime.Time.Before(expires) {
				t.Errorf("the app's lock went from %s to %s at %v, before the former's lease expired at %v", *prev.Spec.HolderIdentity, *l.Spec.HolderIdentity, l.Spec.AcquireTime, expires)
			}
		}
		prev = l
	}
	if holders != 1 {
		t.Errorf("the app's lock changed holders %d times while held, want once (dead leader to standby)", holders)
	}
}
