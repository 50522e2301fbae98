package sync_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/peakrss"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// benchApp writes services × 6 objects in 3 waves: a ConfigMap and a
// ServiceAccount in wave 0, a Deployment and a Service in wave 1, a
// HorizontalPodAutoscaler and a PodDisruptionBudget in wave 2. ns(i) is
// service i's namespace ("" leaves it to the destination namespace).
func benchApp(services int, tag func(i int) string, ns func(i int) string) string {
	var b strings.Builder
	for i := 0; i < services; i++ {
		n := fmt.Sprintf("svc-%03d", i)
		doc := fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: %[1]s, annotations: {argocd.argoproj.io/sync-wave: "0"}}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: %[1]s, annotations: {argocd.argoproj.io/sync-wave: "0"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, annotations: {argocd.argoproj.io/sync-wave: "1"}}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      serviceAccountName: %[1]s
      containers: [{name: main, image: "registry.example/%[1]s:%[2]s"}]
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, annotations: {argocd.argoproj.io/sync-wave: "1"}}
spec: {selector: {app: %[1]s}, ports: [{port: 80}]}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: %[1]s, annotations: {argocd.argoproj.io/sync-wave: "2"}}
spec: {scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: %[1]s}, minReplicas: 1, maxReplicas: 3}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: %[1]s, annotations: {argocd.argoproj.io/sync-wave: "2"}}
spec: {minAvailable: 0, selector: {matchLabels: {app: %[1]s}}}
---
`, n, tag(i))
		if namespace := ns(i); namespace != "" {
			doc = strings.ReplaceAll(doc, "metadata: {name: "+n+",", "metadata: {name: "+n+", namespace: "+namespace+",")
		}
		b.WriteString(doc)
	}
	return b.String()
}

type measured struct {
	reads, writes, dryRuns float64
	maxRSSMB               float64
}

func (m measured) report(b *testing.B) {
	b.ReportMetric(m.reads, "reads/op")
	b.ReportMetric(m.writes, "writes/op")
	b.ReportMetric(m.dryRuns, "dryruns/op")
	b.ReportMetric(m.maxRSSMB, "maxRSS-MB")
}

// runGitops runs the built plugin and reads its request counts from -o json.
func runGitops(b *testing.B, bin string, args ...string) measured {
	cmd := exec.Command(bin, append([]string{"--kubeconfig", lc.Kubeconfig, "-o", "json"}, args...)...)
	peak := peakrss.New(b).Wrap(cmd)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		b.Fatalf("kubectl-gitops %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	var res struct {
		Requests struct{ Reads, Writes, DryRuns float64 }
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		b.Fatal(err)
	}
	return measured{res.Requests.Reads, res.Requests.Writes, res.Requests.DryRuns, peak()}
}

var responseLine = regexp.MustCompile(`"Response" verb="(\w+)" url="([^"]*)"`)

// runKubectl runs kubectl at -v=6 and counts the requests it logs.
func runKubectl(b *testing.B, kubectl string, args ...string) measured {
	return runKubectlExit(b, kubectl, 0, args...)
}

// runKubectlExit is runKubectl for a command that may also exit with
// code okCode (kubectl diff: 1 when there are differences).
func runKubectlExit(b *testing.B, kubectl string, okCode int, args ...string) measured {
	m, _ := kubectlCounted(b, kubectl, okCode, args...)
	return m
}

// kubectlCounted runs kubectl at -v=6, counts the requests it logs, and
// returns its stdout.
func kubectlCounted(b *testing.B, kubectl string, okCode int, args ...string) (measured, string) {
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", lc.Kubeconfig, "-v=6"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECTL_APPLYSET=true")
	peak := peakrss.New(b).Wrap(cmd)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil && cmd.ProcessState.ExitCode() != okCode {
		b.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, tail(errOut.String()))
	}
	var m measured
	for _, match := range responseLine.FindAllStringSubmatch(errOut.String(), -1) {
		switch {
		case match[1] == "GET":
			m.reads++
		case strings.Contains(match[2], "dryRun="):
			m.dryRuns++
		default:
			m.writes++
		}
	}
	m.maxRSSMB = peak()
	return m, strings.TrimSpace(out.String())
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

// BenchmarkSync100Services compares kubectl-gitops sync with kubectl apply
// --server-side (with an ApplySet, so that it can prune) on an app of 100
// services × 6 objects in 3 waves, in one namespace: (a) first sync, (b)
// no-op re-sync, (c) one image changed, (d) 10 services removed. Run with
// -benchtime=1x: each step is one operation on a live cluster. kubectl
// applies everything at once and waits for nothing; kubectl-gitops judges
// everything first and gates each wave on health.
func BenchmarkSync100Services(b *testing.B) {
	benchSync(b, 1)
}

// BenchmarkSync100Services10Namespaces is the same app with its services
// spread over 10 namespaces, as real apps span namespaces: reads grow with
// kinds × namespaces.
func BenchmarkSync100Services10Namespaces(b *testing.B) {
	benchSync(b, 10)
}

func benchSync(b *testing.B, namespaces int) {
	toolsDir := testcluster.ToolsDir(b)
	kubectl := filepath.Join(toolsDir, tools.Kubectl)
	binDir := b.TempDir()
	bin := filepath.Join(binDir, "kubectl-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-gitops").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	// Each tool gets namespaces of its own; with one namespace, objects
	// name none and take the destination namespace.
	var nsG, nsK []string
	for i := 0; i < namespaces; i++ {
		nsG = append(nsG, testcluster.Namespace(b, lc))
		nsK = append(nsK, testcluster.Namespace(b, lc))
	}
	in := func(list []string) func(int) string {
		if len(list) == 1 {
			return func(int) string { return "" }
		}
		return func(i int) string { return list[i%len(list)] }
	}
	const services = 100
	one := func(i int) string {
		if i == 0 {
			return "1.1"
		}
		return "1.0"
	}
	steps := []struct {
		name     string
		services int
		tag      func(int) string
	}{
		{"a-first-sync", services, func(int) string { return "1.0" }},
		{"b-noop-resync", services, func(int) string { return "1.0" }},
		{"c-one-image-change", services, one},
		{"d-prune-10-services", services - 10, one},
	}
	repo := testrepo.New(b)
	manifest := filepath.Join(b.TempDir(), "app.yaml")
	applySet := fmt.Sprintf("configmaps/bench-set-%d", namespaces)
	// The views: kubectl-gitops status and diff of the app (its recorded
	// source, rendered from Git) and kubectl diff --server-side of the same
	// YAML as applied, on the in-sync app of 600 objects (after step c),
	// then on the app of 540 objects (after d) with one Deployment scaled
	// by hand. --force-conflicts: after a kubectl scale the scale
	// subresource owns the replicas, and kubectl diff --server-side refuses
	// to show them without it.
	kubectlDiff := []string{"diff", "--server-side", "--field-manager=kubectl", "--force-conflicts", "-f", manifest}
	if namespaces == 1 {
		kubectlDiff = append(kubectlDiff, "-n", nsK[0])
	}
	views := func(step string) {
		if step == "e-in-sync" {
			b.Run(step+"/kubectl-gitops-status", func(b *testing.B) {
				var m measured
				for i := 0; i < b.N; i++ {
					m = runGitops(b, bin, "status", "bench", "--inventory-namespace", nsG[0])
				}
				m.report(b)
			})
		}
		b.Run(step+"/kubectl-gitops-diff", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				m = runGitops(b, bin, "diff", "bench", "--inventory-namespace", nsG[0])
			}
			m.report(b)
		})
		b.Run(step+"/kubectl-diff-server-side", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				m = runKubectlExit(b, kubectl, 1, kubectlDiff...)
			}
			m.report(b)
		})
	}
	for _, step := range steps {
		repo.Commit(step.name, map[string]string{"app/all.yaml": benchApp(step.services, step.tag, in(nsG))})
		b.Run(step.name+"/kubectl-gitops", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				m = runGitops(b, bin, "sync", "bench", "--repo", repo.Dir, "--path", "app", "--dest-namespace", nsG[0], "--inventory-namespace", nsG[0], "--timeout", "5m")
			}
			m.report(b)
		})
		if err := os.WriteFile(manifest, []byte(benchApp(step.services, step.tag, in(nsK))), 0o644); err != nil {
			b.Fatal(err)
		}
		b.Run(step.name+"/kubectl-apply-server-side", func(b *testing.B) {
			var m measured
			for i := 0; i < b.N; i++ {
				args := []string{"apply", "--server-side", "-f", manifest}
				if namespaces == 1 {
					args = append(args, "-n", nsK[0], "--prune", "--applyset="+applySet)
				}
				// kubectl refuses objects of other namespaces next to a
				// namespaced ApplySet parent, so across namespaces it
				// applies without an ApplySet, and cannot prune.
				m = runKubectl(b, kubectl, args...)
			}
			m.report(b)
		})
		if step.name == "c-one-image-change" {
			views("e-in-sync")
		}
	}

	for _, ns := range []string{nsG[0], nsK[0]} {
		if out, err := exec.Command(kubectl, "--kubeconfig", lc.Kubeconfig, "scale", "deployment/svc-000", "-n", ns, "--replicas=2").CombinedOutput(); err != nil {
			b.Fatalf("kubectl scale: %v\n%s", err, out)
		}
	}
	views("f-one-drifted")
}

// BenchmarkFirstSync1000ServicesInNewNamespaces is a first sync of 1,000
// services (6,000 objects) into 10 namespaces that the app itself creates:
// every object is judged on the server before the first write, those of the
// new namespaces by a dry-run create in an existing namespace. --wait=false
// keeps the health of 1,000 Deployments out of the figure; kubectl applies
// the same file (Namespaces first) in the same run.
func BenchmarkFirstSync1000ServicesInNewNamespaces(b *testing.B) {
	toolsDir := testcluster.ToolsDir(b)
	kubectl := filepath.Join(toolsDir, tools.Kubectl)
	bin := filepath.Join(b.TempDir(), "kubectl-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-gitops").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	const services, namespaces = 1000, 10
	inventoryNS := testcluster.Namespace(b, lc)
	app := func(prefix string) string {
		var nss []string
		var docs strings.Builder
		for i := 0; i < namespaces; i++ {
			ns := fmt.Sprintf("%s-%d", prefix, i)
			nss = append(nss, ns)
			fmt.Fprintf(&docs, "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n", ns)
		}
		b.Cleanup(func() {
			for _, ns := range nss {
				_ = exec.Command(kubectl, "--kubeconfig", lc.Kubeconfig, "delete", "namespace", ns, "--wait=false").Run()
			}
		})
		docs.WriteString(benchApp(services, func(int) string { return "1.0" }, func(i int) string { return nss[i%namespaces] }))
		return docs.String()
	}
	suffix := fmt.Sprint(os.Getpid() % 10000)
	repo := testrepo.New(b)
	repo.Commit("first", map[string]string{"app/all.yaml": app("g" + suffix)})
	b.Run("kubectl-gitops", func(b *testing.B) {
		var m measured
		for i := 0; i < b.N; i++ {
			m = runGitops(b, bin, "sync", "bench-1000", "--repo", repo.Dir, "--path", "app", "--inventory-namespace", inventoryNS, "--wait=false", "--timeout", "10m")
		}
		m.report(b)
	})
	manifest := filepath.Join(b.TempDir(), "app.yaml")
	if err := os.WriteFile(manifest, []byte(app("k"+suffix)), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("kubectl-apply-server-side", func(b *testing.B) {
		var m measured
		for i := 0; i < b.N; i++ {
			m = runKubectl(b, kubectl, "apply", "--server-side", "-f", manifest)
		}
		m.report(b)
	})
}
