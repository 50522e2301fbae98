package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/peakrss"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// benchInterval is the agent's --reconcile-interval in the benchmark: every
// app is compared once per interval (with --reconcile-jitter 0), so a
// window of one interval and a margin holds one poll of every app.
const (
	benchInterval = 15 * time.Second
	benchMargin   = 5 * time.Second
)

// benchAppObjects is one app of the benchmark: 6 namespaced objects, the
// namespace left to the destination (the agent) or set (kubectl). greeting
// is the ConfigMap's value, the one the webhook step changes. The Secret
// is a dummy ("dummy-not-a-secret"), in data so that what is applied is
// what is read back.
func benchAppObjects(ns, greeting string) map[string]string {
	meta := func(name string) string {
		if ns == "" {
			return "{name: " + name + "}"
		}
		return "{name: " + name + ", namespace: " + ns + "}"
	}
	return map[string]string{
		"configmap.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: " + meta("web-config") + "\ndata: {greeting: " + greeting + ", LOG_LEVEL: info}\n",
		"secret.yaml":         "apiVersion: v1\nkind: Secret\nmetadata: " + meta("web-credentials") + "\ntype: Opaque\ndata: {password: ZHVtbXktbm90LWEtc2VjcmV0}\n",
		"serviceaccount.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: " + meta("web") + "\n",
		"pdb.yaml":            "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: " + meta("web") + "\nspec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}\n",
		"service.yaml":        "apiVersion: v1\nkind: Service\nmetadata: " + meta("web") + "\nspec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n",
		"deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: ` + meta("web") + `
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: "registry.example/web:1.0", ports: [{containerPort: 8080}]}]
`,
	}
}

// benchApplication is app i of the benchmark's --app-file directory:
// automated with selfHeal and prune, its own directory into its own
// namespace.
func benchApplication(i int, repoURL, ns string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: app-%03d, namespace: argocd}
spec:
  project: default
  source: {repoURL: %s, targetRevision: HEAD, path: apps/app-%03d}
  destination: {server: https://kubernetes.default.svc, namespace: %s}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
`, i, repoURL, i, ns)
}

func last(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitFor polls cond every period until it holds; it returns how long that
// took.
func waitFor(tb testing.TB, timeout, period time.Duration, what string, cond func() error) time.Duration {
	tb.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = cond(); err == nil {
			return time.Since(start)
		}
		time.Sleep(period)
	}
	tb.Fatalf("%s: not within %s: %v", what, timeout, err)
	return 0
}

// scrape reads the agent's /metrics.
func scrape(tb testing.TB, p *agentProc) map[string]*dto.MetricFamily {
	tb.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	leaksweep.Capture(tb, "/metrics of the agent "+p.addr, string(body))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		tb.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sumBy sums the series of name whose labels include want, by the value
// of label ("" sums them all under "").
func sumBy(fams map[string]*dto.MetricFamily, name string, want map[string]string, label string) map[string]float64 {
	out := map[string]float64{}
	f, ok := fams[name]
	if !ok {
		return out
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		var v float64
		switch {
		case m.Counter != nil:
			v = m.Counter.GetValue()
		case m.Gauge != nil:
			v = m.Gauge.GetValue()
		case m.Histogram != nil:
			v = float64(m.Histogram.GetSampleCount())
		}
		out[labels[label]] += v
	}
	return out
}

func sum(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	return sumBy(fams, name, want, "")[""]
}

// histSum is the sum of the observations of the histogram name, over all
// its series.
func histSum(fams map[string]*dto.MetricFamily, name string) float64 {
	var n float64
	for _, m := range fams[name].GetMetric() {
		n += m.GetHistogram().GetSampleSum()
	}
	return n
}

// synced is the number of apps the agent reports Synced.
func synced(fams map[string]*dto.MetricFamily) float64 {
	return sum(fams, "argocd_app_info", map[string]string{"sync_status": "Synced"})
}

// reconciles is the number of reconciles that ended well.
func reconciles(fams map[string]*dto.MetricFamily) float64 {
	return sum(fams, "kubectl_gitops_reconcile_total", map[string]string{"result": "success"})
}

// peakRSSMB is the agent process's own peak resident memory (VmHWM), in
// MiB: it is a child of this process but was exec'd, so the mark is its.
func peakRSSMB(tb testing.TB, p *agentProc) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kib / 1024
		}
	}
	return 0
}

// The verbs of argocd_app_k8s_request_total, and those that write.
var (
	benchVerbs = []string{"Get", "List", "Watch", "Create", "Update", "Patch", "Delete"}
	writeVerbs = []string{"Create", "Update", "Patch", "Delete"}
)

// requests are the Kubernetes API requests the agent counted: by verb
// (dry runs left out), and dry runs.
type requests struct {
	byVerb  map[string]float64
	dryRuns float64
}

func requestsOf(fams map[string]*dto.MetricFamily) requests {
	return requests{
		byVerb:  sumBy(fams, "argocd_app_k8s_request_total", map[string]string{"dry_run": "false"}, "verb"),
		dryRuns: sum(fams, "argocd_app_k8s_request_total", map[string]string{"dry_run": "true"}),
	}
}

// minus is r − before, scaled by scale.
func (r requests) minus(before requests, scale float64) requests {
	out := requests{byVerb: map[string]float64{}, dryRuns: (r.dryRuns - before.dryRuns) * scale}
	for verb, v := range r.byVerb {
		out.byVerb[verb] = (v - before.byVerb[verb]) * scale
	}
	return out
}

func (r requests) writes() float64 {
	var n float64
	for _, verb := range writeVerbs {
		n += r.byVerb[verb]
	}
	return n
}

func (r requests) total() float64 {
	n := r.dryRuns
	for _, v := range r.byVerb {
		n += v
	}
	return n
}

// report reports r, each unit ending in per ("/op", "/cycle").
func (r requests) report(b *testing.B, per string) {
	for _, verb := range benchVerbs {
		b.ReportMetric(r.byVerb[verb], verb+per)
	}
	b.ReportMetric(r.total(), "requests"+per)
	b.ReportMetric(r.writes(), "writes"+per)
	b.ReportMetric(r.dryRuns, "dryruns"+per)
}

func (r requests) String() string {
	var parts []string
	for _, verb := range benchVerbs {
		parts = append(parts, fmt.Sprintf("%s %.0f", verb, r.byVerb[verb]))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf(", dry-runs %.0f", r.dryRuns)
}

// memory reports the agent's memory now: resident, Go heap in use, and
// its peak resident memory so far.
func memory(b *testing.B, p *agentProc, fams map[string]*dto.MetricFamily) {
	b.ReportMetric(sum(fams, "process_resident_memory_bytes", nil)/(1<<20), "RSS-MB")
	b.ReportMetric(sum(fams, "go_memstats_heap_inuse_bytes", nil)/(1<<20), "heapInuse-MB")
	b.ReportMetric(peakRSSMB(b, p), "peakRSS-MB")
}

var kubectlResponse = regexp.MustCompile(`"Response" verb="(\w+)" url="([^"]*)"`)

// BenchmarkAgent100Apps runs `kubectl gitops agent` on 100 apps of 6
// objects (ConfigMap, dummy Secret, ServiceAccount, Service, Deployment,
// PodDisruptionBudget), each app in a namespace of its own, from one Git
// repository served over HTTP, with --reconcile-interval 15s, no jitter
// and --concurrency 10. (Not a Role: its rules are an atomic list that
// pkg/ssaproof does not list, so every poll dry-runs every Role.) It
// measures, in one run:
//
//   - first-sync: from the agent's start until all 100 apps are Synced;
//   - steady-cycle: one poll of every app, from /metrics deltas scaled to
//     100 reconciles: API requests by verb, dry-runs and writes (both must
//     be 0), render cache misses (must be 0), git fetches, CPU seconds,
//     and memory after it;
//   - webhook-to-synced: a push to one app's ConfigMap and its signed
//     GitHub webhook, until the ConfigMap has the new value (and until
//     all 100 apps, which the push refreshes too, rendered the commit);
//   - edit-to-reverted: one Deployment's replicas patched by another field
//     manager, until set back;
//   - kubectl-apply-server-side: what a CI loop without an agent does each
//     cycle, the same 600 objects applied by the real kubectl, first and
//     again, in namespaces of its own;
//   - restart-25apps, restart-50apps, restart-100apps: the agent
//     restarted on 25, 50 and 100 synced apps, memory over one cycle, to
//     see how it grows with objects.
//
// Run it with -benchtime=1x (as make bench does) on a machine otherwise
// idle: each step is one operation on a live cluster.
func BenchmarkAgent100Apps(b *testing.B) {
	benchAgent(b, 100)
}

func benchAgent(b *testing.B, apps int) {
	napps := float64(apps)
	// The Git server logs every request through the log package.
	log.SetOutput(io.Discard)
	b.Cleanup(func() { log.SetOutput(os.Stderr) })
	kubectl := filepath.Join(testcluster.ToolsDir(b), tools.Kubectl)
	k := kubernetes.NewForConfigOrDie(lc.Config)
	inventoryNS := testcluster.Namespace(b, lc)
	appNS := func(i int) string { return fmt.Sprintf("%s-a%03d", inventoryNS, i) }
	kubectlNS := func(i int) string { return fmt.Sprintf("%s-k%03d", inventoryNS, i) }
	for i := 0; i < apps; i++ {
		for _, ns := range []string{appNS(i), kubectlNS(i)} {
			if _, err := k.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				b.Fatalf("create Namespace/%s: %v", ns, err)
			}
			b.Cleanup(func() { _ = k.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		}
	}

	files := map[string]string{}
	var kubectlYAML strings.Builder
	for i := 0; i < apps; i++ {
		for name, doc := range benchAppObjects("", "v0") {
			files[fmt.Sprintf("apps/app-%03d/%s", i, name)] = doc
		}
		for _, doc := range benchAppObjects(kubectlNS(i), "v0") {
			kubectlYAML.WriteString(doc + "---\n")
		}
	}
	git := serve(b, files)
	// App directories of 25, 50 and 100 Applications: the agent of the
	// first steps runs the last, the restarts each.
	appDirs := map[int]string{}
	for _, n := range []int{apps / 4, apps / 2, apps} {
		dir := b.TempDir()
		for i := 0; i < n; i++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("app-%03d.yaml", i)), []byte(benchApplication(i, git.url, appNS(i))), 0o600); err != nil {
				b.Fatal(err)
			}
		}
		appDirs[n] = dir
	}
	agentArgs := func(n int) []string {
		return []string{"--app-file", appDirs[n], "--app-namespace", "", "--reconcile-interval", benchInterval.String(),
			"--concurrency", "10", "--inventory-namespace", inventoryNS}
	}

	// (1) The first sync of all apps, from the agent's start. The agent
	// lives through the steps, so it is the parent's.
	start := time.Now()
	p := startAgent(b, append(agentArgs(apps), "--log-level", "info")...)
	b.Run("first-sync", func(b *testing.B) {
		var fams map[string]*dto.MetricFamily
		waitFor(b, 15*time.Minute, time.Second, "all apps Synced", func() error {
			fams = scrape(b, p)
			if n := synced(fams); n != napps {
				return fmt.Errorf("%v of %d apps Synced", n, apps)
			}
			return nil
		})
		took := time.Since(start)
		b.ReportMetric(float64(took.Nanoseconds()), "ns/op")
		r := requestsOf(fams)
		r.report(b, "/op")
		b.ReportMetric(sum(fams, "argocd_git_request_total", nil), "gitFetches/op")
		b.ReportMetric(histSum(fams, "argocd_git_request_duration_seconds"), "gitFetch-s/op")
		b.ReportMetric(sum(fams, "process_cpu_seconds_total", nil), "cpu-s/op")
		memory(b, p, fams)
		b.Logf("first sync of %d apps: %s; requests: %s", apps, took.Round(time.Millisecond), r)
	})
	if b.Failed() {
		b.FailNow()
	}
	// The first sync's own events (Deployments rolling out) settle: a
	// drift-triggered compare is not a poll.
	time.Sleep(benchInterval)

	// (2) Steady state: one poll of every app.
	b.Run("steady-cycle", func(b *testing.B) {
		before, t0 := scrape(b, p), time.Now()
		time.Sleep(benchInterval + benchMargin)
		after, window := scrape(b, p), time.Since(t0)
		n := reconciles(after) - reconciles(before)
		if n < napps {
			b.Fatalf("%v reconciles in %s, want at least %d (one poll of every app)", n, window.Round(time.Millisecond), apps)
		}
		scale := napps / n // per cycle: per 100 reconciles
		r := requestsOf(after).minus(requestsOf(before), scale)
		delta := func(name string, want map[string]string) float64 {
			return (sum(after, name, want) - sum(before, name, want)) * scale
		}
		misses := delta("kubectl_gitops_render_cache_total", map[string]string{"result": "miss"})
		hits := delta("kubectl_gitops_render_cache_total", map[string]string{"result": "hit"})
		fetches := delta("argocd_git_request_total", nil)
		cpu := delta("process_cpu_seconds_total", nil)
		fetchSeconds := (histSum(after, "argocd_git_request_duration_seconds") - histSum(before, "argocd_git_request_duration_seconds")) * scale
		reconcileMean := (histSum(after, "argocd_app_reconcile") - histSum(before, "argocd_app_reconcile")) / n
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(n, "reconciles")
		b.ReportMetric(window.Seconds(), "window-s")
		r.report(b, "/cycle")
		b.ReportMetric(misses, "renderMisses/cycle")
		b.ReportMetric(hits, "renderHits/cycle")
		b.ReportMetric(fetches, "gitFetches/cycle")
		b.ReportMetric(fetchSeconds, "gitFetch-s/cycle")
		b.ReportMetric(reconcileMean, "reconcileMean-s")
		b.ReportMetric(cpu, "cpu-s/cycle")
		b.ReportMetric(cpu*n/napps/window.Seconds(), "cores")
		memory(b, p, after)
		lists := func(fams map[string]*dto.MetricFamily, label string) map[string]float64 {
			return sumBy(fams, "argocd_app_k8s_request_total", map[string]string{"verb": "List"}, label)
		}
		for _, label := range []string{"resource_kind", "resource_namespace"} {
			a, z := lists(before, label), lists(after, label)
			by := map[string]float64{}
			for k, v := range z {
				if d := v - a[k]; d != 0 {
					by[k] = d
				}
			}
			b.Logf("LISTs in the window by %s: %v", label, by)
		}
		b.Logf("steady state: %v reconciles in %s (%.2f s each on average); per cycle of %d: %s; render cache %.0f misses, %.0f hits; %.0f git fetches taking %.1f s; %.2f CPU s",
			n, window.Round(time.Millisecond), reconcileMean, apps, r, misses, hits, fetches, fetchSeconds, cpu)
		if r.dryRuns != 0 || r.writes() != 0 || misses != 0 {
			dry := map[string]string{"dry_run": "true"}
			b.Fatalf("a poll without drift made %.1f dry-runs (by resource, in the window: %v before, %v after), %.1f writes and %.1f render cache misses per cycle; want 0 of each",
				r.dryRuns, sumBy(before, "argocd_app_k8s_request_total", dry, "resource_kind"), sumBy(after, "argocd_app_k8s_request_total", dry, "resource_kind"), r.writes(), misses)
		}
	})
	if b.Failed() {
		b.FailNow()
	}

	// (3) A push of one app's ConfigMap, and its webhook; then an edit.
	b.Run("webhook-to-synced", func(b *testing.B) {
		var took, all time.Duration
		var r requests
		var fetches, fetchSeconds, misses, before0, reconcileMean float64
		for i := 0; i < b.N; i++ {
			value := fmt.Sprintf("webhook-%d", i)
			git.push(b, map[string]string{"apps/app-000/configmap.yaml": benchAppObjects("", value)["configmap.yaml"]})
			before := scrape(b, p)
			start := time.Now()
			if code := p.webhook(b, git.url, "main", webhookSecret, 0); code != 200 {
				b.Fatalf("webhook: status %d", code)
			}
			took += waitFor(b, 2*time.Minute, 20*time.Millisecond, "the ConfigMap pushed", func() error {
				cm, err := k.CoreV1().ConfigMaps(appNS(0)).Get(context.Background(), "web-config", metav1.GetOptions{})
				if err != nil {
					return err
				}
				if got := cm.Data["greeting"]; got != value {
					return fmt.Errorf("greeting %q", got)
				}
				return nil
			})
			// The apps refreshed before the one pushed to: the push moved
			// every app's commit, and each renders it once.
			at := scrape(b, p)
			before0 = sum(at, "kubectl_gitops_render_cache_total", map[string]string{"result": "miss"}) - sum(before, "kubectl_gitops_render_cache_total", map[string]string{"result": "miss"}) - 1
			var after map[string]*dto.MetricFamily
			waitFor(b, 5*time.Minute, 200*time.Millisecond, "every app rendered the pushed commit", func() error {
				after = scrape(b, p)
				miss := map[string]string{"result": "miss"}
				if n := sum(after, "kubectl_gitops_render_cache_total", miss) - sum(before, "kubectl_gitops_render_cache_total", miss); n < napps {
					return fmt.Errorf("%v of %d apps rendered it", n, apps)
				}
				if n := synced(after); n != napps {
					return fmt.Errorf("%v of %d apps Synced", n, apps)
				}
				return nil
			})
			all += time.Since(start)
			r = requestsOf(after).minus(requestsOf(before), 1)
			fetches = sum(after, "argocd_git_request_total", nil) - sum(before, "argocd_git_request_total", nil)
			fetchSeconds = histSum(after, "argocd_git_request_duration_seconds") - histSum(before, "argocd_git_request_duration_seconds")
			reconcileMean = (histSum(after, "argocd_app_reconcile") - histSum(before, "argocd_app_reconcile")) / (reconciles(after) - reconciles(before))
			misses = sum(after, "kubectl_gitops_render_cache_total", map[string]string{"result": "miss"}) - sum(before, "kubectl_gitops_render_cache_total", map[string]string{"result": "miss"})
		}
		b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "ns/op")
		b.ReportMetric(all.Seconds()/float64(b.N), "allAppsRendered-s")
		b.ReportMetric(before0, "appsRenderedBefore")
		b.ReportMetric(fetches, "gitFetches")
		b.ReportMetric(fetchSeconds, "gitFetch-s")
		b.ReportMetric(reconcileMean, "reconcileMean-s")
		b.ReportMetric(misses, "renderMisses")
		b.ReportMetric(r.writes(), "writes")
		b.ReportMetric(r.dryRuns, "dryruns")
		b.Logf("webhook to synced: %s, %.0f other apps rendered the commit first; all %d apps rendered it after %s (last round: %.0f git fetches taking %.1f s, %.0f render misses, %.2f s per reconcile, requests %s)",
			(took / time.Duration(b.N)).Round(time.Millisecond), before0, apps, (all / time.Duration(b.N)).Round(time.Millisecond), fetches, fetchSeconds, misses, reconcileMean, r)
	})
	b.Run("edit-to-reverted", func(b *testing.B) {
		var took time.Duration
		for i := 0; i < b.N; i++ {
			patch := []byte(`{"spec":{"replicas":3}}`)
			if _, err := k.AppsV1().Deployments(appNS(1)).Patch(context.Background(), "web", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
				b.Fatal(err)
			}
			took += waitFor(b, 5*time.Minute, 20*time.Millisecond, "the edit reverted", func() error {
				d, err := k.AppsV1().Deployments(appNS(1)).Get(context.Background(), "web", metav1.GetOptions{})
				if err != nil {
					return err
				}
				if *d.Spec.Replicas != 1 {
					return fmt.Errorf("replicas %d", *d.Spec.Replicas)
				}
				return nil
			})
		}
		b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "ns/op")
		b.Logf("edit to reverted: %s", (took / time.Duration(b.N)).Round(time.Millisecond))
	})
	p.stop()

	// (4) Without an agent: kubectl apply --server-side of the same 600
	// objects, as a CI loop runs it each cycle.
	manifest := filepath.Join(b.TempDir(), "all.yaml")
	if err := os.WriteFile(manifest, []byte(kubectlYAML.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, step := range []string{"first", "again"} {
		b.Run("kubectl-apply-server-side/"+step, func(b *testing.B) {
			var reads, writes, cpu, rss float64
			var took time.Duration
			for i := 0; i < b.N; i++ {
				cmd := exec.Command(kubectl, "--kubeconfig", lc.Kubeconfig, "-v=6", "apply", "--server-side", "-f", manifest)
				peak := peakrss.New(b).Wrap(cmd)
				var errOut bytes.Buffer
				cmd.Stdout, cmd.Stderr = io.Discard, &errOut
				start := time.Now()
				if err := cmd.Run(); err != nil {
					b.Fatalf("kubectl apply: %v\n%s", err, last(errOut.String(), 3000))
				}
				took += time.Since(start)
				reads, writes = 0, 0
				for _, m := range kubectlResponse.FindAllStringSubmatch(errOut.String(), -1) {
					if m[1] == "GET" {
						reads++
					} else {
						writes++
					}
				}
				// The launcher waited for kubectl: its times include kubectl's.
				cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
				rss = peak()
			}
			b.ReportMetric(float64(took.Nanoseconds())/float64(b.N), "ns/op")
			b.ReportMetric(reads, "reads/op")
			b.ReportMetric(writes, "writes/op")
			b.ReportMetric(cpu, "cpu-s/op")
			b.ReportMetric(rss, "peakRSS-MB")
		})
	}

	// (5) Memory against objects: the agent restarted on 25, 50 and 100 of
	// the synced apps, over one cycle after all are Synced. The heap in use
	// is sampled every 5 s (as a scraper would); its least value is
	// nearest the live heap.
	for _, n := range []int{apps / 4, apps / 2, apps} {
		b.Run(fmt.Sprintf("restart-%dapps", n), func(b *testing.B) {
			start := time.Now()
			p := startAgent(b, append(agentArgs(n), "--log-level", "info")...)
			defer p.stop()
			waitFor(b, 10*time.Minute, time.Second, "all apps Synced", func() error {
				if got := synced(scrape(b, p)); got != float64(n) {
					return fmt.Errorf("%v of %d apps Synced", got, n)
				}
				return nil
			})
			took := time.Since(start)
			var fams map[string]*dto.MetricFamily
			least := -1.0
			for t0 := time.Now(); time.Since(t0) < benchInterval+benchMargin; {
				time.Sleep(5 * time.Second)
				fams = scrape(b, p)
				if h := sum(fams, "go_memstats_heap_inuse_bytes", nil) / (1 << 20); least < 0 || h < least {
					least = h
				}
			}
			b.ReportMetric(least, "heapInuseMin-MB")
			b.ReportMetric(float64(took.Nanoseconds()), "ns/op")
			b.ReportMetric(reconciles(fams), "reconciles")
			memory(b, p, fams)
			if r := requestsOf(fams); r.dryRuns != 0 || r.writes() != 0 {
				b.Errorf("the agent restarted on synced apps made %v dry-runs and %v writes", r.dryRuns, r.writes())
			}
		})
	}
}
