package faults_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// The sync process is SIGKILLed while it waits on wave 0's health gate,
// holding its lock (Lease gitops-APP, 60 s, docs/sync.md step 4). Nothing
// releases the Lease: it stays, held by the dead process. A second sync
// fails at once naming that holder and --wait-for-lock, and writes nothing.
// A sync with --wait-for-lock takes the Lease over once it has expired and
// converges; it then releases it. (The CLI has no option to shorten the
// lock, so this waits out the real 60 seconds, once.)
func TestSyncKilledHoldsLockUntilItExpires(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("app", map[string]string{
		"app/kustomization.yaml": "resources: [gate.yaml, config-1.yaml]\n",
		"app/gate.yaml":          gatedDeployment("gate", ns, 0),
		"app/config-1.yaml":      configMap("config-1", 1),
	})
	args := []string{"sync", "web", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "3m"}
	leases := kube(t).CoordinationV1().Leases(ns)

	first := startGitops(t, lc.Kubeconfig, args...)
	waitExists(t, ns, "Deployment", "gate")
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.wait(t, time.Minute)
	lease, err := leases.Get(context.Background(), "gitops-web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Lease of the killed sync: %v", err)
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if !strings.HasSuffix(holder, fmt.Sprintf(":%d", first.cmd.Process.Pid)) || ptr.Deref(lease.Spec.LeaseDurationSeconds, 0) != 60 {
		t.Fatalf("Lease/%s/gitops-web: holder %q, duration %ds; want the killed process (pid %d) for 60s", ns, holder, ptr.Deref(lease.Spec.LeaseDurationSeconds, 0), first.cmd.Process.Pid)
	}

	_, stderr, code := gitops(t, lc.Kubeconfig, args...)
	if code != 1 {
		t.Fatalf("a sync while the dead one's lock lasts: exit %d, want 1\n%s", code, stderr)
	}
	for _, want := range []string{"another sync holds Lease/" + ns + "/gitops-web: " + holder, "--wait-for-lock"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the refused sync's error lacks %q:\n%s", want, stderr)
		}
	}
	if got := uids(t, ns, "ConfigMap/config-1"); got["ConfigMap/config-1"] != "" {
		t.Errorf("the sync refused for the lock wrote ConfigMap/config-1")
	}

	openGate(t, ns)
	t.Parallel() // the wait for the lease overlaps with the other tests' waits
	stdout, stderr, code := gitops(t, lc.Kubeconfig, append(args, "--wait-for-lock", "-o", "json")...)
	if code != 0 {
		t.Fatalf("sync --wait-for-lock: exit %d\n%s%s", code, stdout, stderr)
	}
	if res := parseResult(t, stdout); res.Phase != "Succeeded" || res.actions()["ConfigMap/config-1"] != "created" {
		t.Errorf("sync --wait-for-lock: phase %s, actions %v", res.Phase, res.actions())
	}
	if _, err := leases.Get(context.Background(), "gitops-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Lease after the sync that took it over ended: %v, want it released (not found)", err)
	}
	if !deploymentAvailable(t, ns, "gate") {
		t.Errorf("Deployment/%s/gate is not available after a successful sync", ns)
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/config-1", "Deployment/gate"}; !slices.Equal(got, want) {
		t.Errorf("the labelled objects are %v, want %v", got, want)
	}
}

// 409 Conflict on the lock's own writes, from a proxy in front of the real
// API server: on the first renewal of the Lease (20 s into a sync that
// waits on a health gate) and on its release. A renewal refused for a
// changed resourceVersion reads the Lease, finds it still its own and
// renews over what it read; the release does the same and deletes it. The
// sync is not stopped (the lock is not lost), converges, and leaves no
// Lease behind.
func TestLeaseConflictsOnRenewalAndRelease(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("app", map[string]string{
		"app/kustomization.yaml": "resources: [gate.yaml, config-1.yaml]\n",
		"app/gate.yaml":          gatedDeployment("gate", ns, 0),
		"app/config-1.yaml":      configMap("config-1", 1),
	})
	lease := "leases/" + ns + "/gitops-web"
	renewal := &fault{name: "409 on the Lease's first renewal", status: 409, reason: "Conflict", left: 1,
		match: func(r request) bool { return r.Verb == "UPDATE" && r.Object == lease }}
	release := &fault{name: "409 on the Lease's release", status: 409, reason: "Conflict", left: 1,
		match: func(r request) bool { return r.Verb == "DELETE" && r.Object == lease }}
	p := newFaultProxy(t, renewal, release)

	sync := startGitops(t, p.kubeconfig, "sync", "web", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "3m", "-o", "json")
	t.Parallel() // the wait for the first renewal overlaps with the other tests
	waitUntil(t, 90*time.Second, "the Lease renewed after the refused renewal", func(context.Context) (bool, error) {
		var refused bool
		for _, r := range p.requests() {
			if r.Verb == "UPDATE" && r.Object == lease {
				if r.Fault != "" {
					refused = true
				} else if refused && r.Reached && r.Status == 200 {
					return true, nil
				}
			}
		}
		return false, nil
	})
	openGate(t, ns)
	if code := sync.wait(t, 2*time.Minute); code != 0 {
		t.Fatalf("sync: exit %d\n%s", code, sync.output())
	}
	p.checkFaultsHit(t, renewal, release)
	if out := sync.output(); strings.Contains(out, "lost the lock") {
		t.Errorf("the sync lost its lock:\n%s", out)
	}
	if _, err := kube(t).CoordinationV1().Leases(ns).Get(context.Background(), "gitops-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Lease after a release refused once: %v, want it deleted", err)
	}
	// What the lock did: read the Lease after each 409, then wrote again.
	var seq []string
	for _, r := range p.requests() {
		if r.Object == lease && r.Verb != "CREATE" {
			s := fmt.Sprintf("%s %d", r.Verb, r.Status)
			if r.Fault != "" {
				s = r.Verb + " refused"
			}
			if len(seq) == 0 || seq[len(seq)-1] != s {
				seq = append(seq, s)
			}
		}
	}
	for _, want := range [][]string{{"UPDATE refused", "GET 200", "UPDATE 200"}, {"DELETE refused", "GET 200", "DELETE 200"}} {
		if !containsRun(seq, want) {
			t.Errorf("the Lease's requests %v lack %v", seq, want)
		}
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/config-1", "Deployment/gate"}; !slices.Equal(got, want) {
		t.Errorf("the labelled objects are %v, want %v", got, want)
	}
}

// containsRun says whether run appears in seq, consecutively.
func containsRun(seq, run []string) bool {
	for i := 0; i+len(run) <= len(seq); i++ {
		if slices.Equal(seq[i:i+len(run)], run) {
			return true
		}
	}
	return false
}
