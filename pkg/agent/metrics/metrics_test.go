package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var web = App{
	Name:          "web",
	Namespace:     "argocd",
	Project:       "shop",
	Repo:          "https://github.com/Example/Config.git",
	DestServer:    "https://kubernetes.default.svc",
	DestNamespace: "web",
}

// scrape serves m.Handler over HTTP and returns the exposition text and
// its parsed metric families.
func scrape(t *testing.T, m *Metrics) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: Content-Type %q, want text/plain", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return string(body), fams
}

// listing prints the series of the named families, one line each and
// sorted: name{labels} value for counters and gauges, and count, sum and
// cumulative bucket counts for histograms. A family that is absent or
// empty prints nothing.
func listing(fams map[string]*dto.MetricFamily, names ...string) []string {
	var out []string
	for _, name := range names {
		mf := fams[name]
		if mf == nil {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", lp.GetName(), lp.GetValue()))
			}
			line := name + "{" + strings.Join(labels, ",") + "} "
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				line += strconv.FormatFloat(m.GetCounter().GetValue(), 'g', -1, 64)
			case dto.MetricType_GAUGE:
				line += strconv.FormatFloat(m.GetGauge().GetValue(), 'g', -1, 64)
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				line += fmt.Sprintf("count=%d sum=%g", h.GetSampleCount(), h.GetSampleSum())
				for _, b := range h.GetBucket() {
					if math.IsInf(b.GetUpperBound(), 1) {
						continue // the same as count
					}
					line += fmt.Sprintf(" le%g=%d", b.GetUpperBound(), b.GetCumulativeCount())
				}
			default:
				line += "type " + mf.GetType().String()
			}
			out = append(out, line)
		}
	}
	slices.Sort(out)
	return out
}

func TestTypes(t *testing.T) {
	m := New()
	m.SetApp(web, "Synced", "Healthy", "", true)
	m.SetConditions(web, []string{"SyncError"})
	m.SyncDone(web, PhaseSucceeded)
	m.SyncDuration(web, time.Second)
	m.ReconcileDone(web, time.Second)
	m.ReconcileResult(web, ReconcileSuccess)
	m.K8sRequest(web, web.DestServer, "GET", "/api/v1/pods", nil, 200)
	m.GitRequest(web.Repo, GitFetch, time.Second, true)
	m.GitRequest(web.Repo, GitLsRemote, time.Second, true)
	m.DriftCorrected(web)
	m.Webhook("github", "accepted")
	m.RenderCache(true)
	m.SetCluster(web.DestServer, "in-cluster", "1.34", true)
	_, fams := scrape(t, m)

	want := map[string]dto.MetricType{
		"argocd_app_info":                        dto.MetricType_GAUGE,
		"argocd_app_condition":                   dto.MetricType_GAUGE,
		"argocd_app_sync_total":                  dto.MetricType_COUNTER,
		"argocd_app_sync_duration_seconds_total": dto.MetricType_COUNTER,
		"argocd_app_reconcile":                   dto.MetricType_HISTOGRAM,
		"argocd_app_k8s_request_total":           dto.MetricType_COUNTER,
		"argocd_cluster_info":                    dto.MetricType_GAUGE,
		"argocd_cluster_connection_status":       dto.MetricType_GAUGE,
		"argocd_git_request_total":               dto.MetricType_COUNTER,
		"argocd_git_request_duration_seconds":    dto.MetricType_HISTOGRAM,
		"argocd_git_fetch_fail_total":            dto.MetricType_COUNTER,
		"argocd_git_lsremote_fail_total":         dto.MetricType_COUNTER,
		"kubectl_gitops_drift_corrections_total": dto.MetricType_COUNTER,
		"kubectl_gitops_reconcile_total":         dto.MetricType_COUNTER,
		"kubectl_gitops_webhook_requests_total":  dto.MetricType_COUNTER,
		"kubectl_gitops_render_cache_total":      dto.MetricType_COUNTER,
	}
	for name, typ := range want {
		mf, ok := fams[name]
		if !ok {
			t.Errorf("%s: missing from scrape", name)
			continue
		}
		if mf.GetType() != typ {
			t.Errorf("%s: type %s, want %s", name, mf.GetType(), typ)
		}
	}
}

func TestSetAppReplacesAndDeleteAppRemoves(t *testing.T) {
	m := New()
	other := App{Name: "api", Namespace: "argocd", Project: "default",
		Repo: "git@GitHub.com:example/api.git", DestServer: "https://10.0.0.1:6443", DestNamespace: "api"}

	m.SetApp(web, "OutOfSync", "Progressing", OperationSync, true)
	m.SetApp(web, "Synced", "Healthy", "", true)
	m.SetApp(other, "", "", OperationDelete, false)
	m.SetConditions(web, []string{"SyncError", "OrphanedResourceWarning", "SyncError"})
	m.SetConditions(web, []string{"SyncError", "SyncError"})
	m.SyncDone(web, PhaseFailed)

	_, fams := scrape(t, m)
	want := []string{
		`argocd_app_condition{condition="SyncError",name="web",namespace="argocd",project="shop"} 2`,
		`argocd_app_info{autosync_enabled="false",dest_namespace="api",dest_server="https://10.0.0.1:6443",health_status="Unknown",name="api",namespace="argocd",operation="delete",project="default",repo="git@github.com/example/api",sync_status="Unknown"} 1`,
		`argocd_app_info{autosync_enabled="true",dest_namespace="web",dest_server="https://kubernetes.default.svc",health_status="Healthy",name="web",namespace="argocd",operation="",project="shop",repo="https://github.com/example/config",sync_status="Synced"} 1`,
	}
	if diff := cmp.Diff(want, listing(fams, "argocd_app_info", "argocd_app_condition")); diff != "" {
		t.Errorf("after SetApp (-want +got):\n%s", diff)
	}

	m.DeleteApp("argocd", "web")
	_, fams = scrape(t, m)
	want = []string{
		`argocd_app_info{autosync_enabled="false",dest_namespace="api",dest_server="https://10.0.0.1:6443",health_status="Unknown",name="api",namespace="argocd",operation="delete",project="default",repo="git@github.com/example/api",sync_status="Unknown"} 1`,
		`argocd_app_sync_total{dest_server="https://kubernetes.default.svc",dry_run="false",name="web",namespace="argocd",phase="Failed",project="shop"} 1`,
	}
	got := listing(fams, "argocd_app_info", "argocd_app_condition", "argocd_app_sync_total")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after DeleteApp (-want +got):\n%s", diff)
	}

	m.SetConditions(other, []string{"ComparisonError"})
	m.SetConditions(other, nil)
	m.DeleteApp("argocd", "api")
	_, fams = scrape(t, m)
	if got := listing(fams, "argocd_app_info", "argocd_app_condition"); len(got) != 0 {
		t.Errorf("after deleting every app: %q, want no series", got)
	}
}

func TestEventSeries(t *testing.T) {
	m := New()
	m.SyncDone(web, PhaseSucceeded)
	m.SyncDone(web, PhaseSucceeded)
	m.SyncDone(web, PhaseError)
	m.SyncDuration(web, 1500*time.Millisecond)
	m.SyncDuration(web, 2*time.Second)
	m.ReconcileDone(web, 300*time.Millisecond)
	m.ReconcileDone(web, 3*time.Second)
	m.ReconcileDone(web, time.Minute)
	m.ReconcileResult(web, ReconcileSuccess)
	m.ReconcileResult(web, ReconcileError)
	m.DriftCorrected(web)
	m.DriftCorrected(web)
	m.Webhook("github", "accepted")
	m.Webhook("gitlab", "rejected")
	m.RenderCache(true)
	m.RenderCache(true)
	m.RenderCache(false)
	m.GitRequest("https://github.com/example/config.git", GitLsRemote, 200*time.Millisecond, false)
	m.GitRequest("https://github.com/example/config.git", GitFetch, 3*time.Second, false)
	m.GitRequest("https://github.com/example/config.git", GitFetch, 30*time.Second, true)
	m.SetCluster("https://10.0.0.1:6443", "prod", "1.34", false)
	m.SetCluster("https://10.0.0.1:6443", "prod", "1.35", true)
	m.SetCluster("https://10.0.0.2:6443", "gone", "1.33", true)
	m.DeleteCluster("https://10.0.0.2:6443")

	_, fams := scrape(t, m)
	want := []string{
		`argocd_app_reconcile{dest_server="https://kubernetes.default.svc",namespace="argocd"} count=3 sum=63.3 le0.25=0 le0.5=1 le1=1 le2=1 le4=2 le8=2 le16=2`,
		`argocd_app_sync_duration_seconds_total{dest_server="https://kubernetes.default.svc",name="web",namespace="argocd",project="shop"} 3.5`,
		`argocd_app_sync_total{dest_server="https://kubernetes.default.svc",dry_run="false",name="web",namespace="argocd",phase="Error",project="shop"} 1`,
		`argocd_app_sync_total{dest_server="https://kubernetes.default.svc",dry_run="false",name="web",namespace="argocd",phase="Succeeded",project="shop"} 2`,
		`argocd_cluster_connection_status{k8s_version="1.35",server="https://10.0.0.1:6443"} 1`,
		`argocd_cluster_info{k8s_version="1.35",name="prod",server="https://10.0.0.1:6443"} 1`,
		`argocd_git_fetch_fail_total{repo="https://github.com/example/config.git",revision=""} 1`,
		`argocd_git_request_duration_seconds{repo="https://github.com/example/config.git",request_type="fetch"} count=2 sum=33 le0.1=0 le0.25=0 le0.5=0 le1=0 le2=0 le4=1 le10=1 le20=1`,
		`argocd_git_request_duration_seconds{repo="https://github.com/example/config.git",request_type="ls-remote"} count=1 sum=0.2 le0.1=0 le0.25=1 le0.5=1 le1=1 le2=1 le4=1 le10=1 le20=1`,
		`argocd_git_request_total{repo="https://github.com/example/config.git",request_type="fetch"} 2`,
		`argocd_git_request_total{repo="https://github.com/example/config.git",request_type="ls-remote"} 1`,
		`kubectl_gitops_drift_corrections_total{name="web",namespace="argocd"} 2`,
		`kubectl_gitops_reconcile_total{name="web",namespace="argocd",result="error"} 1`,
		`kubectl_gitops_reconcile_total{name="web",namespace="argocd",result="success"} 1`,
		`kubectl_gitops_render_cache_total{result="hit"} 2`,
		`kubectl_gitops_render_cache_total{result="miss"} 1`,
		`kubectl_gitops_webhook_requests_total{provider="github",result="accepted"} 1`,
		`kubectl_gitops_webhook_requests_total{provider="gitlab",result="rejected"} 1`,
	}
	got := listing(fams,
		"argocd_app_reconcile", "argocd_app_sync_duration_seconds_total", "argocd_app_sync_total",
		"argocd_cluster_connection_status", "argocd_cluster_info",
		"argocd_git_fetch_fail_total", "argocd_git_lsremote_fail_total",
		"argocd_git_request_duration_seconds", "argocd_git_request_total",
		"kubectl_gitops_drift_corrections_total", "kubectl_gitops_reconcile_total",
		"kubectl_gitops_render_cache_total", "kubectl_gitops_webhook_requests_total")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}

func TestK8sRequest(t *testing.T) {
	tests := []struct {
		name, method, path, query string
		code                      int
		want                      string // verb, resource_kind, resource_namespace, dry_run
	}{
		{"core list namespaced", "GET", "/api/v1/namespaces/web/configmaps", "", 200, "List configmaps web false"},
		{"core list all namespaces", "GET", "/api/v1/pods", "limit=500", 200, "List pods  false"},
		{"core get namespaced", "GET", "/api/v1/namespaces/web/secrets/tls", "", 404, "Get secrets web false"},
		{"core watch", "GET", "/api/v1/namespaces/web/pods", "watch=true&resourceVersion=7", 200, "Watch pods web false"},
		{"watch=1", "GET", "/api/v1/nodes", "watch=1", 200, "Watch nodes  false"},
		{"watch=false", "GET", "/api/v1/nodes", "watch=false", 200, "List nodes  false"},
		{"legacy watch path", "GET", "/api/v1/watch/namespaces/web/pods", "", 200, "Watch pods web false"},
		{"group list", "GET", "/apis/apps/v1/namespaces/web/deployments", "", 200, "List deployments web false"},
		{"group get", "GET", "/apis/apps/v1/namespaces/web/deployments/web", "", 200, "Get deployments web false"},
		{"group watch cluster-wide", "GET", "/apis/apps/v1/deployments", "watch=true", 200, "Watch deployments  false"},
		{"cluster-scoped get", "GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", "", 200, "Get clusterroles  false"},
		{"namespace get", "GET", "/api/v1/namespaces/web", "", 200, "Get namespaces  false"},
		{"namespace list", "GET", "/api/v1/namespaces", "", 200, "List namespaces  false"},
		{"namespace status", "PUT", "/api/v1/namespaces/web/status", "", 200, "Update namespaces  false"},
		{"namespace finalize", "PUT", "/api/v1/namespaces/web/finalize", "", 200, "Update namespaces  false"},
		{"create", "POST", "/api/v1/namespaces/web/configmaps", "fieldManager=kubectl-gitops", 201, "Create configmaps web false"},
		{"create cluster-scoped", "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "", 201, "Create customresourcedefinitions  false"},
		{"server-side apply dry run", "PATCH", "/apis/apps/v1/namespaces/web/deployments/web", "dryRun=All&fieldManager=kubectl-gitops&force=true", 200, "Patch deployments web true"},
		{"status subresource", "PATCH", "/apis/apps/v1/namespaces/web/deployments/web/status", "", 200, "Patch deployments web false"},
		{"scale subresource get", "GET", "/apis/apps/v1/namespaces/web/deployments/web/scale", "", 200, "Get deployments web false"},
		{"eviction", "POST", "/api/v1/namespaces/web/pods/web-0/eviction", "", 201, "Create pods web false"},
		{"update", "PUT", "/apis/batch/v1/namespaces/jobs/cronjobs/nightly", "", 409, "Update cronjobs jobs false"},
		{"delete dry run", "DELETE", "/api/v1/namespaces/web/services/web", "dryRun=All", 200, "Delete services web true"},
		{"delete collection", "DELETE", "/api/v1/namespaces/web/pods", "", 200, "Delete pods web false"},
		{"lower-case method", "get", "/api/v1/namespaces/web/pods/web-0", "", 200, "Get pods web false"},
		{"discovery", "GET", "/apis/apps/v1", "", 200, "Get   false"},
		{"version", "GET", "/version", "", 200, "Get   false"},
		{"transport error", "GET", "/api/v1/namespaces/web/pods", "", 0, "List pods web false"},
		{"head", "HEAD", "/api/v1/namespaces/web/pods", "", 200, "Unknown pods web false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			m := New()
			m.K8sRequest(web, "https://10.0.0.1:6443", tt.method, tt.path, q, tt.code)
			_, fams := scrape(t, m)
			f := strings.Split(tt.want, " ")
			want := []string{fmt.Sprintf(`argocd_app_k8s_request_total{dry_run=%q,name="web",namespace="argocd",project="shop",resource_kind=%q,resource_namespace=%q,response_code="%d",server="https://10.0.0.1:6443",verb=%q} 1`,
				f[3], f[1], f[2], tt.code, f[0])}
			if diff := cmp.Diff(want, listing(fams, "argocd_app_k8s_request_total")); diff != "" {
				t.Errorf("%s %s?%s (-want +got):\n%s", tt.method, tt.path, tt.query, diff)
			}
		})
	}
}

func TestK8sRequestWithoutApp(t *testing.T) {
	m := New()
	m.K8sRequest(App{}, "https://10.0.0.1:6443", "GET", "/api/v1/namespaces", nil, 200)
	_, fams := scrape(t, m)
	want := []string{`argocd_app_k8s_request_total{dry_run="false",name="",namespace="",project="",resource_kind="namespaces",resource_namespace="",response_code="200",server="https://10.0.0.1:6443",verb="List"} 1`}
	if diff := cmp.Diff(want, listing(fams, "argocd_app_k8s_request_total")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTransport(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	}))
	defer api.Close()

	m := New()
	client := &http.Client{Transport: m.Transport(web, http.DefaultTransport)}
	resp, err := client.Get(api.URL + "/apis/apps/v1/namespaces/web/deployments/web?dryRun=All")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := client.Get("http://127.0.0.1:1/api/v1/pods"); err == nil {
		t.Fatal("request to a closed port succeeded")
	}

	_, fams := scrape(t, m)
	want := []string{
		`argocd_app_k8s_request_total{dry_run="false",name="web",namespace="argocd",project="shop",resource_kind="pods",resource_namespace="",response_code="0",server="http://127.0.0.1:1",verb="List"} 1`,
		fmt.Sprintf(`argocd_app_k8s_request_total{dry_run="true",name="web",namespace="argocd",project="shop",resource_kind="deployments",resource_namespace="web",response_code="404",server=%q,verb="Get"} 1`, api.URL),
	}
	if diff := cmp.Diff(want, listing(fams, "argocd_app_k8s_request_total")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestNoCredentialsInLabels(t *testing.T) {
	tests := []struct {
		repo, gitLabel, appLabel string
	}{
		{"https://x-access-token:ghp_SECRET1@github.com/Example/Config.git",
			"https://github.com/Example/Config.git", "https://github.com/example/config"},
		{"https://ghp_SECRET2@github.com/example/config",
			"https://github.com/example/config", "https://github.com/example/config"},
		{"http://user:SECRET3@git.internal:8080/config.git?token=SECRET4#main",
			"http://git.internal:8080/config.git", "http://git.internal:8080/config"},
		{"ssh://git:SECRET5@git.internal:2222/org/config.git",
			"ssh://git@git.internal:2222/org/config.git", "git@git.internal:2222/org/config"},
		{"git:SECRET6@github.com:example/config.git",
			"git@github.com:example/config.git", "git@github.com/example/config"},
		{"git@github.com:Example/config.git",
			"git@github.com:Example/config.git", "git@github.com/example/config"},
		{"  https://github.com/example/config.git ",
			"https://github.com/example/config.git", "https://github.com/example/config"},
		{"/srv/git/config", "/srv/git/config", "/srv/git/config"},
	}
	m := New()
	for i, tt := range tests {
		if got := repoLabel(tt.repo); got != tt.gitLabel {
			t.Errorf("repoLabel(%q) = %q, want %q", tt.repo, got, tt.gitLabel)
		}
		if got := appRepoLabel(tt.repo); got != tt.appLabel {
			t.Errorf("appRepoLabel(%q) = %q, want %q", tt.repo, got, tt.appLabel)
		}
		a := web
		a.Name = fmt.Sprintf("app-%d", i)
		a.Repo = tt.repo
		m.SetApp(a, "Synced", "Healthy", "", false)
		m.GitRequest(tt.repo, GitFetch, time.Second, true)
	}
	m.SetCluster("https://admin:SECRET7@10.0.0.1:6443", "prod", "1.35", true)
	m.K8sRequest(web, "https://admin:SECRET8@10.0.0.1:6443", "GET", "/api/v1/pods", nil, 200)

	body, _ := scrape(t, m)
	if strings.Contains(body, "SECRET") || strings.Contains(body, "x-access-token") {
		t.Errorf("scrape holds credentials:\n%s", body)
	}
	for _, want := range []string{`repo="git@github.com/example/config"`, `server="https://10.0.0.1:6443"`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s:\n%s", want, body)
		}
	}
}

func TestInvalidUTF8LabelKeepsScrape(t *testing.T) {
	m := New()
	bad := web
	bad.Name = "bad\xff"
	m.SetApp(bad, "Synced", "Healthy", "", false)
	m.SetApp(web, "Synced", "Healthy", "", false)
	m.Webhook("git\xffhub", "accepted")
	_, fams := scrape(t, m)
	got := listing(fams, "argocd_app_info", "kubectl_gitops_webhook_requests_total")
	want := []string{
		`argocd_app_info{autosync_enabled="false",dest_namespace="web",dest_server="https://kubernetes.default.svc",health_status="Healthy",name="web",namespace="argocd",operation="",project="shop",repo="https://github.com/example/config",sync_status="Synced"} 1`,
		"kubectl_gitops_webhook_requests_total{provider=\"git\uFFFDhub\",result=\"accepted\"} 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRuntimeCollectors(t *testing.T) {
	_, fams := scrape(t, New())
	// The series the Argo CD dashboard's telemetry panels read.
	names := []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds"}
	if runtime.GOOS == "linux" {
		names = append(names, "process_cpu_seconds_total", "process_start_time_seconds")
	}
	for _, name := range names {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s: missing from scrape", name)
		}
	}
}
