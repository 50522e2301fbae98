package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fixtures"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// The set-image function runs inside the real kustomize as an exec function
// with only the plugin's directory on PATH, and kubectl gitops render runs
// the same function with itself, without --enable-exec and without the
// binary on PATH.
func TestSetImageInKustomizeAndRender(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"kustomization.yaml": fixtures.SetImageKustomization, "deploy.yaml": fixtures.WebDeployment} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kustomize := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kustomize), "build", "--enable-alpha-plugins", "--enable-exec", dir)
	kustomize.Env = append(os.Environ(), "PATH="+plugin)
	out, err := kustomize.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "image: registry.example/web:1.5.0") {
		t.Fatalf("kustomize build: %v\n%s", err, out)
	}

	// Without --enable-exec, kustomize skips the function silently.
	skipped := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kustomize), "build", "--enable-alpha-plugins", dir)
	skipped.Env = kustomize.Env
	if out, err := skipped.CombinedOutput(); err != nil || !strings.Contains(string(out), "image: registry.example/web:1.4.0") {
		t.Fatalf("kustomize build without --enable-exec: %v\n%s", err, out)
	}

	r := testrepo.New(t)
	r.Commit("app", map[string]string{"app/kustomization.yaml": fixtures.SetImageKustomization, "app/deploy.yaml": fixtures.WebDeployment,
		"app/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"})
	// A Service after the Deployment in the resources list: kustomize's
	// output order must be kept too.
	r.Commit("svc", map[string]string{"app/kustomization.yaml": strings.Replace(fixtures.SetImageKustomization, "resources: [deploy.yaml]", "resources: [deploy.yaml, svc.yaml]", 1)})
	stdout, stderr, code := gitops(t, "render", "--repo", r.Dir, "--path", "app")
	if code != 0 || !strings.Contains(stdout, "image: registry.example/web:1.5.0") {
		t.Fatalf("render: code %d\n%s%s", code, stdout, stderr)
	}
	appDir := filepath.Join(r.Dir, "app")
	same := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kustomize), "build", "--enable-alpha-plugins", "--enable-exec", appDir)
	same.Env = kustomize.Env
	want, err := same.Output()
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) {
		t.Errorf("render and kustomize build differ:\n--- kustomize\n%s\n--- render\n%s", want, stdout)
	}

	// Another program named by the repository still needs --enable-exec.
	r.Commit("foreign function", map[string]string{"app/kustomization.yaml": strings.Replace(fixtures.SetImageKustomization, "path: kubectl-gitops", "path: ./their-tool", 1)})
	_, stderr, code = gitops(t, "render", "--repo", r.Dir, "--path", "app")
	if code != 1 || !strings.Contains(stderr, "SetImage/release in app/kustomization.yaml (exec ./their-tool); pass --enable-exec") {
		t.Errorf("foreign exec function: code %d, stderr %q", code, stderr)
	}
}

const projectCheck = `- |-
  apiVersion: fn.kubectl-gitops.dev/v1alpha1
  kind: ValidateProject
  metadata:
    name: team-a
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: kubectl-gitops
          args: [fn, validate-project]
  project:
    apiVersion: argoproj.io/v1alpha1
    kind: AppProject
    metadata: {name: team-a}
    spec:
      destinations: [{server: "*", namespace: team-a}]
      namespaceResourceWhitelist: [{group: apps, kind: Deployment}]
  destination: {server: https://kubernetes.default.svc, namespace: team-a}
`

// validate-project, as the last transformers entry, passes a build that
// keeps to the project and fails one that does not, in the real kustomize
// and in render.
func TestValidateProjectInKustomizeAndRender(t *testing.T) {
	kustomizeBuild := func(dir string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kustomize), "build", "--enable-alpha-plugins", "--enable-exec", dir)
		cmd.Env = append(os.Environ(), "PATH="+plugin)
		return cmd.CombinedOutput()
	}
	ok := map[string]string{"kustomization.yaml": "resources: [deploy.yaml]\ntransformers:\n" + projectCheck, "deploy.yaml": fixtures.WebDeployment}
	bad := map[string]string{"kustomization.yaml": "resources: [deploy.yaml, svc.yaml]\ntransformers:\n" + projectCheck, "deploy.yaml": fixtures.WebDeployment,
		"svc.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n"}
	for name, files := range map[string]map[string]string{"ok": ok, "bad": bad} {
		dir := filepath.Join(t.TempDir(), name)
		for f, body := range files {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err := kustomizeBuild(dir)
		if name == "ok" && (err != nil || !strings.Contains(string(out), "kind: Deployment")) {
			t.Errorf("kustomize build of a compliant app: %v\n%s", err, out)
		}
		if name == "bad" && (err == nil || !strings.Contains(string(out), "Service/web: kind Service is not in the namespace resource whitelist (AppProject team-a, namespaceResourceWhitelist)")) {
			t.Errorf("kustomize build of a violating app: %v\n%s", err, out)
		}
	}

	r := testrepo.New(t)
	r.Commit("bad", map[string]string{"app/kustomization.yaml": bad["kustomization.yaml"], "app/deploy.yaml": fixtures.WebDeployment, "app/svc.yaml": bad["svc.yaml"]})
	_, stderr, code := gitops(t, "render", "--repo", r.Dir, "--path", "app")
	if code != 1 || !strings.Contains(stderr, "kind Service is not in the namespace resource whitelist") {
		t.Errorf("render of a violating app: code %d, stderr %q", code, stderr)
	}
}
