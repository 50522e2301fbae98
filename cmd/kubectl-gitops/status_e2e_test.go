package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

func webDeployment(image string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: ` + image + `}]}
`
}

func realKubectl(t *testing.T, args ...string) string {
	t.Helper()
	return realKubectlIn(t, "", args...)
}

// realKubectlIn runs kubectl with stdin on its standard input.
func realKubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kubectl), append([]string{"--kubeconfig", lc.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	captureOutput(t, "output of `"+commandLine("kubectl", args)+"`", string(out))
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type statusDoc struct {
	App, Sync, Health, Reason string
	Moved                     *struct{ Revision, Synced, Now string }
	Source                    struct{ Commit, Revision string }
	Objects                   []struct{ Kind, Name, Sync, Health, Action string }
	Requests                  struct{ Reads, DryRuns int }
}

func statusJSON(t *testing.T, args ...string) statusDoc {
	t.Helper()
	out, errOut, code := gitops(t, append([]string{"status", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("status %v: code %d\n%s%s", args, code, out, errOut)
	}
	var doc statusDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	return doc
}

func TestStatusDriftAndExitCode(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("web 1.0", map[string]string{
		"apps/web/kustomization.yaml": "resources: [deploy.yaml, cm.yaml]\n",
		"apps/web/deploy.yaml":        webDeployment("nginx:1.0"),
		"apps/web/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {color: blue}\n",
	})
	if out, errOut, code := gitops(t, "sync", "--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m"); code != 0 {
		t.Fatalf("sync: code %d\n%s%s", code, out, errOut)
	}

	// In sync: no dry-run, and reads that do not count objects.
	doc := statusJSON(t, "web", "--inventory-namespace", ns)
	if doc.Sync != "Synced" || doc.Health != "Healthy" || len(doc.Objects) != 2 || doc.Requests.DryRuns != 0 {
		t.Errorf("status after sync: %+v", doc)
	}
	if out, errOut, code := gitops(t, "status", "web", "--inventory-namespace", ns, "--exit-code"); code != 0 || !strings.Contains(out, "Synced") {
		t.Errorf("status --exit-code of a synced app: code %d\n%s%s", code, out, errOut)
	}

	realKubectl(t, "scale", "deployment/web", "-n", ns, "--replicas=3")
	out, errOut, code := gitops(t, "status", "web", "--inventory-namespace", ns, "--exit-code")
	if code != 3 || !strings.Contains(out, "OutOfSync") {
		t.Errorf("status --exit-code after kubectl scale: code %d, want 3\n%s%s", code, out, errOut)
	}
	var named bool
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Deployment ") && strings.Contains(line, ns+"/web") && strings.Contains(line, "OutOfSync (configure)") && strings.Contains(line, "spec.replicas") {
			named = true
		}
		if strings.HasPrefix(line, "ConfigMap ") && !strings.Contains(line, " Synced ") {
			t.Errorf("the ConfigMap is not Synced: %q", line)
		}
	}
	t.Logf("status after kubectl scale:\n%s", out)
	if !named {
		t.Errorf("status does not name Deployment %s/web as OutOfSync on spec.replicas:\n%s", ns, out)
	}

	if out, errOut, code := gitops(t, "sync", "web", "--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m"); code != 0 {
		t.Fatalf("sync back: code %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := gitops(t, "status", "web", "--inventory-namespace", ns, "--exit-code"); code != 0 {
		t.Errorf("status --exit-code after the sync: code %d\n%s%s", code, out, errOut)
	}
}

func TestRollbackCommand(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	ctx := context.Background()
	r := testrepo.New(t)
	r.Commit("web 1.0", map[string]string{
		"apps/web/kustomization.yaml": "resources: [deploy.yaml]\n",
		"apps/web/deploy.yaml":        webDeployment("nginx:1.0"),
	})
	sync := []string{"sync", "--repo", r.Dir, "--path", "apps/web", "--revision", "main", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m"}
	if out, errOut, code := gitops(t, sync...); code != 0 {
		t.Fatalf("sync 1: code %d\n%s%s", code, out, errOut)
	}
	r.Commit("web 2.0 with its settings", map[string]string{
		"apps/web/kustomization.yaml": "resources: [deploy.yaml, settings.yaml]\n",
		"apps/web/deploy.yaml":        webDeployment("nginx:2.0"),
		"apps/web/settings.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-settings}\ndata: {mode: fast}\n",
	})
	if out, errOut, code := gitops(t, sync...); code != 0 {
		t.Fatalf("sync 2: code %d\n%s%s", code, out, errOut)
	}

	// Marked for automated sync: refused, naming --force.
	realKubectl(t, "annotate", "configmap/gitops-web", "-n", ns, "gitops.kubectl-gitops.dev/automated=true")
	out, errOut, code := gitops(t, "rollback", "web", "--inventory-namespace", ns)
	if code != 1 || !strings.Contains(errOut, "marked for automated sync") || !strings.Contains(errOut, "--force") {
		t.Errorf("rollback of an automated app: code %d, want 1 and a refusal naming --force\n%s%s", code, out, errOut)
	}
	if d, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{}); err != nil || d.Spec.Template.Spec.Containers[0].Image != "nginx:2.0" {
		t.Fatalf("a refused rollback changed the Deployment: %v", err)
	}

	// Errors name the fix.
	if _, errOut, code := gitops(t, "rollback", "web", "9", "--inventory-namespace", ns, "--force"); code != 1 || !strings.Contains(errOut, "no history ID 9; IDs: 1, 2") {
		t.Errorf("rollback to an unknown ID: code %d\n%s", code, errOut)
	}

	// From the record alone (no --repo): back to ID 1, pruning what 1 lacked.
	out, errOut, code = gitops(t, "rollback", "web", "--inventory-namespace", ns, "--force", "--timeout", "2m")
	if code != 0 || !strings.Contains(out, "rolling back to history ID 1") || !strings.Contains(out, "ConfigMap/"+ns+"/web-settings pruned") {
		t.Fatalf("rollback --force: code %d\n%s%s", code, out, errOut)
	}
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.0" {
		t.Errorf("after the rollback the Deployment's image is not nginx:1.0 (err %v)", err)
	}
	// Deleted with foreground propagation: gone once the garbage collector
	// has seen it has no dependents.
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "web-settings", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Errorf("ConfigMap web-settings, absent at the target commit, was not pruned: %v", err)
	}
	if cm, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "gitops-web", metav1.GetOptions{}); err != nil || cm.Annotations["gitops.kubectl-gitops.dev/automated"] != "true" {
		t.Errorf("the automated mark did not survive the rollback's record (err %v)", err)
	}

	out, errOut, code = gitops(t, "history", "web", "--inventory-namespace", ns)
	if code != 0 {
		t.Fatalf("history: code %d\n%s%s", code, out, errOut)
	}
	t.Logf("history:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("history has %d lines, want a header and 3 records:\n%s", len(lines), out)
	}
	for i, want := range [][]string{
		{"ID", "AUTHOR", "SUBJECT", "ROLLBACK"},
		{"1 ", "main", "test", "web 1.0", "Succeeded", "-"},
		{"2 ", "main", "test", "web 2.0 with its settings", "Succeeded"},
		{"3 ", "main", "test", "web 1.0", "Succeeded", "→ 1"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("history line %d lacks %q: %q", i, w, lines[i])
			}
		}
	}
	if strings.Contains(lines[1], "→") || strings.Contains(lines[2], "→") {
		t.Errorf("syncs shown as rollbacks:\n%s", out)
	}
}

func TestStatusListsAppsAndMovedRevision(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	cm := func(name, color string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {color: " + color + "}\n"
	}
	first := r.Commit("two apps", map[string]string{"apps/a/cm.yaml": cm("a", "blue"), "apps/b/cm.yaml": cm("b", "blue")})
	for _, p := range []string{"apps/a", "apps/b"} {
		if out, errOut, code := gitops(t, "sync", "--repo", r.Dir, "--path", p, "--revision", "main", "--dest-namespace", ns, "--inventory-namespace", ns); code != 0 {
			t.Fatalf("sync %s: code %d\n%s%s", p, code, out, errOut)
		}
	}
	out, errOut, code := gitops(t, "status", "--inventory-namespace", ns)
	if code != 0 {
		t.Fatalf("status: code %d\n%s%s", code, out, errOut)
	}
	t.Logf("status:\n%s", out)
	rows := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		rows[strings.Fields(line)[0]] = line
	}
	for _, app := range []string{"a", "b"} {
		if !strings.Contains(rows[app], "Synced") || !strings.Contains(rows[app], "Healthy") || !strings.Contains(rows[app], "main ("+first[:7]+")") || !strings.Contains(rows[app], "Succeeded") {
			t.Errorf("app %s: %q\n%s", app, rows[app], out)
		}
	}
	if len(rows) != 2 {
		t.Errorf("status lists %d apps, want 2:\n%s", len(rows), out)
	}

	second := r.Commit("a turns red", map[string]string{"apps/a/cm.yaml": cm("a", "red")})
	doc := statusJSON(t, "a", "--inventory-namespace", ns)
	if doc.Sync != "OutOfSync" || doc.Moved == nil || doc.Moved.Synced != first || doc.Moved.Now != second || doc.Source.Commit != second {
		t.Errorf("status of a after a new commit on main: %+v (moved %+v)", doc, doc.Moved)
	}
	out, errOut, code = gitops(t, "status", "a", "--inventory-namespace", ns)
	if code != 0 || !strings.Contains(out, "revision main moved: synced "+first[:7]+", now "+second[:7]) {
		t.Errorf("status a does not say the revision moved: code %d\n%s%s", code, out, errOut)
	}
	// b's files did not change: the revision moved, the app is in sync.
	doc = statusJSON(t, "b", "--inventory-namespace", ns)
	if doc.Sync != "Synced" || doc.Moved == nil {
		t.Errorf("status of b: %+v", doc)
	}

	// An app whose source is gone shows Unknown with the reason; the
	// others are still compared.
	other := testcluster.Namespace(t, lc)
	if out, errOut, code := gitops(t, "sync", "c", "--repo", r.Dir, "--path", "apps/a", "--revision", "main", "--dest-namespace", other, "--inventory-namespace", ns); code != 0 {
		t.Fatalf("sync c: code %d\n%s%s", code, out, errOut)
	}
	r.Remove("a leaves", "apps/a")
	out, errOut, code = gitops(t, "status", "--inventory-namespace", ns, "-o", "json")
	var list []statusDoc
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("status -o json: code %d, %v\n%s%s", code, err, out, errOut)
	}
	got := map[string]statusDoc{}
	for _, d := range list {
		got[d.App] = d
	}
	if got["c"].Sync != "Unknown" || got["c"].Reason == "" || got["b"].Sync != "Synced" {
		t.Errorf("apps after apps/a left the repository: %+v", list)
	}
}

// status --watch prints the app's line once, a new line when it drifts,
// and exits 0 on SIGINT.
func TestStatusWatch(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("web 1.0", map[string]string{
		"apps/web/kustomization.yaml": "resources: [deploy.yaml]\n",
		"apps/web/deploy.yaml":        webDeployment("nginx:1.0"),
	})
	if out, errOut, code := gitops(t, "sync", "--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m"); code != 0 {
		t.Fatalf("sync: code %d\n%s%s", code, out, errOut)
	}
	cmd := exec.Command(filepath.Join(plugin, "kubectl-gitops"), "--kubeconfig", lc.Kubeconfig, "status", "web", "--inventory-namespace", ns, "--watch", "--interval", "500ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	t.Cleanup(func() {
		captureOutput(t, "stdout of `kubectl-gitops status --watch`", strings.Join(seen, "\n"))
		captureOutput(t, "stderr of `kubectl-gitops status --watch`", errOut.String())
	})
	await := func(want string) {
		t.Helper()
		deadline := time.After(60 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %q:\n%s\n%s", want, strings.Join(seen, "\n"), errOut.String())
				}
				seen = append(seen, line)
				if strings.Contains(line, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no line with %q:\n%s\n%s", want, strings.Join(seen, "\n"), errOut.String())
			}
		}
	}
	await("web Synced Healthy")
	realKubectl(t, "scale", "deployment/web", "-n", ns, "--replicas=3")
	await("web OutOfSync")
	await("Deployment/" + ns + "/web OutOfSync (configure)")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("watch after SIGINT: %v, want exit 0\n%s", err, errOut.String())
	}
	// Rounds that find nothing new print nothing.
	synced := 0
	for _, line := range seen {
		if strings.Contains(line, "web Synced Healthy") {
			synced++
		}
	}
	if synced != 1 {
		t.Errorf("the in-sync state was printed %d times, want once:\n%s", synced, strings.Join(seen, "\n"))
	}
}
