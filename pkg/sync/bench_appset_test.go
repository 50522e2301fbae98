package sync_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/peakrss"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// runGitopsApps runs a sync -f of many apps and sums their requests.
func runGitopsApps(b *testing.B, bin string, wantApps int, args ...string) measured {
	cmd := exec.Command(bin, append([]string{"--kubeconfig", lc.Kubeconfig, "-o", "json"}, args...)...)
	peak := peakrss.New(b).Wrap(cmd)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		b.Fatalf("kubectl-gitops %s: %v\n%s", strings.Join(args, " "), err, tail(errOut.String()))
	}
	var res []struct {
		Requests struct{ Reads, Writes, DryRuns float64 }
		Counts   map[string]int
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		b.Fatal(err)
	}
	if len(res) != wantApps {
		b.Fatalf("%d apps synced, want %d", len(res), wantApps)
	}
	var m measured
	for _, r := range res {
		m.reads, m.writes, m.dryRuns = m.reads+r.Requests.Reads, m.writes+r.Requests.Writes, m.dryRuns+r.Requests.DryRuns
	}
	m.maxRSSMB = peak()
	return m
}

// BenchmarkApplicationSet100Apps syncs an ApplicationSet whose git
// directory generator makes 100 Applications of 6 objects each (the
// services of benchApp, one per directory), in one process: (a) the first
// sync, (b) a no-op re-sync. Beside it, kubectl apply --server-side of the
// same 600 objects, first and again.
func BenchmarkApplicationSet100Apps(b *testing.B) {
	toolsDir := testcluster.ToolsDir(b)
	kubectl := filepath.Join(toolsDir, tools.Kubectl)
	bin := filepath.Join(b.TempDir(), "kubectl-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-gitops").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	const apps = 100
	nsG, nsK := testcluster.Namespace(b, lc), testcluster.Namespace(b, lc)
	files := map[string]string{}
	var all strings.Builder
	for i := 0; i < apps; i++ {
		svc := fmt.Sprintf("svc-%03d", i)
		doc := strings.ReplaceAll(benchApp(1, func(int) string { return "1.0" }, func(int) string { return "" }), "svc-000", svc)
		files["apps/"+svc+"/all.yaml"] = doc
		all.WriteString(doc)
	}
	repo := testrepo.New(b)
	repo.Commit("100 services", files)
	set := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: services, namespace: argocd}
spec:
  generators:
  - git:
      repoURL: https://git.example/config.git
      revision: HEAD
      directories: [{path: apps/*}]
  template:
    metadata: {name: '{{path.basename}}'}
    spec:
      project: default
      source: {repoURL: https://git.example/config.git, targetRevision: HEAD, path: '{{path}}'}
      destination: {server: https://kubernetes.default.svc, namespace: %s}
      syncPolicy: {automated: {prune: true}}
`, nsG)
	dir := b.TempDir()
	setFile, manifest := filepath.Join(dir, "appset.yaml"), filepath.Join(dir, "all.yaml")
	if err := os.WriteFile(setFile, []byte(set), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(manifest, []byte(all.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, step := range []string{"a-first-sync", "b-noop-resync"} {
		b.Run(step+"/kubectl-gitops", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				m = runGitopsApps(b, bin, apps, "sync", "-f", setFile, "--repo-map=https://git.example/config.git="+repo.Dir, "--inventory-namespace", nsG, "--timeout", "5m")
			}
			m.report(b)
		})
		b.Run(step+"/kubectl-apply-server-side", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				m = runKubectl(b, kubectl, "apply", "--server-side", "-f", manifest, "-n", nsK)
			}
			m.report(b)
		})
	}
}
