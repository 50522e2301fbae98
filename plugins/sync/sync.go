// Package sync is the `kubectl gitops sync` command.
package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	gosync "sync"

	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/interrupt"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
)

// Options are the inputs of sync.
type Options struct {
	App appflags.Flags
	// AppFile is -f: Argo CD Applications instead of the source flags.
	AppFile appflags.AppFile
	// ExpandApps syncs rendered Applications as child apps even when the
	// cluster serves Argo CD's Applications.
	ExpandApps bool
	// Automated makes the syncs automated ones (the agent's): sync windows
	// judge them as such, not as manual syncs.
	Automated bool
	Sync      gsync.Options
	Retry     gsync.RetryOptions
	// Replace adds the sync option Replace=true for every object.
	Replace bool
	// Select, when set, rewrites the objects of the app SyncTarget syncs
	// (not those of its children) before they are compared and applied:
	// the agent's selective sync of an Argo CD operation gives those it
	// does not sync the Skip hook, so that they are kept as they are.
	Select func(objects []*unstructured.Unstructured) []*unstructured.Unstructured
	// Output is "" for progress and a table, or json or yaml.
	Output string

	kubeFlags *genericclioptions.ConfigFlags
	flags     *pflag.FlagSet
	// synced are the apps this run synced (NAME@SERVER → the
	// ApplicationSet that generated it, nil for none), so that a set never
	// removes an Application another app of the run now owns.
	synced gosync.Map
	genericiooptions.IOStreams
}

// NewOptions are sync's defaults, on the clusters of kubeFlags.
func NewOptions(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *Options {
	o := &Options{Sync: gsync.DefaultOptions(), Retry: gsync.DefaultRetryOptions(), kubeFlags: kubeFlags, IOStreams: streams}
	o.Sync.Hints = Hints
	return o
}

// NewCommand returns the sync command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewOptions(kubeFlags, streams)
	cmd := &cobra.Command{
		Use:   "sync [APP] --repo URL|PATH [--revision REV] [--path DIR]",
		Short: "Sync a Git path into the cluster: wave-ordered server-side apply, health gates, prune",
		Long: `Sync renders a path of a Git repository and makes the cluster match it, with
Argo CD's semantics:

  - every object is judged before anything is written: proven unchanged from
    the fields this tool owns in the live object, else dry-run on the server;
    if any is refused, nothing is applied (the failure is recorded);
  - objects are applied with server-side apply (field manager kubectl-gitops)
    by phase, sync wave (argocd.argoproj.io/sync-wave), kind and name, and each
    wave waits until the previous one is healthy; Degraded fails the sync;
  - objects that left Git are pruned in reverse order, only after every wave
    succeeded, and only if this app's ApplySet owns them;
  - the sync is recorded in the inventory ConfigMap gitops-APP (an ApplySet
    parent) in --inventory-namespace, with its history.

Hooks (argocd.argoproj.io/hook: PreSync, Sync, PostSync, SyncFail; Helm's
helm.sh/hook pre-/post-install and -upgrade as Argo CD maps them) are created,
not applied, by every sync: PreSync hooks must succeed before the Sync phase,
PostSync hooks run once everything is Healthy, SyncFail hooks when the sync
fails (it still fails). metadata.generateName is honoured. Delete policies
(argocd.argoproj.io/hook-delete-policy): HookSucceeded, HookFailed,
BeforeHookCreation (the default). Hooks are not members: never pruned, never
out of sync. See docs/sync.md, Hooks.

-f FILE|DIR|- syncs Argo CD Applications as written, each into the kubeconfig
context its destination names (https://kubernetes.default.svc: the current
one): source, destination namespace, syncPolicy (automated prune and
allowEmpty, syncOptions, retry), ignoreDifferences and revisionHistoryLimit
are read; --repo-map FROM=TO rewrites repository URLs; a project other than
default is enforced from --project-file before any write. Fields not
implemented are errors that name them. See docs/applications.md.

Per-object options come from the argocd.argoproj.io/sync-options annotation;
--sync-option sets them for the whole app: Prune=false, PruneLast=true,
CreateNamespace=true, PrunePropagationPolicy=foreground|background|orphan,
Replace=true (replace instead of apply), Force=true (delete and recreate),
Validate=false, SkipDryRunOnMissingResource=true, ServerSideApply=true,
RespectIgnoreDifferences=true (apply the live values of ignored fields).

--ignore-differences FILE reads Argo CD ignoreDifferences rules (a list of
rules, or an Application and its spec.ignoreDifferences): fields named by
jsonPointers, jqPathExpressions or owned by managedFieldsManagers never make
an object changed. Only changed objects are applied, so an object whose only
difference is ignored is left alone; one that changed elsewhere is applied
whole, Git's values of the ignored fields included, unless
RespectIgnoreDifferences=true keeps the live ones (an HPA's replicas, say).

Fields last changed by hand with kubectl (edit, scale, patch, client-side
apply) are taken back; fields owned by any other manager are a conflict,
reported by name, unless --force-conflicts.

SOPS-encrypted files (age) are decrypted as kustomize reads them, with keys
from --age-key-file, --age-key-secret NAMESPACE/NAME, $SOPS_AGE_KEY,
$SOPS_AGE_KEY_FILE or sops' keys.txt; anything still encrypted after the build
fails the sync before any write. Secret values are never printed.

APP defaults to the path without apps/, overlays/ and similar folders:
apps/order-service/overlays/production syncs as order-service-production.

Exit codes: 0 synced and healthy, 1 the sync failed, 2 the command line was wrong.`,
		Example: `  # Sync an overlay of a local config repository.
  kubectl gitops sync --repo . --path apps/web/overlays/prod

  # A tag of a remote repository, token from a file, showing the plan only.
  kubectl gitops sync web-prod --repo https://git.example/config.git --revision v1.4.0 \
    --path apps/web/overlays/prod --git-token-file ~/.config/git-token --dry-run

  # An Argo CD Application as written, its repository mapped to a local clone.
  kubectl gitops sync -f order-service-production.yaml \
    --repo-map https://github.com/acme/config.git=$HOME/src/config --project-file production.yaml

  # Machine-readable result for CI.
  kubectl gitops sync --repo . --path apps/web/overlays/prod -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return exitcode.UsageError(err)
			}
			if err := o.Validate(); err != nil {
				return exitcode.UsageError(err)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	o.App.AddFlags(f, true)
	o.AppFile.AddFlags(f)
	f.BoolVar(&o.ExpandApps, "expand-apps", false, "With -f: sync the Applications an app renders (app of apps) as child apps even when the cluster serves Argo CD's Applications (by default they are then applied for Argo CD to run)")
	o.flags = f
	f.BoolVar(&o.Sync.DryRun, "dry-run", false, "Print the plan and each object's verdict (proven locally or dry-run on the server); write nothing")
	f.BoolVar(&o.Sync.Prune, "prune", true, "Delete members that left Git (false: report them as orphaned)")
	f.BoolVar(&o.Sync.AllowEmpty, "allow-empty", false, "Allow an empty render to prune every member")
	f.BoolVar(&o.Sync.ForceConflicts, "force-conflicts", false, "Take fields owned by other field managers")
	f.BoolVar(&o.Replace, "replace", false, "Replace objects instead of applying them, when they changed (as Replace=true)")
	f.BoolVar(&o.Sync.Wait, "wait", true, "Wait for each wave to be healthy before the next (false: apply all waves at once)")
	f.DurationVar(&o.Sync.Timeout, "timeout", o.Sync.Timeout, "Bound on the whole sync")
	f.IntVar(&o.Sync.Concurrency, "concurrency", o.Sync.Concurrency, "Parallel API requests within a wave")
	f.IntVar(&o.Sync.HistoryLimit, "history-limit", o.Sync.HistoryLimit, "Sync records kept in the inventory")
	f.BoolVar(&o.Sync.WaitForLock, "wait-for-lock", false, "Wait while another sync of this app holds the lock, instead of failing")
	f.IntVar(&o.Retry.Limit, "retry-limit", 0, "Retries after a transient API error (409, 429, 5xx, timeouts)")
	f.DurationVar(&o.Retry.Backoff, "retry-backoff", o.Retry.Backoff, "Wait before the first retry")
	f.Float64Var(&o.Retry.Factor, "retry-factor", o.Retry.Factor, "Growth of the wait between retries")
	f.DurationVar(&o.Retry.MaxBackoff, "retry-max-backoff", o.Retry.MaxBackoff, "Longest wait between retries")
	f.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: progress lines and a table)")
	return cmd
}

// Complete fills the app name and derived options.
func (o *Options) Complete(args []string) error {
	if o.AppFile.File != "" {
		if len(args) > 0 {
			o.App.App = args[0]
		}
		return nil
	}
	o.App.Complete(args, o.kubeFlags)
	if o.Replace {
		o.App.SyncOptions = append(o.App.SyncOptions, "Replace=true")
	}
	o.App.Options(&o.Sync)
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if o.AppFile.File != "" {
		for _, name := range []string{"repo", "path", "revision", "ignore-differences", "dest-namespace", "replace", "server", "cluster", "token", "user"} {
			if o.flags != nil && o.flags.Changed(name) {
				return fmt.Errorf("-f reads the source and destination from the Applications; --%s cannot go with it", name)
			}
		}
		if o.App.App != "" {
			return fmt.Errorf("-f names the apps (metadata.name); give no APP")
		}
	} else if err := o.App.Validate(true); err != nil {
		return err
	}
	if err := output.Check(o.Output, ""); err != nil {
		return err
	}
	if o.Sync.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1")
	}
	if o.Sync.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	if o.Retry.Limit < 0 || o.Retry.Factor < 1 {
		return fmt.Errorf("--retry-limit must be 0 or more and --retry-factor at least 1")
	}
	return nil
}

// Run syncs and prints.
func (o *Options) Run(ctx context.Context) error {
	if o.AppFile.File != "" {
		return o.runApplications(ctx)
	}
	progress := o.Out
	if o.Output != "" {
		progress = o.ErrOut // stdout carries only the document
	}
	c, err := appflags.Connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	r, err := o.App.Source.Render(ctx, nil, c.Kube, o.ErrOut)
	if err != nil {
		return err
	}
	if err := r.RefuseEncrypted(); err != nil {
		return source.Hint(err)
	}
	fmt.Fprintf(progress, "app %s: %s@%s (%s) path %s, %d objects\n", o.App.App, r.Source.Repo, output.ShortSHA(r.Source.Commit), r.Source.Message, r.Source.Path, len(r.Objects))
	o.Sync.OnEvent = newProgress(progress).event
	o.Retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		fmt.Fprintf(progress, "retry %d in %s after: %v\n", attempt, wait, err)
	}
	ctx, stop := interrupt.Graceful(ctx, o.ErrOut, Interrupted)
	defer stop()
	res, syncErr := gsync.New(c, o.Sync).RunWithRetry(ctx, o.App.InputWithCommit(r), o.Retry)
	syncErr = lockHint(syncErr, o.Sync.WaitForLock)
	if res == nil {
		return syncErr
	}
	if err := PrintResult(o.Out, o.Output, res); err != nil {
		return err
	}
	return syncErr
}

// lockHint names the flag that waits, when another sync holds the lock and
// the command did not wait.
func lockHint(err error, waited bool) error {
	var held *lock.HeldError
	if !waited && errors.As(err, &held) {
		return fmt.Errorf("%w, or pass --wait-for-lock", err)
	}
	return err
}

func printEvent(w io.Writer, e gsync.Event) {
	switch e.Type {
	case gsync.EventWaveStarted:
		fmt.Fprintf(w, "%s wave %d: applying\n", e.Phase, e.Wave)
	case gsync.EventWaveHealthy:
		fmt.Fprintf(w, "%s wave %d: healthy\n", e.Phase, e.Wave)
	case gsync.EventPruneStarted:
		fmt.Fprintln(w, "pruning")
	case gsync.EventObjectApplied, gsync.EventObjectPruned:
		fmt.Fprintf(w, "  %s%s %s%s\n", e.Object.Ref(), hookMark(e.Object), e.Object.Action, suffix(e.Object.Message))
	case gsync.EventObjectHealth:
		fmt.Fprintf(w, "  %s %s%s\n", e.Object.Ref(), e.Object.Health, suffix(e.Object.Message))
	case gsync.EventHookStatus:
		fmt.Fprintf(w, "  %s (hook) %s%s\n", e.Object.Ref(), e.Object.Hook.Status, suffix(e.Object.Message))
	case gsync.EventHookDeleted:
		fmt.Fprintf(w, "  %s (hook) deleted (delete policy %s)\n", e.Object.Ref(), deletedBy(e.Object))
	}
}

func hookMark(o *gsync.ObjectResult) string {
	if o.Hook == nil {
		return ""
	}
	return " (hook)"
}

// deletedBy names the policy that deleted a hook.
func deletedBy(o *gsync.ObjectResult) string {
	if o.Hook.Status == gsync.HookFailed {
		return "HookFailed"
	}
	return "HookSucceeded"
}

// state is what the table and the live display say of an object: its
// health, or for a hook how its run went.
func state(o *gsync.ObjectResult) string {
	if o.Hook != nil {
		st := string(o.Hook.Status)
		if st == "" {
			return "-"
		}
		if o.Hook.Deleted {
			st += ", deleted"
		}
		return st
	}
	if o.Health == "" {
		return "-"
	}
	return string(o.Health)
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

func printSummary(w io.Writer, res *gsync.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nOBJECT\tPHASE\tWAVE\tACTION\tHEALTH\tMESSAGE")
	hooks := map[string]int{}
	for _, obj := range res.Objects {
		phase := string(obj.Phase)
		if phase == "" {
			phase = "-"
		}
		ref := obj.Ref()
		if obj.Hook != nil {
			ref += " (hook)"
			if obj.Hook.Status != "" {
				hooks[string(obj.Hook.Status)]++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", ref, phase, obj.Wave, obj.Action, state(&obj), oneLine(obj.Message))
	}
	tw.Flush()
	var counts []string
	for _, a := range []gsync.Action{gsync.Created, gsync.Configured, gsync.Replaced, gsync.Unchanged, gsync.Pruned, gsync.Orphaned, gsync.Skipped, gsync.Failed, gsync.Pending} {
		if n := res.Counts[a]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, a))
		}
	}
	verb := "synced"
	if res.DryRun {
		verb = "dry run of"
	}
	if res.Phase == gsync.PhaseFailed {
		verb = "FAILED to sync"
	}
	var hookCounts []string
	for _, st := range []gsync.HookStatus{gsync.HookSucceeded, gsync.HookFailed, gsync.HookRunning} {
		if n := hooks[string(st)]; n > 0 {
			hookCounts = append(hookCounts, fmt.Sprintf("%d %s", n, strings.ToLower(string(st))))
		}
	}
	if len(hookCounts) > 0 {
		counts = append(counts, "hooks: "+strings.Join(hookCounts, ", "))
	}
	fmt.Fprintf(w, "\n%s %s at %s in %s: %s\n", verb, res.App, output.ShortSHA(res.Commit), res.FinishedAt.Sub(res.StartedAt).Round(time.Millisecond), strings.Join(counts, ", "))
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}

// Interrupted is what sync and rollback say on the first signal.
const Interrupted = "stopping the sync where it is: removing hook finalizers and recording it (signal again to quit at once)"

// Hints are the engine's hints in this command's flags.
var Hints = gsync.Hints{
	ForceConflicts: "pass --force-conflicts to take them",
	AllowEmpty:     "pass --allow-empty if that is what you want",
	Timeout:        "--timeout",
	Replace:        "or pass --sync-option Replace=true,Force=true",
	DestNamespace:  "or pass --dest-namespace",
	AgeKey:         "give the age key with --age-key-file, --age-key-secret NAMESPACE/NAME, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY",
	Adopt:          "kubectl gitops adopt with the same flags shows the plan (docs/adopt.md)",
}

// PrintResult prints a sync's result as sync does: a JSON or YAML
// document for output "json" or "yaml", else the object table and the
// summary line.
func PrintResult(w io.Writer, format string, res *gsync.Result) error {
	if printed, err := output.Print(w, format, res); printed {
		return err
	}
	if len(res.Objects) > 0 {
		printSummary(w, res)
	}
	return nil
}

// LockHint names --wait-for-lock when another sync holds the app's lock
// and the command did not wait.
func LockHint(err error, waited bool) error { return lockHint(err, waited) }
