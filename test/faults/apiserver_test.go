package faults_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// killsOver is set once a test leaves a sync running in the background
// (its parallel part): from then on no test may stop the API server.
var killsOver atomic.Bool

// killAPIServer stops the API server (SIGKILL) and starts it again when
// the test ends, should the test not have done so.
//
// Only serial tests kill it. A test whose sync must wait out a lock that
// the fault left behind (60 s) does that after t.Parallel, so that the
// waits of all such tests overlap, after every kill.
func killAPIServer(t *testing.T) {
	t.Helper()
	if killsOver.Load() {
		t.Fatal("the API server may not be stopped now: a sync of a parallel test runs in the background; move this test before it")
	}
	if err := lc.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lc.StartAPIServer(context.Background()); err != nil {
			t.Errorf("start the API server again: %v", err)
		}
	})
}

func restartAPIServer(t *testing.T) {
	t.Helper()
	if err := lc.StartAPIServer(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The API server is killed while the sync waits on wave 0's health gate
// (wave 0 written, a Deployment there not ready; wave 1 not yet written).
// The sync fails at once with an error that says the API server could not
// be reached, what the sync was doing, and that its lock may be left; it
// does not hang while the server is down. After the restart nothing of wave
// 1 was written by the failed sync; the lease the dead server could not
// delete still holds the app (a rerun fails at once, naming it), and a rerun
// with --wait-for-lock converges (exit 0, every object there and healthy);
// nothing still in Git was deleted (same UIDs), and the inventory covers
// every object carrying the app's part-of label.
func TestAPIServerKilledMidWave(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("app", map[string]string{
		"app/kustomization.yaml": "resources: [config-0.yaml, gate.yaml, config-1.yaml, config-2.yaml]\n",
		"app/config-0.yaml":      configMap("config-0", 0),
		"app/gate.yaml":          gatedDeployment("gate", ns, 0),
		"app/config-1.yaml":      configMap("config-1", 1),
		"app/config-2.yaml":      configMap("config-2", 1),
	})
	args := []string{"sync", "web", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "3m"}

	first := startGitops(t, lc.Kubeconfig, args...)
	waitExists(t, ns, "ConfigMap", "config-0")
	waitExists(t, ns, "Deployment", "gate")
	before := uids(t, ns, "ConfigMap/config-0", "Deployment/gate")
	killAPIServer(t)
	code := first.wait(t, 2*time.Minute) // with the API server still down
	out := first.output()
	if code != 1 {
		t.Fatalf("the sync whose API server was killed exited %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"cannot reach the API server at " + strings.TrimSuffix(lc.Config.Host, "/") + " (", // what went wrong
		`read deployments in "` + ns + `" for health`,                                      // what the sync was doing
		"the lock Lease/" + ns + "/gitops-web may not have been released",                  // what it leaves
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the failed sync's output lacks %q:\n%s", want, out)
		}
	}
	restartAPIServer(t)

	if got := uids(t, ns, "ConfigMap/config-1", "ConfigMap/config-2"); got["ConfigMap/config-1"] != "" || got["ConfigMap/config-2"] != "" {
		t.Errorf("the failed sync wrote wave 1 (UIDs %v), though wave 0 never became healthy", got)
	}
	if got := checkInventory(t, ns, "web"); !slices.Equal(got, []string{"ConfigMap/config-0", "Deployment/gate"}) {
		t.Errorf("after the failed sync, the labelled objects are %v, want wave 0's", got)
	}

	openGate(t, ns)
	checkLockLeftBehind(t, ns, args)
	stdout, stderr, code := gitops(t, lc.Kubeconfig, append(args, "--wait-for-lock", "-o", "json")...)
	if code != 0 {
		t.Fatalf("rerun after the restart: exit %d\n%s%s", code, stdout, stderr)
	}
	res := parseResult(t, stdout)
	if res.Phase != "Succeeded" || res.Counts["pruned"] != 0 {
		t.Errorf("rerun: phase %s, counts %v; want Succeeded and nothing pruned", res.Phase, res.Counts)
	}
	for ref, action := range res.actions() {
		want := map[string]string{"ConfigMap/config-1": "created", "ConfigMap/config-2": "created"}[ref]
		if want == "" {
			want = "unchanged"
		}
		if ref == "Deployment/gate" && action == "configured" {
			continue // no change in Git, but it may be reapplied: not asserted
		}
		if action != want {
			t.Errorf("rerun: %s %s, want %s", ref, action, want)
		}
	}
	if after := uids(t, ns, "ConfigMap/config-0", "Deployment/gate"); after["ConfigMap/config-0"] != before["ConfigMap/config-0"] || after["Deployment/gate"] != before["Deployment/gate"] {
		t.Errorf("objects of wave 0 were deleted and created again: UIDs before %v, after %v", before, after)
	}
	if !deploymentAvailable(t, ns, "gate") {
		t.Errorf("Deployment/%s/gate is not available after a successful sync", ns)
	}
	want := []string{"ConfigMap/config-0", "ConfigMap/config-1", "ConfigMap/config-2", "Deployment/gate"}
	if got := checkInventory(t, ns, "web"); !slices.Equal(got, want) {
		t.Errorf("after the rerun, the labelled objects are %v, want %v", got, want)
	}
}

// A previous generation of the app had objects that left Git; the API
// server is killed while the new generation waits on its health gate,
// before the prune. The failed sync pruned nothing (the old objects are
// there, same UIDs, still covered by the inventory); the rerun after the
// restart prunes exactly those.
func TestAPIServerKilledBeforePrune(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("gen 1", map[string]string{
		"app/kustomization.yaml": "resources: [keep.yaml, old-a.yaml, old-b.yaml]\n",
		"app/keep.yaml":          configMap("keep", 0),
		"app/old-a.yaml":         configMap("old-a", 0),
		"app/old-b.yaml":         configMap("old-b", 1),
	})
	args := []string{"sync", "web", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "3m"}
	if stdout, stderr, code := gitops(t, lc.Kubeconfig, args...); code != 0 {
		t.Fatalf("gen 1: exit %d\n%s%s", code, stdout, stderr)
	}
	old := uids(t, ns, "ConfigMap/old-a", "ConfigMap/old-b")

	r.Remove("gen 2: old-a and old-b leave", "app/old-a.yaml", "app/old-b.yaml")
	r.Commit("gen 2: a gated Deployment", map[string]string{
		"app/kustomization.yaml": "resources: [keep.yaml, gate.yaml]\n",
		"app/gate.yaml":          gatedDeployment("gate", ns, 0),
	})
	second := startGitops(t, lc.Kubeconfig, args...)
	waitExists(t, ns, "Deployment", "gate")
	killAPIServer(t)
	if code := second.wait(t, 2*time.Minute); code != 1 {
		t.Fatalf("the sync whose API server was killed exited %d, want 1\n%s", code, second.output())
	}
	if out := second.output(); !strings.Contains(out, "cannot reach the API server") {
		t.Errorf("the failed sync's output does not say the API server could not be reached:\n%s", out)
	}
	restartAPIServer(t)

	if got := uids(t, ns, "ConfigMap/old-a", "ConfigMap/old-b"); got["ConfigMap/old-a"] != old["ConfigMap/old-a"] || got["ConfigMap/old-b"] != old["ConfigMap/old-b"] {
		t.Fatalf("the failed sync pruned: UIDs before %v, after %v", old, got)
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/keep", "ConfigMap/old-a", "ConfigMap/old-b", "Deployment/gate"}; !slices.Equal(got, want) {
		t.Errorf("after the failed sync, the labelled objects are %v, want %v", got, want)
	}

	openGate(t, ns)
	checkLockLeftBehind(t, ns, args)
	stdout, stderr, code := gitops(t, lc.Kubeconfig, append(args, "--wait-for-lock", "-o", "json")...)
	if code != 0 {
		t.Fatalf("rerun after the restart: exit %d\n%s%s", code, stdout, stderr)
	}
	pruned := parseResult(t, stdout).pruned()
	if want := []string{"ConfigMap/old-a", "ConfigMap/old-b"}; !slices.Equal(pruned, want) {
		t.Errorf("the rerun pruned %v, want %v", pruned, want)
	}
	// A prune deletes in the foreground: the garbage collector of the
	// controller-manager, itself reconnecting after the restart, removes
	// the object once it has no dependents. Until then it is terminating.
	waitUntil(t, time.Minute, "the pruned ConfigMaps to be gone", func(context.Context) (bool, error) {
		got := uids(t, ns, "ConfigMap/old-a", "ConfigMap/old-b")
		return got["ConfigMap/old-a"] == "" && got["ConfigMap/old-b"] == "", nil
	})
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/keep", "Deployment/gate"}; !slices.Equal(got, want) {
		t.Errorf("after the rerun, the labelled objects are %v, want %v", got, want)
	}
}

// checkLockLeftBehind asserts that the lease of a sync the API server died
// under outlives it: a sync now fails at once, naming the lock and
// --wait-for-lock, and writes nothing. Then the test goes on in parallel
// with the others, whose syncs wait out such leases too.
func checkLockLeftBehind(t *testing.T, ns string, args []string) {
	t.Helper()
	stdout, stderr, code := gitops(t, lc.Kubeconfig, args...)
	if code != 1 || !strings.Contains(stderr, "another sync holds Lease/"+ns+"/gitops-web") || !strings.Contains(stderr, "--wait-for-lock") {
		t.Errorf("a sync right after the restart: exit %d, want 1 naming the lease the failed sync left and --wait-for-lock\n%s%s", code, stdout, stderr)
	}
	t.Parallel()
}

// The same kill, but the sync has --retry-limit: the refused connection is
// transient, so it retries the whole sync. Once the API server is back, the
// retry waits for the lease its own first attempt could not release (it
// expires after 60 s) and converges, in the same command: exit 0, wave 1
// written, nothing pruned, the inventory covering every member.
func TestAPIServerKilledSyncRetries(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("app", map[string]string{
		"app/kustomization.yaml": "resources: [gate.yaml, config-1.yaml]\n",
		"app/gate.yaml":          gatedDeployment("gate", ns, 0),
		"app/config-1.yaml":      configMap("config-1", 1),
	})
	p := startGitops(t, lc.Kubeconfig, "sync", "web", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns,
		"--timeout", "3m", "--retry-limit", "6", "--retry-backoff", "2s")
	waitExists(t, ns, "Deployment", "gate")
	killAPIServer(t)
	waitUntil(t, time.Minute, "the sync to retry", func(context.Context) (bool, error) {
		return strings.Contains(p.output(), "retry 1 in 2s after: "), nil
	})
	restartAPIServer(t)
	openGate(t, ns)
	killsOver.Store(true)
	t.Parallel()

	if code := p.wait(t, 4*time.Minute); code != 0 {
		t.Fatalf("the retried sync exited %d, want 0\n%s", code, p.output())
	}
	out := p.output()
	if !strings.Contains(out, "synced web") || strings.Contains(out, "pruned") {
		t.Errorf("the retried sync's output:\n%s", out)
	}
	if !deploymentAvailable(t, ns, "gate") {
		t.Errorf("Deployment/%s/gate is not available after a successful sync", ns)
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/config-1", "Deployment/gate"}; !slices.Equal(got, want) {
		t.Errorf("the labelled objects are %v, want %v", got, want)
	}
}
