package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// With an ignore rule for /spec/replicas on Deployments (what an HPA
// owns), a replica change is no difference for diff or status, and a sync
// with RespectIgnoreDifferences=true that ships a new image keeps it. The
// rules are recorded with the sync, so status and diff of the app alone
// use them too.
func TestIgnoreDifferencesCommand(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	r := testrepo.New(t)
	r.Commit("web 1.0", map[string]string{
		"apps/web/kustomization.yaml": "resources: [deploy.yaml]\n",
		"apps/web/deploy.yaml":        webDeployment("nginx:1.0"),
	})
	rules := filepath.Join(t.TempDir(), "ignore.yaml")
	if err := os.WriteFile(rules, []byte("- group: apps\n  kind: Deployment\n  jsonPointers: [/spec/replicas]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	app := []string{"--inventory-namespace", ns}
	source := append([]string{"--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns}, app...)
	syncArgs := append(append([]string{"sync", "web"}, source...), "--ignore-differences", rules, "--sync-option", "RespectIgnoreDifferences=true", "--timeout", "2m")
	if out, errOut, code := gitops(t, syncArgs...); code != 0 {
		t.Fatalf("sync: code %d\n%s%s", code, out, errOut)
	}

	realKubectl(t, "scale", "deployment/web", "-n", ns, "--replicas=4")

	// Without the rule the scale is drift; with it (given, or recorded)
	// there is nothing to show.
	if out, errOut, code := gitops(t, append(append([]string{"diff", "web"}, source...), "--exit-code")...); code != 1 || !strings.Contains(out, "+  replicas: 1") {
		t.Errorf("diff without the rule: code %d, want 1 and the replicas\n%s%s", code, out, errOut)
	}
	if out, errOut, code := gitops(t, append(append([]string{"diff", "web"}, source...), "--exit-code", "--ignore-differences", rules)...); code != 0 || out != "" {
		t.Errorf("diff with the rule: code %d, want 0 and no output\n%s%s", code, out, errOut)
	}
	if out, errOut, code := gitops(t, append([]string{"diff", "web", "--exit-code"}, app...)...); code != 0 || out != "" {
		t.Errorf("diff of the app with its recorded rules: code %d, want 0 and no output\n%s%s", code, out, errOut)
	}
	if out, errOut, code := gitops(t, append([]string{"status", "web", "--exit-code"}, app...)...); code != 0 || !strings.Contains(out, "Synced") {
		t.Errorf("status with the recorded rules: code %d, want 0 (Synced)\n%s%s", code, out, errOut)
	}

	// A new image ships; the HPA's replicas stay.
	r.Commit("web 1.1", map[string]string{"apps/web/deploy.yaml": webDeployment("nginx:1.1")})
	if out, errOut, code := gitops(t, syncArgs...); code != 0 || !strings.Contains(out, "configured") {
		t.Fatalf("sync of 1.1: code %d\n%s%s", code, out, errOut)
	}
	d, err := kube.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.1" || *d.Spec.Replicas != 4 {
		t.Errorf("after the sync: image %s, replicas %d; want nginx:1.1 and the 4 replicas kept", img, *d.Spec.Replicas)
	}
}
