package faults_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// pruneApp commits a first generation of keep and p-1..p-3, syncs it
// directly, then commits a second that keeps only keep: its sync prunes
// the three, in order.
func pruneApp(t *testing.T, ns string) (args []string, head string) {
	t.Helper()
	r := testrepo.New(t)
	r.Commit("gen 1", map[string]string{
		"app/kustomization.yaml": "resources: [keep.yaml, p-1.yaml, p-2.yaml, p-3.yaml]\n",
		"app/keep.yaml":          configMap("keep", 0),
		"app/p-1.yaml":           configMap("p-1", 0),
		"app/p-2.yaml":           configMap("p-2", 0),
		"app/p-3.yaml":           configMap("p-3", 0),
	})
	args = []string{"sync", "web", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m"}
	if stdout, stderr, code := gitops(t, lc.Kubeconfig, args...); code != 0 {
		t.Fatalf("gen 1: exit %d\n%s%s", code, stdout, stderr)
	}
	r.Remove("gen 2: p-1, p-2, p-3 leave", "app/p-1.yaml", "app/p-2.yaml", "app/p-3.yaml")
	head = r.Commit("gen 2", map[string]string{"app/kustomization.yaml": "resources: [keep.yaml]\n"})
	return args, head
}

// killWhenHung starts the sync through p, waits until the proxy holds the
// request hang is for, and SIGKILLs the process there.
func killWhenHung(t *testing.T, p *faultProxy, f *fault, args []string) {
	t.Helper()
	sync := startGitops(t, p.kubeconfig, args...)
	waitUntil(t, time.Minute, "the sync to reach "+f.name, func(context.Context) (bool, error) {
		for _, r := range p.requests() {
			if r.Fault == f.name {
				return true, nil
			}
		}
		return false, nil
	})
	if err := sync.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	sync.wait(t, time.Minute)
	p.stop()
}

// history is the app's sync records, as `history -o json` prints them.
func history(t *testing.T, ns string) []struct{ Commit, Phase string } {
	t.Helper()
	stdout, stderr, code := gitops(t, lc.Kubeconfig, "history", "web", "--inventory-namespace", ns, "-o", "json")
	if code != 0 {
		t.Fatalf("history: exit %d\n%s%s", code, stdout, stderr)
	}
	var recs []struct{ Commit, Phase string }
	if err := json.Unmarshal([]byte(stdout), &recs); err != nil {
		t.Fatalf("history -o json: %v\n%s", err, stdout)
	}
	return recs
}

// The sync process SIGKILLed in the middle of its prune: the delete of the
// second of three members that left Git hangs at the proxy, and the
// process dies there. The first is pruned; the second and third are
// untouched (same UIDs, not being deleted) and the inventory still covers
// them; no record was written. The next sync (taking the dead one's lock
// over) prunes exactly those two and records the commit once.
func TestSyncKilledMidPrune(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	args, head := pruneApp(t, ns)
	before := uids(t, ns, "ConfigMap/p-2", "ConfigMap/p-3")
	held := &fault{name: "the delete of p-2 held", status: 503, reason: "ServiceUnavailable", left: 1, hang: make(chan struct{}),
		match: func(r request) bool { return r.Verb == "DELETE" && r.Object == "configmaps/"+ns+"/p-2" }}
	killWhenHung(t, newFaultProxy(t, held), held, args)

	if got := uids(t, ns, "ConfigMap/p-1", "ConfigMap/p-2", "ConfigMap/p-3"); got["ConfigMap/p-2"] != before["ConfigMap/p-2"] || got["ConfigMap/p-3"] != before["ConfigMap/p-3"] {
		t.Fatalf("after the kill, UIDs %v; want p-2 and p-3 untouched: %v", got, before)
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/keep", "ConfigMap/p-2", "ConfigMap/p-3"}; !slices.Equal(got, want) {
		t.Errorf("after the kill, the labelled objects not being deleted are %v, want %v", got, want)
	}
	if recs := history(t, ns); len(recs) != 1 {
		t.Errorf("after the kill, history %+v; want gen 1's record alone", recs)
	}

	checkLockLeftBehind(t, ns, args)
	stdout, stderr, code := gitops(t, lc.Kubeconfig, append(args, "--wait-for-lock", "-o", "json")...)
	if code != 0 {
		t.Fatalf("the next sync: exit %d\n%s%s", code, stdout, stderr)
	}
	pruned := parseResult(t, stdout).pruned()
	if want := []string{"ConfigMap/p-2", "ConfigMap/p-3"}; !slices.Equal(pruned, want) {
		t.Errorf("the next sync pruned %v, want %v", pruned, want)
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/keep"}; !slices.Equal(got, want) {
		t.Errorf("after the next sync, the labelled objects are %v, want %v", got, want)
	}
	recs := history(t, ns)
	if len(recs) != 2 || recs[1].Commit != head || recs[1].Phase != "Succeeded" {
		t.Errorf("history %+v; want gen 1's record and one Succeeded record of %s", recs, head)
	}
}

// The sync process SIGKILLed after its prune, while it writes its record
// into the inventory: the write hangs at the proxy, and the process dies
// there. Everything was applied and pruned; only the record is missing (as
// after any crash: the history says what finished). The next sync finds
// nothing to write or prune and records the commit.
func TestSyncKilledWhileRecording(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	args, head := pruneApp(t, ns)
	inventory := "configmaps/" + ns + "/gitops-web"
	var pruneDone bool
	held := &fault{name: "the inventory write after the prune held", status: 503, reason: "ServiceUnavailable", left: 1, hang: make(chan struct{}),
		match: func(r request) bool {
			// The proxy calls match in request order, under its lock.
			if r.Verb == "DELETE" && r.Object == "configmaps/"+ns+"/p-3" {
				pruneDone = true
			}
			return pruneDone && r.Verb == "PATCH" && r.Object == inventory
		}}
	killWhenHung(t, newFaultProxy(t, held), held, args)

	waitUntil(t, time.Minute, "p-1, p-2 and p-3 gone", func(context.Context) (bool, error) {
		got := uids(t, ns, "ConfigMap/p-1", "ConfigMap/p-2", "ConfigMap/p-3")
		return got["ConfigMap/p-1"] == "" && got["ConfigMap/p-2"] == "" && got["ConfigMap/p-3"] == "", nil
	})
	if recs := history(t, ns); len(recs) != 1 {
		t.Errorf("after the kill, history %+v; want gen 1's record alone", recs)
	}

	checkLockLeftBehind(t, ns, args)
	stdout, stderr, code := gitops(t, lc.Kubeconfig, append(args, "--wait-for-lock", "-o", "json")...)
	if code != 0 {
		t.Fatalf("the next sync: exit %d\n%s%s", code, stdout, stderr)
	}
	res := parseResult(t, stdout)
	for ref, action := range res.actions() {
		if action != "unchanged" {
			t.Errorf("the next sync: %s %s, want unchanged (everything was done before the kill)", ref, action)
		}
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/keep"}; !slices.Equal(got, want) {
		t.Errorf("after the next sync, the labelled objects are %v, want %v", got, want)
	}
	recs := history(t, ns)
	if len(recs) != 2 || recs[1].Commit != head || recs[1].Phase != "Succeeded" {
		t.Errorf("history %+v; want gen 1's record and one Succeeded record of %s", recs, head)
	}
}
