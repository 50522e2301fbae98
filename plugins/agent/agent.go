// Package agent is the `kubectl gitops agent` command: the sync engine run
// continuously, for many apps, in a cluster or beside it.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent/metrics"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent/webhook"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// Options are the inputs of agent.
type Options struct {
	// App holds the credentials, keys and inventory namespace every app
	// uses; AppFile is --app-file with the project and cluster flags.
	App     appflags.Flags
	AppFile appflags.AppFile
	// AppNamespace is where Application objects are read ("" reads none).
	AppNamespace string
	// AllowWithArgoCD manages Application objects even though an Argo CD
	// application controller runs.
	AllowWithArgoCD bool
	// CredentialHosts get the agent's Git credentials for Application
	// objects (those of --app-file get them for their own hosts).
	CredentialHosts []string
	// ApplicationNamespaces are the other namespaces (globs, /regexps/)
	// whose Application objects the agent runs: Argo CD's "applications in
	// any namespace" (tenants).
	ApplicationNamespaces []string
	// TenantKeySecret is the Secret of a tenant's namespace holding its
	// age keys.
	TenantKeySecret string

	Listen                    string
	ReconcileInterval, Jitter time.Duration
	Concurrency               int
	ShutdownTimeout           time.Duration
	SyncTimeout               time.Duration
	LeaderElect               bool
	LeaderElectionNamespace   string
	LeaderElectionID          string
	LeaseDuration             time.Duration
	Shards                    int
	ShardOrdinalFromHostname  bool
	ShardOrdinal              int
	WebhookSecretsDir         string
	WebhookAllowUnsigned      bool
	WebhookMaxPayloadMB       int64
	LogFormat                 string
	LogLevel                  string
	RenderCacheSize           int
	SelfHealBackoff           agent.Backoff
	DriftDebounce             time.Duration
	identity                  string
	preferred                 int
	kubeFlags                 *genericclioptions.ConfigFlags
	flags                     *pflag.FlagSet
	genericiooptions.IOStreams
}

// NewCommand returns the agent command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{kubeFlags: kubeFlags, IOStreams: streams, SelfHealBackoff: agent.SelfHealBackoff}
	cmd := &cobra.Command{
		Use:   "agent [--app-file FILE|DIR] [--app-namespace NS]",
		Short: "Run continuously: auto-sync, self-heal, webhooks, metrics, leader election",
		Long: `Agent runs the sync engine continuously, as Argo CD's application controller
does, for the Argo CD Applications it is given:

  - Application and ApplicationSet manifests in --app-file (a file or a
    directory), read again at every poll;
  - Application objects in --app-namespace of the current cluster (default
    argocd): kubectl apply -f application.yaml works as with Argo CD, and the
    agent writes their .status (sync, health, operationState, history,
    resources, conditions) and Events; and the apps its ApplicationSet
    objects generate;
  - with --application-namespaces, the Application objects of teams'
    namespaces, each held to an AppProject that lists its namespace in
    spec.sourceNamespaces, with only its own namespace's credentials and keys.

Each app is compared every --reconcile-interval (plus up to --reconcile-jitter),
at once on a webhook push to its repository and revision, and within seconds
of a change to one of its objects (one metadata watch per resource type,
shared by all apps). Renders are cached by commit, path and inputs, so a poll
of an unchanged commit renders nothing, and a poll without drift makes no
dry-run and no write.

Automated apps (syncPolicy.automated) sync as Argo CD's do: once per new
commit (and source); a commit whose sync failed is not tried again unless
retry says so; with selfHeal, drift is corrected with Argo CD's backoff (2 s,
x3, at most 300 s); without, it is reported OutOfSync and left; the
allowEmpty guard and sync windows apply. Apps without automated are compared
and reported, and synced when asked through the Application's .operation
(argocd app sync, kubectl patch), with its prune, syncOptions, resources and
retry, as Argo CD's controller does.

One address (--listen) serves /api/webhook (GitHub, GitLab, Gitea,
Bitbucket Cloud and Server push events; signatures checked with the secrets
in --webhook-secrets-dir), /metrics (Argo CD's application controller series
and kubectl_gitops_ ones), /healthz and /readyz.

With --leader-elect, replicas share the work through Leases in
--leader-election-namespace: one holds each of --shards shards of the apps.
With --shard-ordinal (or --shard-ordinal-from-hostname), a replica holds its
own shard first, others' as a standby, and gets its own back when it returns.
SIGTERM stops starting syncs, lets running ones finish for --shutdown-timeout
(then stops them safely), releases the Leases and exits. See docs/agent.md.`,
		Example: `  # Beside a cluster: the Applications of a directory, polled every minute.
  kubectl gitops agent --app-file apps/ --reconcile-interval 1m --leader-elect=false

  # In a cluster (deploy/): the Application objects of namespace argocd.
  kubectl gitops agent --leader-elect --webhook-secrets-dir /etc/kubectl-gitops/webhook`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	o.flags = f
	o.App.Source.AddFlags(f)
	o.App.Source.AddKeyFlags(f, true)
	for _, name := range []string{"repo", "revision", "path"} {
		_ = f.MarkHidden(name) // the apps name their sources
	}
	o.App.InventoryNamespace = appflags.DefaultInventoryNamespace
	f.StringVar(&o.App.InventoryNamespace, "inventory-namespace", o.App.InventoryNamespace, "Namespace of the apps' inventory ConfigMaps and sync locks")
	f.StringVar(&o.AppFile.File, "app-file", "", "Argo CD Application and ApplicationSet manifests: a file or a directory of them, read again at every poll")
	f.StringArrayVar(&o.AppFile.RepoMap, "repo-map", nil, "Rewrite the Applications' repository URLs: FROM=TO replaces the prefix FROM (repeatable)")
	o.AppFile.AddProjectFlags(f)
	o.AppFile.AddClusterFlags(f)
	f.StringVar(&o.AppNamespace, "app-namespace", "argocd", "Namespace whose Application objects the agent runs and writes the status of (\"\" reads none)")
	f.StringSliceVar(&o.ApplicationNamespaces, "application-namespaces", nil, "Other namespaces whose Application objects the agent runs (Argo CD's applications in any namespace): names, globs (team-*) or /regular expressions/. Such an Application may use only an AppProject listing its namespace in spec.sourceNamespaces, and gets only the Git credentials (repository Secrets) and age keys (--tenant-age-key-secret) of its own namespace")
	f.StringVar(&o.TenantKeySecret, "tenant-age-key-secret", "gitops-age-key", "Name of the Secret, in the namespace of an Application of --application-namespaces, whose values are that namespace's age key files")
	f.StringSliceVar(&o.CredentialHosts, "git-credential-hosts", nil, "Hosts (as in repository URLs) that get the agent's Git credentials for Application and ApplicationSet objects; --app-file's Applications get them for their own hosts; others fetch anonymously")
	f.BoolVar(&o.AllowWithArgoCD, "allow-with-argocd", false, "Manage the Application objects even though an Argo CD application controller runs in the cluster")
	f.StringVar(&o.Listen, "listen", ":8080", "Address of /api/webhook, /metrics, /healthz and /readyz")
	f.DurationVar(&o.ReconcileInterval, "reconcile-interval", 120*time.Second, "Time between two polls of an app (Argo CD's timeout.reconciliation)")
	f.DurationVar(&o.Jitter, "reconcile-jitter", 60*time.Second, "At most this is added to each poll's wait, spreading apps out (Argo CD's timeout.reconciliation.jitter)")
	f.IntVar(&o.Concurrency, "concurrency", 10, "Apps reconciled at once")
	f.DurationVar(&o.SyncTimeout, "sync-timeout", 5*time.Minute, "Bound on one sync")
	f.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "On SIGTERM, how long running syncs may go on before they are stopped safely")
	f.BoolVar(&o.LeaderElect, "leader-elect", false, "Hold a Lease per shard, so that of several replicas one runs each app")
	f.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the Leases (default: $POD_NAMESPACE, else gitops-system)")
	f.StringVar(&o.LeaderElectionID, "leader-election-id", "kubectl-gitops-agent", "Name of the Lease (with --shards above 1: NAME-shard-I)")
	f.DurationVar(&o.LeaseDuration, "lease-duration", 15*time.Second, "How long a dead leader's Lease lasts before a standby takes over")
	f.IntVar(&o.Shards, "shards", 1, "Spread the apps over this many shards, each held through its own Lease by one replica")
	f.BoolVar(&o.ShardOrdinalFromHostname, "shard-ordinal-from-hostname", false, "Campaign first for the shard of this pod's ordinal (a StatefulSet's NAME-I), for the others as a standby; a shard held by another replica is asked back")
	f.IntVar(&o.ShardOrdinal, "shard-ordinal", -1, "As --shard-ordinal-from-hostname, with the ordinal given (e.g. the pod's apps.kubernetes.io/pod-index label through the downward API)")
	f.StringVar(&o.WebhookSecretsDir, "webhook-secrets-dir", "", "Directory of webhook secrets (a mounted Secret): files github, gitlab, gitea, bitbucketserver, bitbucket-uuid")
	f.BoolVar(&o.WebhookAllowUnsigned, "webhook-allow-unsigned", false, "Accept webhook requests of providers with no secret (insecure: anyone can make the agent poll)")
	f.Int64Var(&o.WebhookMaxPayloadMB, "webhook-max-payload-mb", 50, "Largest webhook body accepted, in MiB (Argo CD's webhook.maxPayloadSizeMB)")
	f.StringVar(&o.LogFormat, "log-format", "text", "Log format: text or json")
	f.StringVar(&o.LogLevel, "log-level", "info", "Least level logged: debug, info, warn or error")
	f.IntVar(&o.RenderCacheSize, "render-cache-size", 1000, "Renders kept (by commit, path and inputs)")
	f.DurationVar(&o.SelfHealBackoff.Base, "self-heal-backoff", o.SelfHealBackoff.Base, "Wait before the second correction of the same drift (Argo CD's --self-heal-backoff-timeout-seconds)")
	f.Float64Var(&o.SelfHealBackoff.Factor, "self-heal-backoff-factor", o.SelfHealBackoff.Factor, "Growth of the wait between corrections")
	f.DurationVar(&o.SelfHealBackoff.Cap, "self-heal-backoff-cap", o.SelfHealBackoff.Cap, "Longest wait between corrections")
	f.DurationVar(&o.DriftDebounce, "drift-debounce", 500*time.Millisecond, "Changes to an app's objects within this time refresh it once")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.AppFile.File == "-" {
		return fmt.Errorf("--app-file must be a file or a directory (read again at every poll), not standard input")
	}
	if o.AppFile.File == "" && o.AppNamespace == "" {
		return fmt.Errorf("nothing to run: give --app-file, or --app-namespace where Application objects are")
	}
	if o.ReconcileInterval <= 0 || o.Jitter < 0 {
		return fmt.Errorf("--reconcile-interval must be positive and --reconcile-jitter not negative")
	}
	if o.Concurrency < 1 || o.Shards < 1 {
		return fmt.Errorf("--concurrency and --shards must be at least 1")
	}
	if o.Shards > 1 && !o.LeaderElect {
		return fmt.Errorf("--shards needs --leader-elect: each shard is held through a Lease")
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return fmt.Errorf("--log-format must be text or json")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error")
	}
	if o.WebhookMaxPayloadMB < 1 {
		return fmt.Errorf("--webhook-max-payload-mb must be at least 1")
	}
	if o.InventoryNamespace() == "" {
		return fmt.Errorf("--inventory-namespace must not be empty")
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "agent"
	}
	// Unique per process, as client-go's leader election wants: two
	// replicas on one host (or a restart) never share an identity.
	o.identity = host + "_" + uuid.NewString()
	o.preferred = -1
	if o.ShardOrdinal >= 0 {
		if o.ShardOrdinalFromHostname {
			return fmt.Errorf("--shard-ordinal and --shard-ordinal-from-hostname: give one")
		}
		o.preferred = o.ShardOrdinal % o.Shards
	}
	if o.ShardOrdinalFromHostname {
		i := strings.LastIndex(host, "-")
		n, err := strconv.Atoi(host[i+1:])
		if i < 0 || err != nil || n < 0 {
			return fmt.Errorf("--shard-ordinal-from-hostname: host name %q does not end in -ORDINAL (run the agent as a StatefulSet)", host)
		}
		o.preferred = n % o.Shards
	}
	if len(o.ApplicationNamespaces) > 0 {
		if o.AppNamespace == "" {
			return fmt.Errorf("--application-namespaces needs --app-namespace: the control plane's namespace, whose AppProjects the other namespaces' Applications use")
		}
		if _, err := appflags.NamespaceMatches(o.ApplicationNamespaces, ""); err != nil {
			return fmt.Errorf("--application-namespaces: %w", err)
		}
		if o.TenantKeySecret == "" {
			return fmt.Errorf("--tenant-age-key-secret must not be empty")
		}
	}
	if o.LeaderElectionNamespace == "" {
		o.LeaderElectionNamespace = os.Getenv("POD_NAMESPACE")
	}
	if o.LeaderElectionNamespace == "" {
		o.LeaderElectionNamespace = "gitops-system"
	}
	return o.App.Source.Keys.Validate()
}

// InventoryNamespace is where the apps' inventories are.
func (o *Options) InventoryNamespace() string { return o.App.InventoryNamespace }

// Run runs the agent until ctx ends or SIGTERM/SIGINT, then shuts down.
func (o *Options) Run(ctx context.Context) error {
	log := o.logger()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Syncs run on work, which outlives ctx by --shutdown-timeout.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	m := metrics.New()
	cache := app.NewRenderCache(o.RenderCacheSize)
	cache.OnLookup = m.RenderCache
	c, err := appflags.Connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	if o.AppFile.Auth, err = o.App.Source.Auth(); err != nil { // the git generators'
		return err
	}
	syncOpts := psync.NewOptions(o.kubeFlags, genericiooptions.IOStreams{In: nil, Out: io.Discard, ErrOut: io.Discard})
	syncOpts.Automated = true
	syncOpts.Sync.Timeout = o.SyncTimeout
	syncOpts.Sync.WaitForLock = true // another replica's sync ends before ours starts
	syncOpts.App = o.App
	syncOpts.App.Source.Cache = cache
	syncOpts.App.Source.OnPrivateDir = func(string) func() { return func() {} } // see compare

	a := &runner{o: o, log: log, metrics: m, cache: cache, current: c, sync: syncOpts, states: map[string]*appState{}, owners: map[string]string{}}
	a.controller = agent.NewController(a, agent.Options{Interval: o.ReconcileInterval, Jitter: o.Jitter, Concurrency: o.Concurrency})
	if err := a.start(ctx); err != nil {
		return err
	}
	controllerDone := make(chan struct{})
	go func() {
		defer close(controllerDone)
		a.controller.Run(ctx, work)
	}()

	secrets, err := o.webhookSecrets()
	if err != nil {
		return err
	}
	hook := &webhook.Handler{Secrets: secrets, MaxBodyBytes: o.WebhookMaxPayloadMB << 20, TooLargeHint: "the agent's --webhook-max-payload-mb raises the limit", OnPush: a.push, OnResult: func(provider string, r webhook.Result) {
		m.Webhook(provider, string(r))
		log.Info("webhook", "provider", provider, "result", string(r))
	}}
	mux := http.NewServeMux()
	mux.Handle("/api/webhook", hook)
	mux.Handle("/metrics", m.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := a.ready(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.Listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("agent started", "listen", ln.Addr().String(), "appNamespace", o.AppNamespace, "appFile", o.AppFile.File, "shards", o.Shards, "identity", o.identity)

	// The Leases are held until the syncs under way are done: released at
	// SIGTERM, a standby would start the same syncs while ours run.
	electCtx, cancelElect := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelElect()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !o.LeaderElect {
			a.own(ctx, 0)
			return
		}
		err := agent.Elect(electCtx, c.Kube, agent.ElectOptions{
			Namespace: o.LeaderElectionNamespace, Name: o.LeaderElectionID, Identity: o.identity,
			Shards: o.Shards, Preferred: o.preferred, LeaseDuration: o.LeaseDuration,
			RenewDeadline: o.LeaseDuration * 2 / 3, RetryPeriod: o.LeaseDuration / 7,
			OnShard: func(shardCtx context.Context, shard int) {
				log.Info("leading", "shard", shard, "lease", agent.LeaseName(o.LeaderElectionID, shard, o.Shards))
				a.own(shardCtx, shard)
			},
			OnLost: func(shard int) { log.Warn("lost the lease; the shard's apps stop here", "shard", shard) },
			OnLeader: func(shard int, who string) {
				log.Info("leader", "shard", shard, "identity", who)
			},
			Drain: a.drain,
		})
		if err != nil {
			log.Error("leader election", "error", err)
		}
	}()

	<-ctx.Done()
	log.Info("stopping: no new syncs; running ones may finish", "timeout", o.ShutdownTimeout)
	timer := time.AfterFunc(o.ShutdownTimeout, cancelWork)
	defer timer.Stop()
	<-controllerDone // the syncs under way are done or stopped
	cancelWork()
	cancelElect()
	<-done // the Leases are released
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	log.Info("stopped")
	return nil
}

func (o *Options) logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.LogLevel)) // Validate checked it
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(o.ErrOut, opts)
	if o.LogFormat == "json" {
		h = slog.NewJSONHandler(o.ErrOut, opts)
	}
	return slog.New(h)
}

// webhookSecrets reads --webhook-secrets-dir: one file per provider.
func (o *Options) webhookSecrets() (webhook.Secrets, error) {
	s := webhook.Secrets{AllowUnsigned: o.WebhookAllowUnsigned}
	if o.WebhookSecretsDir == "" {
		return s, nil
	}
	for name, dst := range map[string]*string{"github": &s.GitHub, "gitlab": &s.GitLab, "gitea": &s.Gitea, "bitbucketserver": &s.BitbucketServer, "bitbucket-uuid": &s.BitbucketUUID} {
		data, err := os.ReadFile(filepath.Join(o.WebhookSecretsDir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("--webhook-secrets-dir: %w", err)
		}
		*dst = strings.TrimSpace(string(data))
	}
	return s, nil
}
