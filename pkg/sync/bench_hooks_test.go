package sync_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// add sums requests and keeps the largest peak.
func (m measured) add(o measured) measured {
	m.reads, m.writes, m.dryRuns = m.reads+o.reads, m.writes+o.writes, m.dryRuns+o.dryRuns
	if o.maxRSSMB > m.maxRSSMB {
		m.maxRSSMB = o.maxRSSMB
	}
	return m
}

const (
	benchMigrate = `apiVersion: batch/v1
kind: Job
metadata:
  generateName: migrate-
  annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded}
spec:
  backoffLimit: 0
  template: {spec: {restartPolicy: Never, containers: [{name: main, image: registry.example/migrate:1}]}}
`
	benchSmoke = `apiVersion: batch/v1
kind: Job
metadata:
  name: smoke
  annotations: {argocd.argoproj.io/hook: PostSync}
spec:
  backoffLimit: 0
  template: {spec: {restartPolicy: Never, containers: [{name: main, image: registry.example/smoke:1}]}}
`
)

// BenchmarkSyncWithHooks syncs 20 services (120 objects in 3 waves) with a
// PreSync migration Job (generateName, HookSucceeded) and a PostSync smoke
// test Job (named, BeforeHookCreation by default): (a) the first sync, (b)
// a re-sync (the objects unchanged, the hooks run again), (c) status. Beside
// it, the same order by hand with kubectl: create the migration and wait
// for it, apply the app server-side and wait for the Deployments, delete
// and create the smoke test and wait for it, delete the migration.
func BenchmarkSyncWithHooks(b *testing.B) {
	toolsDir := testcluster.ToolsDir(b)
	kubectl := filepath.Join(toolsDir, tools.Kubectl)
	bin := filepath.Join(b.TempDir(), "kubectl-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-gitops").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	nsG, nsK := testcluster.Namespace(b, lc), testcluster.Namespace(b, lc)
	app := benchApp(20, func(int) string { return "1.0" }, func(int) string { return "" })
	repo := testrepo.New(b)
	repo.Commit("app with hooks", map[string]string{"app/all.yaml": app, "app/migrate.yaml": benchMigrate, "app/smoke.yaml": benchSmoke})
	dir := b.TempDir()
	files := map[string]string{"app.yaml": app, "migrate.yaml": benchMigrate, "smoke.yaml": benchSmoke}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	byHand := func(b *testing.B) measured {
		var m measured
		step := func(args ...string) string {
			got, out := kubectlCounted(b, kubectl, 0, append(args, "-n", nsK)...)
			m = m.add(got)
			return out
		}
		migrate := step("create", "-f", filepath.Join(dir, "migrate.yaml"), "-o", "name")
		step("wait", "--for=condition=complete", migrate, "--timeout=2m")
		step("apply", "--server-side", "-f", filepath.Join(dir, "app.yaml"))
		step("wait", "--for=condition=available", "deployment", "--all", "--timeout=2m")
		step("delete", "job", "smoke", "--ignore-not-found", "--wait")
		step("create", "-f", filepath.Join(dir, "smoke.yaml"))
		step("wait", "--for=condition=complete", "job/smoke", "--timeout=2m")
		step("delete", migrate, "--wait")
		return m
	}
	for _, name := range []string{"a-first-sync", "b-resync-hooks-run-again"} {
		b.Run(name+"/kubectl-gitops", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				m = runGitops(b, bin, "sync", "bench", "--repo", repo.Dir, "--path", "app", "--dest-namespace", nsG, "--inventory-namespace", nsG, "--timeout", "5m")
			}
			m.report(b)
		})
		b.Run(name+"/kubectl-by-hand", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				m = byHand(b)
			}
			m.report(b)
		})
	}
	b.Run("c-status/kubectl-gitops", func(b *testing.B) {
		var m measured
		for i := 0; i < b.N; i++ {
			m = runGitops(b, bin, "status", "bench", "--inventory-namespace", nsG)
		}
		m.report(b)
	})
}
