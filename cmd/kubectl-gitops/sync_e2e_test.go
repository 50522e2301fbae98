package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

var lc *localcluster.Cluster

func TestMain(m *testing.M) {
	dir, err := buildPlugin()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	plugin = dir
	code := testcluster.Main(m, &lc)
	os.RemoveAll(dir)
	os.Exit(code)
}

// gitops runs the built binary against the test cluster.
func gitops(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return gitopsIn(t, "", nil, args...)
}

const secretValue = "hunter2-plaintext-correct-horse"

func shopRepo(t *testing.T) *testrepo.Repo {
	r := testrepo.New(t)
	r.Commit("initial", map[string]string{
		"apps/shop/kustomization.yaml": "resources: [cm.yaml, secret.yaml]\n",
		"apps/shop/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop}\ndata: {color: blue}\n",
		"apps/shop/secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata: {name: shop-db}\nstringData: {password: " + secretValue + "}\n",
	})
	return r
}

func TestSyncCommand(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := shopRepo(t)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	base := []string{"sync", "--repo", r.Dir, "--path", "apps/shop", "--dest-namespace", ns, "--inventory-namespace", ns}

	var printed []string
	out, errOut, code := gitops(t, append(base, "--dry-run")...)
	printed = append(printed, out, errOut)
	if code != 0 || !strings.Contains(out, "Secret/"+ns+"/shop-db") || !strings.Contains(out, "dry run of shop") {
		t.Fatalf("dry run: code %d\n%s%s", code, out, errOut)
	}
	if _, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "shop", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("--dry-run wrote ConfigMap/shop (get: %v)", err)
	}

	out, errOut, code = gitops(t, append(base, "-o", "json")...)
	printed = append(printed, out, errOut)
	if code != 0 {
		t.Fatalf("sync: code %d\n%s%s", code, out, errOut)
	}
	var res struct {
		App, Phase, Commit string
		Counts             map[string]int
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("-o json is not one JSON document: %v\n%s", err, out)
	}
	if res.App != "shop" || res.Phase != "Succeeded" || res.Counts["created"] != 2 || len(res.Commit) != 40 {
		t.Errorf("result %+v", res)
	}
	s, err := kube.CoreV1().Secrets(ns).Get(context.Background(), "shop-db", metav1.GetOptions{})
	if err != nil || string(s.Data["password"]) != secretValue {
		t.Fatalf("live Secret: %v", err)
	}

	out, errOut, code = gitops(t, base...)
	printed = append(printed, out, errOut)
	if code != 0 || !strings.Contains(out, "2 unchanged") {
		t.Errorf("re-sync: code %d\n%s%s", code, out, errOut)
	}

	// Drift by client-side kubectl apply, with the real kubectl, is reverted.
	drifted := filepath.Join(t.TempDir(), "cm.yaml")
	if err := os.WriteFile(drifted, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shop, namespace: "+ns+"}\ndata: {color: red}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kubectl), "--kubeconfig", lc.Kubeconfig, "apply", "-f", drifted).CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, b)
	}
	out, errOut, code = gitops(t, base...)
	printed = append(printed, out, errOut)
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "shop", metav1.GetOptions{})
	if code != 0 || err != nil || cm.Data["color"] != "blue" || !strings.Contains(out, "1 configured") {
		t.Errorf("after client-side kubectl apply: code %d, color %q, err %v\n%s%s", code, cm.Data["color"], err, out, errOut)
	}

	out, errOut, code = gitops(t, "render", "--repo", r.Dir, "--path", "apps/shop")
	printed = append(printed, out, errOut)
	if code != 0 || !strings.Contains(out, "password: ++++++++") {
		t.Errorf("render: code %d\n%s%s", code, out, errOut)
	}

	for _, p := range printed {
		if strings.Contains(p, secretValue) {
			t.Errorf("a Secret value was printed:\n%s", p)
		}
	}
}

// Every way a sync can be told something wrong fails with a clear error
// and writes nothing.
func TestSyncErrorsWriteNothing(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	r := shopRepo(t)
	r.Commit("bad yaml", map[string]string{"apps/broken/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [oops\n"})
	kube := kubernetes.NewForConfigOrDie(lc.Config)

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"bad YAML", []string{"--repo", r.Dir, "--path", "apps/broken"}, 1, "apps/broken/x.yaml: document 1: invalid YAML"},
		{"unknown revision", []string{"--repo", r.Dir, "--path", "apps/shop", "--revision", "no-such-tag"}, 1, `unknown revision "no-such-tag"`},
		{"missing repo", []string{"--repo", filepath.Join(t.TempDir(), "nope"), "--path", "apps/shop"}, 1, "repository does not exist"},
		{"path escaping the repo", []string{"--repo", r.Dir, "--path", "../../etc"}, 1, "leaves the repository"},
		{"unknown sync option", []string{"--repo", r.Dir, "--path", "apps/shop", "--sync-option", "Turbo=true"}, 2, `unknown sync option "Turbo=true"`},
		{"no repo", []string{"--path", "apps/shop"}, 2, "--repo is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"sync", "--dest-namespace", ns, "--inventory-namespace", ns}, tt.args...)
			out, errOut, code := gitops(t, args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("code %d, stderr %q; want code %d and %q\nstdout: %s", code, errOut, tt.wantCode, tt.wantErr, out)
			}
			cms, err := kube.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, cm := range cms.Items {
				if cm.Name != "kube-root-ca.crt" {
					t.Errorf("ConfigMap/%s/%s written by a failed sync", ns, cm.Name)
				}
			}
		})
	}
}
