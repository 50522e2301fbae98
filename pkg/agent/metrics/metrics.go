package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// App names an application in the labels of its series. The zero value
// stands for requests made outside any application, as Argo CD records
// them with empty name, namespace and project.
type App struct {
	// Name is the application's name.
	Name string
	// Namespace is the namespace the application itself lives in (Argo CD's
	// "namespace" label), not the namespace it deploys to.
	Namespace string
	// Project is the application's project.
	Project string
	// Repo is the source repository URL; credentials are removed before it
	// becomes a label.
	Repo string
	// DestServer is the API server URL of the destination cluster.
	DestServer string
	// DestNamespace is the default namespace of the destination.
	DestNamespace string
}

// Operations an application may be running, for SetApp. The empty string
// means none.
const (
	OperationSync   = "sync"
	OperationDelete = "delete"
)

// Sync phases that end a sync operation, for SyncDone.
const (
	PhaseSucceeded = "Succeeded"
	PhaseFailed    = "Failed"
	PhaseError     = "Error"
)

// Git request types, for GitRequest; Argo CD's repo server uses the same.
const (
	GitLsRemote = "ls-remote"
	GitFetch    = "fetch"
)

// Reconcile results, for ReconcileResult.
const (
	ReconcileSuccess = "success"
	ReconcileError   = "error"
)

// Argo CD's histogram buckets, in seconds.
var (
	reconcileBuckets  = []float64{0.25, 0.5, 1, 2, 4, 8, 16}
	gitRequestBuckets = []float64{0.1, 0.25, 0.5, 1, 2, 4, 10, 20}
)

// Metrics holds the agent's series in a registry of its own, together with
// the Go runtime and process collectors. All methods are safe for
// concurrent use.
type Metrics struct {
	registry *prometheus.Registry
	state    *stateCollector

	syncTotal       *prometheus.CounterVec
	syncDuration    *prometheus.CounterVec
	reconcile       *prometheus.HistogramVec
	k8sRequests     *prometheus.CounterVec
	gitRequests     *prometheus.CounterVec
	gitDuration     *prometheus.HistogramVec
	gitFetchFail    *prometheus.CounterVec
	gitLsRemoteFail *prometheus.CounterVec

	driftCorrections *prometheus.CounterVec
	webhooks         *prometheus.CounterVec
	renderCache      *prometheus.CounterVec
	reconcileTotal   *prometheus.CounterVec
}

// New returns Metrics with every series registered and none yet recorded.
func New() *Metrics {
	appLabels := []string{"namespace", "name", "project"}
	with := func(extra ...string) []string {
		return append(append([]string(nil), appLabels...), extra...)
	}
	counter := func(name, help string, labels []string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels []string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}

	m := &Metrics{
		registry: prometheus.NewRegistry(),
		state:    newStateCollector(),

		syncTotal: counter("argocd_app_sync_total",
			"Number of finished application syncs, by phase.",
			with("dest_server", "phase", "dry_run")),
		syncDuration: counter("argocd_app_sync_duration_seconds_total",
			"Total time spent syncing the application, in seconds.",
			with("dest_server")),
		reconcile: histogram("argocd_app_reconcile",
			"Application reconciliation duration in seconds.",
			reconcileBuckets, []string{"namespace", "dest_server"}),
		k8sRequests: counter("argocd_app_k8s_request_total",
			"Number of Kubernetes API requests made while reconciling an application.",
			with("server", "response_code", "verb", "resource_kind", "resource_namespace", "dry_run")),
		gitRequests: counter("argocd_git_request_total",
			"Number of git requests, by type.",
			[]string{"repo", "request_type"}),
		gitDuration: histogram("argocd_git_request_duration_seconds",
			"Git request duration in seconds.",
			gitRequestBuckets, []string{"repo", "request_type"}),
		gitFetchFail: counter("argocd_git_fetch_fail_total",
			"Number of failed git fetches.",
			[]string{"repo", "revision"}),
		gitLsRemoteFail: counter("argocd_git_lsremote_fail_total",
			"Number of failed git ls-remote requests.",
			[]string{"repo", "revision"}),

		driftCorrections: counter("kubectl_gitops_drift_corrections_total",
			"Number of times the agent re-applied an application whose live state had drifted from Git.",
			[]string{"name", "namespace"}),
		webhooks: counter("kubectl_gitops_webhook_requests_total",
			"Number of webhook requests received, by provider and result.",
			[]string{"provider", "result"}),
		renderCache: counter("kubectl_gitops_render_cache_total",
			"Number of render cache lookups, by result (hit or miss).",
			[]string{"result"}),
		reconcileTotal: counter("kubectl_gitops_reconcile_total",
			"Number of finished reconciliations, by result (success or error).",
			[]string{"name", "namespace", "result"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.state,
		m.syncTotal, m.syncDuration, m.reconcile, m.k8sRequests,
		m.gitRequests, m.gitDuration, m.gitFetchFail, m.gitLsRemoteFail,
		m.driftCorrections, m.webhooks, m.renderCache, m.reconcileTotal,
	)
	return m
}

// Registry returns the registry that holds every series, for a caller
// that adds collectors of its own or gathers directly.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler returns the HTTP handler that serves the registry in the
// Prometheus exposition formats, usually mounted at /metrics. A series
// that cannot be gathered is left out rather than failing the scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// SetApp records an application's current state as its one
// argocd_app_info series, replacing the one SetApp recorded before, so no
// stale sync_status or health_status combination remains. An empty
// syncStatus or healthStatus is recorded as "Unknown", as Argo CD does;
// operation is OperationSync, OperationDelete or "".
func (m *Metrics) SetApp(a App, syncStatus, healthStatus, operation string, autoSync bool) {
	if syncStatus == "" {
		syncStatus = "Unknown"
	}
	if healthStatus == "" {
		healthStatus = "Unknown"
	}
	a.Repo = appRepoLabel(a.Repo)
	a.DestServer = serverLabel(a.DestServer)
	m.state.setApp(appInfo{
		app:          a,
		syncStatus:   syncStatus,
		healthStatus: healthStatus,
		operation:    operation,
		autoSync:     autoSync,
	})
}

// SetConditions records the types of an application's current status
// conditions (such as SyncError or OrphanedResourceWarning) as
// argocd_app_condition series, one per type with the number of conditions
// of that type, replacing what was recorded before. No types clears them.
func (m *Metrics) SetConditions(a App, conditionTypes []string) {
	m.state.setConditions(a, conditionTypes)
}

// DeleteApp removes the series that describe an application's current
// state (argocd_app_info and argocd_app_condition). Its counters and
// histograms stay, as in Argo CD, so rates over them remain correct.
func (m *Metrics) DeleteApp(namespace, name string) {
	m.state.deleteApp(namespace, name)
}

// SyncDone counts a finished sync of a with the given phase
// (PhaseSucceeded, PhaseFailed or PhaseError). The agent does not run
// dry-run syncs, so dry_run is always "false".
func (m *Metrics) SyncDone(a App, phase string) {
	m.syncTotal.WithLabelValues(a.Namespace, a.Name, a.Project, serverLabel(a.DestServer), phase, "false").Inc()
}

// SyncDuration adds the duration of a finished sync of a to
// argocd_app_sync_duration_seconds_total.
func (m *Metrics) SyncDuration(a App, d time.Duration) {
	m.syncDuration.WithLabelValues(a.Namespace, a.Name, a.Project, serverLabel(a.DestServer)).Add(d.Seconds())
}

// ReconcileDone observes the duration of one reconciliation of a in the
// argocd_app_reconcile histogram.
func (m *Metrics) ReconcileDone(a App, d time.Duration) {
	m.reconcile.WithLabelValues(a.Namespace, serverLabel(a.DestServer)).Observe(d.Seconds())
}

// ReconcileResult counts one finished reconciliation of a with its result,
// ReconcileSuccess or ReconcileError.
func (m *Metrics) ReconcileResult(a App, result string) {
	m.reconcileTotal.WithLabelValues(a.Name, a.Namespace, result).Inc()
}

// GitRequest counts one git request of requestType (GitLsRemote or
// GitFetch) to repo and observes how long it took. A failed fetch or
// ls-remote also counts in argocd_git_fetch_fail_total or
// argocd_git_lsremote_fail_total, whose revision label is left empty:
// the revision asked for is not part of the request here.
func (m *Metrics) GitRequest(repo, requestType string, d time.Duration, failed bool) {
	repo = repoLabel(repo)
	m.gitRequests.WithLabelValues(repo, requestType).Inc()
	m.gitDuration.WithLabelValues(repo, requestType).Observe(d.Seconds())
	if !failed {
		return
	}
	switch requestType {
	case GitFetch:
		m.gitFetchFail.WithLabelValues(repo, "").Inc()
	case GitLsRemote:
		m.gitLsRemoteFail.WithLabelValues(repo, "").Inc()
	}
}

// DriftCorrected counts one re-apply of a after its live state drifted
// from Git.
func (m *Metrics) DriftCorrected(a App) {
	m.driftCorrections.WithLabelValues(a.Name, a.Namespace).Inc()
}

// Webhook counts one webhook request from provider (such as "github") with
// its result (such as "accepted", "ignored" or "rejected").
func (m *Metrics) Webhook(provider, result string) {
	m.webhooks.WithLabelValues(validLabel(provider), validLabel(result)).Inc()
}

// RenderCache counts one render cache lookup as a hit or a miss.
func (m *Metrics) RenderCache(hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.renderCache.WithLabelValues(result).Inc()
}

// SetCluster records a destination cluster as its argocd_cluster_info
// series (which the Argo CD dashboard's cluster selector lists) and its
// argocd_cluster_connection_status (1 when connected), replacing what was
// recorded for server before.
func (m *Metrics) SetCluster(server, name, k8sVersion string, connected bool) {
	m.state.setCluster(clusterInfo{server: serverLabel(server), name: name, k8sVersion: k8sVersion, connected: connected})
}

// DeleteCluster removes the series SetCluster recorded for server.
func (m *Metrics) DeleteCluster(server string) {
	m.state.deleteCluster(serverLabel(server))
}

func boolLabel(b bool) string { return strconv.FormatBool(b) }
