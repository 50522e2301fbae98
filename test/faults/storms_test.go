package faults_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// stormApp is the app the storms hit: two waves, a Deployment that
// becomes ready (its pods run on the kwok node).
func stormApp(t *testing.T, ns string) (*testrepo.Repo, []string) {
	t.Helper()
	r := testrepo.New(t)
	r.Commit("app", map[string]string{
		"app/kustomization.yaml": "resources: [config-0.yaml, config-1.yaml, config-2.yaml, web.yaml]\n",
		"app/config-0.yaml":      configMap("config-0", 0),
		"app/config-1.yaml":      configMap("config-1", 1),
		"app/config-2.yaml":      configMap("config-2", 1),
		"app/web.yaml":           strings.ReplaceAll(gatedDeployment("web", ns, 1), "      nodeSelector: {"+gateLabel(ns)+": open}\n", ""),
	})
	return r, []string{"ConfigMap/config-0", "ConfigMap/config-1", "ConfigMap/config-2", "Deployment/web"}
}

func syncArgs(r *testrepo.Repo, ns string, extra ...string) []string {
	return append([]string{"sync", "web", "--repo", r.Dir, "--path", "app", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m", "-o", "json"}, extra...)
}

// checkConverged asserts a successful sync left every object there,
// healthy, covered by the inventory.
func checkConverged(t *testing.T, ns string, want []string, stdout, stderr string, code int) {
	t.Helper()
	if code != 0 {
		t.Fatalf("sync: exit %d\n%s%s", code, stdout, stderr)
	}
	if res := parseResult(t, stdout); res.Phase != "Succeeded" {
		t.Errorf("sync: phase %s: %s", res.Phase, res.Message)
	}
	if !deploymentAvailable(t, ns, "web") {
		t.Errorf("Deployment/%s/web is not available after a successful sync", ns)
	}
	if got := checkInventory(t, ns, "web"); !slices.Equal(got, want) {
		t.Errorf("the labelled objects are %v, want %v", got, want)
	}
}

func isMember(r request, ns string) bool {
	return strings.HasPrefix(r.Object, "configmaps/"+ns+"/config-") || strings.HasPrefix(r.Object, "deployments/"+ns+"/")
}

// 409 Conflict on the requests where one matters: the inventory parent's
// writes (they carry the resourceVersion read under the lock), the lock's
// Lease create, and an apply PATCH of a member. A 409 that is not a field
// conflict is transient (docs/sync.md): it fails the attempt, and
// --retry-limit retries the whole sync, which compares again and writes
// only what is still to write.
func TestConflictStorm(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r, want := stormApp(t, ns)
	inventoryWrite := &fault{name: "409 on the inventory's writes", status: 409, reason: "Conflict", left: 2,
		match: func(r request) bool { return r.Verb == "PATCH" && r.Object == "configmaps/"+ns+"/gitops-web" }}
	leaseCreate := &fault{name: "409 on the Lease's create", status: 409, reason: "Conflict", left: 1,
		match: func(r request) bool { return r.Verb == "CREATE" && r.Object == "leases/"+ns+"/gitops-web" }}
	apply := &fault{name: "409 on the apply of config-1", status: 409, reason: "Conflict", left: 1,
		match: func(r request) bool { return r.Verb == "PATCH" && r.Object == "configmaps/"+ns+"/config-1" }}
	p := newFaultProxy(t, inventoryWrite, leaseCreate, apply)

	stdout, stderr, code := gitops(t, p.kubeconfig, syncArgs(r, ns, "--retry-limit", "6", "--retry-backoff", "1s", "--retry-factor", "1")...)
	checkConverged(t, ns, want, stdout, stderr, code)
	p.checkFaultsHit(t, inventoryWrite, leaseCreate, apply)
	if !strings.Contains(stderr, "retry 1 in 1s after:") {
		t.Errorf("no retry of the whole sync was reported:\n%s", stderr)
	}
	log := p.requests()
	checkNoDuplicateWrites(t, "web", log)
	if got := writesOf(log, "PATCH", "configmaps/"+ns+"/config-"); !slices.Equal(got, []string{"configmaps/" + ns + "/config-0", "configmaps/" + ns + "/config-1", "configmaps/" + ns + "/config-2"}) {
		t.Errorf("accepted applies of the ConfigMaps: %v, want one each", got)
	}
}

// 429 Too Many Requests with Retry-After, twice on every request of the
// sync that writes a member or reads for health, and 503 with Retry-After
// on lists: client-go waits and repeats these requests itself, so the sync
// converges in one attempt, with no retry of its own (--retry-limit 0).
// Each throttled request reached the API server once, after its throttles.
func TestThrottlingWithRetryAfter(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r, want := stormApp(t, ns)
	throttled := &fault{name: "429 with Retry-After on member writes", status: 429, reason: "TooManyRequests", retryAfter: "1", perObject: 2,
		match: func(r request) bool { return isMember(r, ns) && r.write() }}
	unavailable := &fault{name: "503 with Retry-After on lists", status: 503, reason: "ServiceUnavailable", retryAfter: "1", left: 3,
		match: func(r request) bool { return r.Verb == "LIST" }}
	p := newFaultProxy(t, throttled, unavailable)

	stdout, stderr, code := gitops(t, p.kubeconfig, syncArgs(r, ns)...)
	checkConverged(t, ns, want, stdout, stderr, code)
	p.checkFaultsHit(t, throttled, unavailable)
	if strings.Contains(stderr, "retry 1") {
		t.Errorf("the sync retried as a whole, though client-go should have waited out Retry-After:\n%s", stderr)
	}
	log := p.requests()
	checkNoDuplicateWrites(t, "web", log)
	// Every member write was throttled twice before it reached the server.
	for obj, n := range throttled.byObject {
		if n != 2 {
			t.Errorf("%s throttled %d times, want 2", obj, n)
		}
	}
	if len(throttled.byObject) != len(want) {
		t.Errorf("throttled writes to %d objects, want %d (every member): %v", len(throttled.byObject), len(want), throttled.byObject)
	}
}

// 500 and 503 without Retry-After are not repeated by client-go: the
// attempt fails and --retry-limit retries the whole sync. One of the
// faults answers after the API server did the work (the response is lost):
// the retry compares again, finds the object applied, and does not write it
// a second time.
func TestServerErrorStorm(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r, want := stormApp(t, ns)
	storm := &fault{name: "503 on member writes", status: 503, reason: "ServiceUnavailable", left: 3,
		match: func(r request) bool {
			return isMember(r, ns) && r.Verb == "PATCH" && !strings.HasSuffix(r.Object, "/config-2")
		}}
	lost := &fault{name: "500 after config-2 was applied", status: 500, reason: "InternalError", left: 1, lostResponse: true,
		match: func(r request) bool { return r.Verb == "PATCH" && r.Object == "configmaps/"+ns+"/config-2" }}
	listErr := &fault{name: "500 on a health read", status: 500, reason: "InternalError", left: 1,
		match: func(r request) bool { return r.Verb == "LIST" && strings.HasPrefix(r.Object, "deployments/"+ns) }}
	p := newFaultProxy(t, storm, lost, listErr)

	stdout, stderr, code := gitops(t, p.kubeconfig, syncArgs(r, ns, "--retry-limit", "8", "--retry-backoff", "1s", "--retry-factor", "1")...)
	checkConverged(t, ns, want, stdout, stderr, code)
	p.checkFaultsHit(t, storm, lost, listErr)
	if !strings.Contains(stderr, "retry 1 in 1s after:") {
		t.Errorf("no retry of the whole sync was reported:\n%s", stderr)
	}
	log := p.requests()
	checkNoDuplicateWrites(t, "web", log)
	if got := writesOf(log, "PATCH", "configmaps/"+ns+"/config-2"); len(got) != 1 {
		t.Errorf("config-2, whose first apply's answer was lost, was applied %d times, want 1", len(got))
	}
}

// A prune that fails half-way: 503 on the delete of the second of three
// members that left Git. The prune stops there: the first is pruned, the
// second failed, the third pending (not pruned), and both are still
// members the inventory covers. The next sync, without the fault, prunes
// exactly those two; every member was deleted once.
func TestPruneStopsAndResumes(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("gen 1", map[string]string{
		"app/kustomization.yaml": "resources: [keep.yaml, p-1.yaml, p-2.yaml, p-3.yaml]\n",
		"app/keep.yaml":          configMap("keep", 0),
		"app/p-1.yaml":           configMap("p-1", 0),
		"app/p-2.yaml":           configMap("p-2", 0),
		"app/p-3.yaml":           configMap("p-3", 0),
	})
	args := syncArgs(r, ns)
	if stdout, stderr, code := gitops(t, lc.Kubeconfig, args...); code != 0 {
		t.Fatalf("gen 1: exit %d\n%s%s", code, stdout, stderr)
	}
	r.Remove("gen 2: p-1, p-2, p-3 leave", "app/p-1.yaml", "app/p-2.yaml", "app/p-3.yaml")
	r.Commit("gen 2", map[string]string{"app/kustomization.yaml": "resources: [keep.yaml]\n"})

	deleteFails := &fault{name: "503 on the delete of p-2", status: 503, reason: "ServiceUnavailable", left: 100,
		match: func(r request) bool { return r.Verb == "DELETE" && r.Object == "configmaps/"+ns+"/p-2" }}
	p := newFaultProxy(t, deleteFails)
	stdout, stderr, code := gitops(t, p.kubeconfig, args...)
	if code != 1 {
		t.Fatalf("sync with a failing delete: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "ConfigMap/"+ns+"/p-2: prune failed") {
		t.Errorf("the error does not name the failed prune:\n%s", stderr)
	}
	res := parseResult(t, stdout)
	got := res.actions()
	for ref, want := range map[string]string{"ConfigMap/p-1": "pruned", "ConfigMap/p-2": "failed", "ConfigMap/p-3": "pending", "ConfigMap/keep": "unchanged"} {
		if got[ref] != want {
			t.Errorf("failed prune: %s %s, want %s", ref, got[ref], want)
		}
	}
	if got, want := checkInventory(t, ns, "web"), []string{"ConfigMap/keep", "ConfigMap/p-2", "ConfigMap/p-3"}; !slices.Equal(got, want) {
		t.Errorf("after the failed prune, the labelled objects are %v, want %v", got, want)
	}

	p.stop()
	stdout, stderr, code = gitops(t, p.kubeconfig, args...)
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
	log := p.requests()
	checkNoDuplicateWrites(t, "web", log)
	if got, want := writesOf(log, "DELETE", "configmaps/"+ns+"/p-"), []string{"configmaps/" + ns + "/p-1", "configmaps/" + ns + "/p-2", "configmaps/" + ns + "/p-3"}; !slices.Equal(got, want) {
		t.Errorf("accepted deletes %v, want %v", got, want)
	}
}
