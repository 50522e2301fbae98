package main_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

const newSecretValue = "rotated-plaintext-battery-staple"

const shopWebDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: "registry.example/web:1.0"}
`

func webRepo(t *testing.T) *testrepo.Repo {
	r := testrepo.New(t)
	r.Commit("initial", map[string]string{
		"apps/shop/kustomization.yaml": "resources: [cm.yaml, secret.yaml, web.yaml]\n",
		"apps/shop/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop}\ndata: {color: blue}\n",
		"apps/shop/secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\nstringData: {password: " + secretValue + "}\n",
		"apps/shop/web.yaml":           shopWebDeployment,
	})
	return r
}

// changed are the added and removed lines of a unified diff, file
// headers left out.
func changed(diff string) []string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "+++ ") {
			continue
		}
		if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
			out = append(out, l)
		}
	}
	return out
}

func kubectlCmd(t *testing.T, args ...string) {
	t.Helper()
	args = append([]string{"--kubeconfig", lc.Kubeconfig}, args...)
	b, err := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kubectl), args...).CombinedOutput()
	captureOutput(t, "output of `"+commandLine("kubectl", args)+"`", string(b))
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, b)
	}
}

// diff shows exactly what a hand edit changed, and nothing after a sync.
func TestDiffShowsDriftOnly(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := webRepo(t)
	flags := []string{"--repo", r.Dir, "--path", "apps/shop", "--dest-namespace", ns, "--inventory-namespace", ns}
	diff := append([]string{"diff"}, flags...)

	out, errOut, code := gitops(t, diff...)
	if code != 0 || !strings.Contains(errOut, "3 to create, 0 to change, 0 to prune") || !strings.Contains(out, "+++ MERGED/apps.v1.Deployment."+ns+".web") {
		t.Fatalf("diff before the first sync: code %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := gitops(t, append([]string{"sync"}, flags...)...); code != 0 {
		t.Fatalf("sync: code %d\n%s", code, errOut)
	}
	out, errOut, code = gitops(t, append(diff, "--exit-code")...)
	if code != 0 || out != "" || !strings.Contains(errOut, "0 to create, 0 to change, 0 to prune") {
		t.Fatalf("diff after sync --exit-code: code %d, want 0 and no diff\n%s%s", code, out, errOut)
	}

	kubectlCmd(t, "scale", "-n", ns, "deployment/web", "--replicas=1")
	out, errOut, code = gitops(t, diff...)
	if code != 0 {
		t.Errorf("diff with differences, without --exit-code: code %d, want 0\n%s", code, errOut)
	}
	if d := cmp.Diff([]string{"-  replicas: 1", "+  replicas: 3"}, changed(out)); d != "" {
		t.Errorf("diff after kubectl scale (-want +got):\n%s\n%s", d, out)
	}
	if !strings.HasPrefix(out, "diff -u -N LIVE/apps.v1.Deployment."+ns+".web MERGED/apps.v1.Deployment."+ns+".web\n") {
		t.Errorf("diff header:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("escape codes on a pipe:\n%q", out)
	}
	if !strings.Contains(errOut, "0 to create, 1 to change, 0 to prune") {
		t.Errorf("summary:\n%s", errOut)
	}
	if _, errOut, code := gitops(t, append(diff, "--exit-code")...); code != 1 {
		t.Errorf("diff --exit-code with differences: code %d, want 1\n%s", code, errOut)
	}
	if _, errOut, code := gitops(t, append(diff, "--exit-code", "--revision", "no-such-tag")...); code != 2 || !strings.Contains(errOut, "no-such-tag") {
		t.Errorf("diff --exit-code of an unknown revision: code %d, want 2\n%s", code, errOut)
	}

	if _, errOut, code := gitops(t, append([]string{"sync"}, flags...)...); code != 0 {
		t.Fatalf("sync: code %d\n%s", code, errOut)
	}
	if out, errOut, code := gitops(t, append(diff, "--exit-code")...); code != 0 || out != "" {
		t.Errorf("diff --exit-code after the sync took replicas back: code %d\n%s%s", code, out, errOut)
	}
}

// A changed Secret value shows as two different masks, and neither value
// nor its base64 appears anywhere: unified, -o json, -o yaml, the files
// given to KUBECTL_EXTERNAL_DIFF.
func TestDiffMasksSecrets(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := webRepo(t)
	flags := []string{"--repo", r.Dir, "--path", "apps/shop", "--dest-namespace", ns, "--inventory-namespace", ns}
	if _, errOut, code := gitops(t, append([]string{"sync"}, flags...)...); code != 0 {
		t.Fatalf("sync: code %d\n%s", code, errOut)
	}
	r.Commit("rotate", map[string]string{"apps/shop/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\nstringData: {password: " + newSecretValue + "}\n"})
	diff := append([]string{"diff"}, flags...)

	var printed []string
	out, errOut, code := gitops(t, append(diff, "--exit-code")...)
	printed = append(printed, out, errOut)
	if code != 1 {
		t.Errorf("diff --exit-code: code %d, want 1\n%s", code, errOut)
	}
	if d := cmp.Diff([]string{"-  password: ++++++++", "+  password: +++++++++"}, changed(out)); d != "" {
		t.Errorf("secret diff (-want +got):\n%s\n%s", d, out)
	}

	out, errOut, code = gitops(t, append(diff, "-o", "json")...)
	printed = append(printed, out, errOut)
	var v struct {
		App     string
		Objects []struct {
			Kind, Name, Action, Judged string
			Fields                     []struct{ Path, Live, Desired string }
		}
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 {
		t.Fatalf("-o json: code %d, %v\n%s%s", code, err, out, errOut)
	}
	if len(v.Objects) != 1 || v.Objects[0].Kind != "Secret" || v.Objects[0].Action != "configure" || v.Objects[0].Judged != "server" {
		t.Fatalf("-o json objects %+v", v.Objects)
	}
	if d := cmp.Diff([]struct{ Path, Live, Desired string }{{".data.password", "++++++++", "+++++++++"}}, v.Objects[0].Fields); d != "" {
		t.Errorf("-o json fields (-want +got):\n%s", d)
	}
	out, errOut, code = gitops(t, append(diff, "-o", "yaml")...)
	printed = append(printed, out, errOut)
	var y map[string]any
	if err := yaml.Unmarshal([]byte(out), &y); err != nil || code != 0 || y["app"] != "shop" {
		t.Errorf("-o yaml: code %d, %v\n%s", code, err, out)
	}

	// An external diff that keeps the two directories and exits as told.
	keep := t.TempDir()
	script := filepath.Join(t.TempDir(), "keepdiff")
	os.WriteFile(script, []byte("#!/bin/sh\ncp -R \"$1\" \"$KEEP/live\" && cp -R \"$2\" \"$KEEP/merged\" && echo external ran\nexit \"$DIFF_EXIT\"\n"), 0o755)
	t.Setenv("KUBECTL_EXTERNAL_DIFF", script)
	t.Setenv("KEEP", keep)
	t.Setenv("DIFF_EXIT", "1")
	out, errOut, code = gitops(t, diff...)
	printed = append(printed, out, errOut)
	if code != 1 || !strings.Contains(out, "external ran") {
		t.Errorf("external diff exiting 1: code %d, want 1 passed through\n%s%s", code, out, errOut)
	}
	name := "v1.Secret." + ns + ".shop-db"
	live, _ := os.ReadFile(filepath.Join(keep, "live", name))
	merged, _ := os.ReadFile(filepath.Join(keep, "merged", name))
	printed = append(printed, string(live), string(merged))
	if !strings.Contains(string(live), "password: ++++++++\n") || !strings.Contains(string(merged), "password: +++++++++\n") || strings.Contains(string(live), "managedFields") {
		t.Errorf("external diff files:\n%s---\n%s", live, merged)
	}
	t.Setenv("DIFF_EXIT", "0")
	if _, errOut, code := gitops(t, diff...); code != 0 {
		t.Errorf("external diff exiting 0: code %d\n%s", code, errOut)
	}
	t.Setenv("DIFF_EXIT", "3")
	if _, errOut, code := gitops(t, diff...); code != 2 || !strings.Contains(errOut, "KUBECTL_EXTERNAL_DIFF") {
		t.Errorf("external diff exiting 3: code %d, want 2 (as kubectl diff)\n%s", code, errOut)
	}

	for _, p := range printed {
		for _, secret := range []string{secretValue, newSecretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)), base64.StdEncoding.EncodeToString([]byte(newSecretValue))} {
			if strings.Contains(p, secret) {
				t.Errorf("a Secret value (%s) was shown:\n%s", secret, p)
			}
		}
	}
}

// --local renders the work tree as it is, uncommitted changes included.
func TestDiffAndRenderLocal(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := webRepo(t)
	if _, errOut, code := gitops(t, "sync", "--repo", r.Dir, "--path", "apps/shop", "--dest-namespace", ns, "--inventory-namespace", ns); code != 0 {
		t.Fatalf("sync: code %d\n%s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "apps/shop/cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop}\ndata: {color: green}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(r.Dir, "apps/shop")

	// APP derived from the directory's path in the work tree: shop.
	out, errOut, code := gitops(t, "diff", "--local", local, "--dest-namespace", ns, "--inventory-namespace", ns, "--exit-code")
	if code != 1 || !strings.Contains(errOut, "app shop: local directory") {
		t.Errorf("diff --local: code %d, want 1\n%s", code, errOut)
	}
	if d := cmp.Diff([]string{"-  color: blue", "+  color: green"}, changed(out)); d != "" {
		t.Errorf("diff --local (-want +got):\n%s\n%s", d, out)
	}
	// From Git, the change is not there.
	if out, errOut, code := gitops(t, "diff", "--repo", r.Dir, "--path", "apps/shop", "--dest-namespace", ns, "--inventory-namespace", ns, "--exit-code"); code != 0 || out != "" {
		t.Errorf("diff of the commit: code %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = gitops(t, "render", "--local", local)
	if code != 0 || !strings.Contains(out, "color: green") || !strings.Contains(out, "password: ++++++++") || strings.Contains(out, secretValue) {
		t.Errorf("render --local: code %d\n%s%s", code, out, errOut)
	}

	_, errOut, code = gitops(t, "diff", "--local", local, "--repo", r.Dir, "--revision", "main")
	if code != 2 || !strings.Contains(errOut, "--local renders a directory from disk, without Git: it conflicts with --repo and --revision") {
		t.Errorf("--local with --repo: code %d\n%s", code, errOut)
	}
}
