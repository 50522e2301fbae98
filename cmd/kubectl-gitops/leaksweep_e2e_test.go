package main_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// Every command that reads a Secret, on a Secret made by client-side
// kubectl apply (whose last-applied annotation holds its data) and then
// changed in Git, in text, -o json and -o yaml: adopt, sync, diff, status,
// history, rollback. The leak sweep of the runners (stdout, stderr) and of
// the namespace (Events, inventory, Leases) must find none of its values.
func TestEveryCommandShowsNoSecret(t *testing.T) {
	const (
		kubectlValue = "sweep-kubectl-applied-4e1d9c"
		gitValue     = "sweep-git-value-77b2a0"
		changedValue = "sweep-changed-in-git-c5e813"
		jsonAuth     = "sweep-json-auth-0f9e2b"
	)
	for _, v := range []string{kubectlValue, gitValue, changedValue, jsonAuth} {
		leaksweep.Secret(t, v)
	}
	secret := func(v string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: api-creds}\nstringData:\n  token: " + v + "\n  config.json: '{\"auth\": \"" + jsonAuth + "\", \"user\": \"" + v + "\"}'\n"
	}
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	realKubectlIn(t, secret(kubectlValue), "-n", ns, "apply", "-f", "-")

	r := testrepo.New(t)
	r.Commit("initial", map[string]string{
		"apps/api/kustomization.yaml": "resources: [secret.yaml, cm.yaml]\n",
		"apps/api/secret.yaml":        secret(gitValue),
		"apps/api/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api}\ndata: {color: blue}\n",
	})
	base := []string{"--repo", r.Dir, "--path", "apps/api", "--dest-namespace", ns, "--inventory-namespace", ns}
	run := func(wantCode int, args ...string) {
		t.Helper()
		if out, errOut, code := gitops(t, args...); code != wantCode {
			t.Errorf("%v: exit %d, want %d\n%s%s", args, code, wantCode, leaksweep.Redact(out), leaksweep.Redact(errOut))
		}
	}
	for _, o := range [][]string{nil, {"-o", "json"}, {"-o", "yaml"}} {
		run(0, append(append([]string{"diff", "api"}, base...), o...)...)
	}
	run(0, append([]string{"adopt", "api", "--dry-run"}, base...)...)
	run(0, append([]string{"adopt", "api", "--dry-run", "-o", "json"}, base...)...)
	run(0, append([]string{"adopt", "api", "--yes"}, base...)...)
	s, err := kube.CoreV1().Secrets(ns).Get(context.Background(), "api-creds", metav1.GetOptions{})
	if err != nil || string(s.Data["token"]) != gitValue {
		t.Fatalf("Secret/%s/api-creds after adopt: %v (token of %d bytes)", ns, err, len(s.Data["token"]))
	}

	r.Commit("change", map[string]string{"apps/api/secret.yaml": secret(changedValue)})
	for _, o := range [][]string{nil, {"-o", "json"}, {"-o", "yaml"}} {
		run(0, append(append([]string{"diff", "api"}, base...), o...)...)
		run(0, append([]string{"status", "api", "--inventory-namespace", ns}, o...)...)
	}
	run(0, append(append([]string{"sync", "api"}, base...), "--dry-run")...)
	run(0, append(append([]string{"sync", "api"}, base...), "-o", "json")...)
	run(0, append([]string{"sync", "api"}, base...)...)
	for _, o := range [][]string{nil, {"-o", "json"}} {
		run(0, append([]string{"history", "api", "--inventory-namespace", ns}, o...)...)
	}
	run(0, "rollback", "api", "1", "--dry-run", "--inventory-namespace", ns, "--dest-namespace", ns)
	run(0, "rollback", "api", "1", "--inventory-namespace", ns, "--dest-namespace", ns, "-o", "json")
	run(0, "render", "--repo", r.Dir, "--path", "apps/api", "-o", "json")
}
