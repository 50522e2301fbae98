// Package metrics holds the Prometheus metrics of the GitOps agent. The
// agent takes the place of Argo CD's application controller, so the series
// Argo CD's Grafana dashboard and the usual Argo CD alert rules read keep
// Argo CD's names, types, label names, label values and histogram buckets;
// what the agent adds of its own is named kubectl_gitops_*.
//
// Metrics uses a registry of its own, not the global one, with the Go
// runtime (go_*) and process (process_*) collectors that the dashboard's
// telemetry panels read. Label values never carry credentials: repository
// and server URLs lose their user information (source.RedactURL) first.
//
//	m := metrics.New()
//	mux.Handle("/metrics", m.Handler())
//	app := metrics.App{Name: "web", Namespace: "argocd", Project: "default",
//		Repo: repoURL, DestServer: "https://kubernetes.default.svc", DestNamespace: "web"}
//	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return m.Transport(app, rt) })
//	start := time.Now()
//	... reconcile ...
//	m.ReconcileDone(app, time.Since(start))
//	m.SetApp(app, "Synced", "Healthy", "", true)
//
// # Series
//
// The labels namespace, name and project are those of the application (the
// namespace the Application lives in, not its destination). Argo CD's
// sources are of github.com/argoproj/argo-cd at v3.5.1: controller/metrics/
// (application controller) and reposerver/metrics/ (git requests).
//
//	| Series | Type | Labels | Meaning | Argo CD |
//	|---|---|---|---|---|
//	| argocd_app_info | gauge | namespace, name, project, autosync_enabled, repo, dest_server, dest_namespace, sync_status, health_status, operation | 1 per application; its state is in the labels (SetApp, DeleteApp) | same |
//	| argocd_app_condition | gauge | namespace, name, project, condition | number of current status conditions of each type (SetConditions) | same (opt-in there) |
//	| argocd_app_sync_total | counter | namespace, name, project, dest_server, phase, dry_run | finished syncs by phase Succeeded, Failed or Error (SyncDone); dry_run is always "false" | same |
//	| argocd_app_sync_duration_seconds_total | counter | namespace, name, project, dest_server | seconds spent syncing (SyncDuration) | same |
//	| argocd_app_reconcile | histogram | namespace, dest_server | reconciliation duration in seconds, buckets 0.25 0.5 1 2 4 8 16 (ReconcileDone) | same |
//	| argocd_app_k8s_request_total | counter | namespace, name, project, server, response_code, verb, resource_kind, resource_namespace, dry_run | Kubernetes API requests (K8sRequest, Transport) | same |
//	| argocd_cluster_info | gauge | server, k8s_version, name | 1 per destination cluster (SetCluster, DeleteCluster) | same |
//	| argocd_cluster_connection_status | gauge | server, k8s_version | 1 if the cluster is reachable, else 0 (SetCluster) | same |
//	| argocd_git_request_total | counter | repo, request_type | git requests, request_type ls-remote or fetch (GitRequest) | same (repo server) |
//	| argocd_git_request_duration_seconds | histogram | repo, request_type | git request duration, buckets 0.1 0.25 0.5 1 2 4 10 20 (GitRequest) | same (repo server) |
//	| argocd_git_fetch_fail_total | counter | repo, revision | failed fetches; revision is always "" (GitRequest) | same (repo server) |
//	| argocd_git_lsremote_fail_total | counter | repo, revision | failed ls-remotes; revision is always "" (GitRequest) | same (repo server) |
//	| kubectl_gitops_drift_corrections_total | counter | name, namespace | re-applies after the live state drifted from Git (DriftCorrected) | ours |
//	| kubectl_gitops_reconcile_total | counter | name, namespace, result | finished reconciliations, result success or error (ReconcileResult) | ours |
//	| kubectl_gitops_webhook_requests_total | counter | provider, result | webhook requests received (Webhook) | ours |
//	| kubectl_gitops_render_cache_total | counter | result | render cache lookups, result hit or miss (RenderCache) | ours |
//	| go_*, process_* | various | | Go runtime and process collectors | same |
//
// # Label values
//
// sync_status and health_status are "Unknown" when empty; operation is
// "sync", "delete" or "". autosync_enabled and dry_run are "true" or
// "false". The repo of argocd_app_info is normalised as Argo CD does it
// (lower case, no ".git", ssh URLs as user@host/path); the repo of the git
// series is the URL as given, without credentials.
//
// In argocd_app_k8s_request_total, verb is Get, List, Watch, Create,
// Update, Patch, Delete or Unknown; resource_kind is the plural resource of
// the path (deployments, configmaps) and resource_namespace its namespace,
// "" when cluster-scoped; response_code is the HTTP status, "0" when no
// response came. Two differences from Argo CD: a subresource request
// (deployments/web/status) counts as its resource, where Argo CD records
// the object's name; and dry_run says whether the request itself was a dry
// run (dryRun=All), where Argo CD says whether the sync operation was.
//
// DeleteApp removes argocd_app_info and argocd_app_condition, the series
// Argo CD stops reporting when an application goes; counters and
// histograms stay, as they do in Argo CD.
package metrics
