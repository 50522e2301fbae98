package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

const setImageKustomization = `resources: [deploy.yaml]
transformers:
- |-
  apiVersion: fn.kubectl-gitops.dev/v1alpha1
  kind: SetImage
  metadata:
    name: release
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: kubectl-gitops
          args: [fn, set-image]
  images:
  - name: registry.example/web
    newTag: "1.5.0"
`

const webDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.example/web:1.4.0
`

// The set-image function runs inside the real kustomize as an exec function
// with only the plugin's directory on PATH, and kubectl gitops render runs
// the same function with itself, without --enable-exec and without the
// binary on PATH.
func TestSetImageInKustomizeAndRender(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"kustomization.yaml": setImageKustomization, "deploy.yaml": webDeployment} {
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
	r.Commit("app", map[string]string{"app/kustomization.yaml": setImageKustomization, "app/deploy.yaml": webDeployment})
	stdout, stderr, code := gitops(t, "render", "--repo", r.Dir, "--path", "app")
	if code != 0 || !strings.Contains(stdout, "image: registry.example/web:1.5.0") {
		t.Fatalf("render: code %d\n%s%s", code, stdout, stderr)
	}

	// Another program named by the repository still needs --enable-exec.
	r.Commit("foreign function", map[string]string{"app/kustomization.yaml": strings.Replace(setImageKustomization, "path: kubectl-gitops", "path: ./their-tool", 1)})
	_, stderr, code = gitops(t, "render", "--repo", r.Dir, "--path", "app")
	if code != 1 || !strings.Contains(stderr, "SetImage/release in app/kustomization.yaml (exec ./their-tool); pass --enable-exec") {
		t.Errorf("foreign exec function: code %d, stderr %q", code, stderr)
	}
}
