package sync_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// BenchmarkAdopt100Services adopts the benchmark app of 100 services × 6
// objects, first created with client-side kubectl apply, in one namespace
// and over 10: kubectl-gitops adopt --yes, then a sync of the adopted app,
// against what kubectl offers for the same move, kubectl apply
// --server-side --force-conflicts (which migrates client-side apply's
// fields with the same csaupgrade), on a copy of the same objects. Reads
// grow with kinds × namespaces; writes are per object.
func BenchmarkAdopt100Services(b *testing.B) {
	for _, namespaces := range []int{1, 10} {
		b.Run(fmt.Sprintf("%dns", namespaces), func(b *testing.B) { benchAdopt(b, namespaces) })
	}
}

func benchAdopt(b *testing.B, namespaces int) {
	kubectl := filepath.Join(testcluster.ToolsDir(b), tools.Kubectl)
	bin := filepath.Join(b.TempDir(), "kubectl-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-gitops").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	var nsG, nsK []string
	for i := 0; i < namespaces; i++ {
		nsG = append(nsG, testcluster.Namespace(b, lc))
		nsK = append(nsK, testcluster.Namespace(b, lc))
	}
	in := func(list []string) func(int) string { return func(i int) string { return list[i%len(list)] } }
	v1 := func(int) string { return "1.0" }
	repo := testrepo.New(b)
	repo.Commit("app", map[string]string{"app/all.yaml": benchApp(100, v1, in(nsG))})
	dir := b.TempDir()
	for side, list := range map[string][]string{"gitops": nsG, "kubectl": nsK} {
		f := filepath.Join(dir, side+".yaml")
		if err := os.WriteFile(f, []byte(benchApp(100, v1, in(list))), 0o644); err != nil {
			b.Fatal(err)
		}
		// As the cluster was before GitOps: client-side kubectl apply.
		if out, err := exec.Command(kubectl, "--kubeconfig", lc.Kubeconfig, "apply", "-f", f).CombinedOutput(); err != nil {
			b.Fatalf("kubectl apply: %v\n%s", err, tail(string(out)))
		}
	}
	gitops := []string{"--repo", repo.Dir, "--path", "app", "--dest-namespace", nsG[0], "--inventory-namespace", nsG[0], "--timeout", "5m"}
	b.Run("adopt/kubectl-gitops", func(b *testing.B) {
		var m measured
		start := time.Now()
		for i := 0; i < b.N; i++ {
			m = runGitops(b, bin, append([]string{"adopt", "bench", "--yes"}, gitops...)...)
		}
		b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/op")
		m.report(b)
	})
	b.Run("sync-after-adopt/kubectl-gitops", func(b *testing.B) {
		var m measured
		for i := 0; i < b.N; i++ {
			m = runGitops(b, bin, append([]string{"sync", "bench"}, gitops...)...)
		}
		m.report(b)
	})
	b.Run("adopt/kubectl-apply-server-side", func(b *testing.B) {
		var m measured
		start := time.Now()
		for i := 0; i < b.N; i++ {
			m = runKubectl(b, kubectl, "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(dir, "kubectl.yaml"))
		}
		b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/op")
		m.report(b)
	})
}
