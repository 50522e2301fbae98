// Package rollback is the `kubectl gitops rollback` command.
package rollback

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/interrupt"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// Options are the inputs of rollback.
type Options struct {
	App appflags.Flags
	// AppFile is -f: an Argo CD Application names the app, its source and
	// its cluster.
	AppFile appflags.AppFile
	Sync    gsync.Options
	// ID is the history entry to go back to; 0 chooses DefaultTarget.
	ID int
	// Force rolls back an app marked for automated sync.
	Force  bool
	Output string

	flags     *pflag.FlagSet
	kubeFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCommand returns the rollback command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Sync: gsync.DefaultOptions(), kubeFlags: kubeFlags, IOStreams: streams}
	o.Sync.Hints = psync.Hints
	cmd := &cobra.Command{
		Use:   "rollback APP [ID] | rollback -f app.yaml [APP] [ID]",
		Short: "Sync an app back to the commit of an earlier sync in its history",
		Long: `Rollback syncs APP to the commit of history entry ID (see 'kubectl gitops
history APP'), through the same engine as sync: every object judged first,
then wave-ordered server-side apply with health gates, and prune of what did
not exist at that commit. The sync is recorded as a rollback to ID.

Without ID, the target is the newest successful sync before the current one
whose commit differs from the current commit.

The source comes from the record: the repository (a local repository's
recorded path, or its origin URL when that path is not on this machine), the
path, the destination namespace, the sync options and prune. --repo and the
other source flags override it; the commit is always the record's.

With -f, an Argo CD Application (file, directory or -) names the app, its
repository (through --repo-map) and its destination cluster; APP picks one
when the file holds several. The target commit is rendered as its sync
rendered it (the Application's directory and kustomize settings recorded
then).

An app marked for automated sync (annotation
gitops.kubectl-gitops.dev/automated=true on its inventory ConfigMap) is not
rolled back without --force: its next automated sync would undo the rollback.
Argo CD refuses in the same case.

Exit codes: 0 rolled back and healthy, 1 the rollback failed, 2 the command
line was wrong.`,
		Example: `  # Back to the sync before the current one.
  kubectl gitops rollback web-prod

  # Back to history entry 3, showing the plan only.
  kubectl gitops rollback web-prod 3 --dry-run

  # An app marked for automated sync, knowing the agent will sync it again.
  kubectl gitops rollback web-prod 3 --force

  # The Application of a file, in its destination cluster.
  kubectl gitops rollback -f apps/web-prod.yaml 3 --force \
    --repo-map https://github.com/acme/config.git=$HOME/src/config`,
		Args: cobra.RangeArgs(0, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.flags = cmd.Flags()
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
	f.StringVarP(&o.AppFile.File, "filename", "f", "", "An Argo CD Application manifest (file, directory or -): roll back that app, in its destination cluster")
	f.StringArrayVar(&o.AppFile.RepoMap, "repo-map", nil, "Rewrite the Application's repository URL: FROM=TO replaces the prefix FROM (repeatable)")
	o.AppFile.AddProjectFlags(f)
	o.AppFile.AddClusterFlags(f)
	f.BoolVar(&o.Force, "force", false, "Roll back an app marked for automated sync (its next automated sync undoes the rollback)")
	f.BoolVar(&o.Sync.DryRun, "dry-run", false, "Print the plan and each object's verdict; write nothing")
	f.BoolVar(&o.Sync.Prune, "prune", true, "Delete members that did not exist at the target commit (default: the record's setting)")
	f.BoolVar(&o.Sync.ForceConflicts, "force-conflicts", false, "Take fields owned by other field managers")
	f.DurationVar(&o.Sync.Timeout, "timeout", o.Sync.Timeout, "Bound on the whole rollback")
	f.BoolVar(&o.Sync.WaitForLock, "wait-for-lock", false, "Wait while another sync of this app holds the lock, instead of failing")
	f.IntVar(&o.Sync.HistoryLimit, "history-limit", o.Sync.HistoryLimit, "Sync records kept in the inventory")
	f.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: progress lines and a table)")
	return cmd
}

// Complete reads APP and ID, or with -f the Application (and [APP] [ID]).
func (o *Options) Complete(args []string) error {
	if o.AppFile.File != "" {
		if len(args) > 2 {
			return fmt.Errorf("with -f, give at most APP and ID")
		}
		name := ""
		if len(args) == 2 || len(args) == 1 && !isNumber(args[0]) {
			name, args = args[0], args[1:]
		}
		if len(args) == 1 {
			if err := o.readID(args[0], name); err != nil {
				return err
			}
		}
		return o.App.UseApplication(&o.AppFile, o.flags, o.kubeFlags, name)
	}
	if len(args) == 0 || len(args) > 2 {
		return fmt.Errorf("give APP and optionally ID, or -f with an Application")
	}
	o.App.Complete(args[:1], o.kubeFlags)
	if len(args) > 1 {
		return o.readID(args[1], args[0])
	}
	return nil
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func (o *Options) readID(arg, app string) error {
	id, err := strconv.Atoi(arg)
	if err != nil || id < 1 {
		return fmt.Errorf("history ID %q is not a positive number; see 'kubectl gitops history %s'", arg, app)
	}
	o.ID = id
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := output.Check(o.Output, ""); err != nil {
		return err
	}
	if fl := o.flags.Lookup("revision"); fl != nil && fl.Changed && o.App.Target() == nil {
		return fmt.Errorf("--revision cannot be given: a rollback syncs the commit of a history entry; to sync a revision, use 'kubectl gitops sync --revision'")
	}
	if o.Sync.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	return o.App.Validate(false)
}

// Run rolls back and prints.
func (o *Options) Run(ctx context.Context) error {
	progress := o.Out
	if o.Output != "" {
		progress = o.ErrOut
	}
	c, err := o.App.Connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	inv := inventory.Inventory{App: o.App.App, Namespace: o.App.InventoryNamespace}
	st, err := inventory.Load(ctx, c, inv)
	if err != nil {
		return err
	}
	if !st.Exists {
		return fmt.Errorf("app %s not found: no inventory ConfigMap/%s/%s; see 'kubectl gitops status -A' for the apps in the cluster, or pass --inventory-namespace", inv.App, inv.Namespace, inv.ParentName())
	}
	if st.Automated && !o.Force {
		if !o.Sync.DryRun {
			return fmt.Errorf("app %s is marked for automated sync (%s=true on ConfigMap/%s/%s): its next automated sync would undo the rollback; remove the mark first, or pass --force", inv.App, inventory.AnnotationAutomated, inv.Namespace, inv.ParentName())
		}
		fmt.Fprintf(o.ErrOut, "warning: app %s is marked for automated sync; a rollback would need --force and be undone by its next automated sync\n", inv.App)
	}
	target, err := o.target(st.History)
	if err != nil {
		return err
	}
	if note := o.App.FromRecord(o.flags, target, &o.Sync.Prune); note != "" {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", note)
	}
	o.App.RenderAsRecorded(target)
	o.App.Source.Revision = target.Commit
	if err := o.App.Source.Validate(); err != nil {
		return err
	}
	// An Application's project governs its rollback as its syncs: the
	// source, the sync windows (a rollback is a manual sync), then the
	// objects, before any write.
	var project *appflags.Project
	t := o.App.Target()
	if t != nil {
		if project, err = o.App.Project(ctx); err != nil {
			return err
		}
		if err := t.CheckSource(project); err != nil {
			return err
		}
		note, err := t.CheckWindows(project, true, time.Now())
		if err != nil {
			return err
		}
		if note != "" {
			fmt.Fprintf(o.ErrOut, "%s: %s\n", o.App.App, note)
		}
	}
	o.App.Options(&o.Sync)
	r, err := o.App.Source.Render(ctx, nil, c.Kube, o.ErrOut)
	if err != nil {
		return err
	}
	if err := r.RefuseEncrypted(); err != nil {
		return source.Hint(err)
	}
	if t != nil {
		if r.Objects, _, err = psync.SplitRender(c, r.Objects, false); err != nil {
			return err
		}
		if err := t.EnforceProject(project, r.Objects, c); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "app %s: rolling back to history ID %d: %s@%s (%s) path %s, %d objects\n", o.App.App, target.ID, r.Source.Repo, output.ShortSHA(r.Source.Commit), r.Source.Message, r.Source.Path, len(r.Objects))
	in := o.App.InputWithCommit(r)
	// Recorded as the revision the target synced, at its commit.
	in.Revision = target.Revision
	in.Rollback, in.RollbackOf = true, target.ID
	// A rollback syncs the app alone, not an app of apps' children: their
	// list (those being pruned too) stays as the last sync left it.
	if last, ok := inventory.LastWithCommit(st.History); ok {
		in.Children = last.Children
	}
	o.Sync.OnEvent = psync.Progress(progress)
	ctx, stop := interrupt.Graceful(ctx, o.ErrOut, psync.Interrupted)
	defer stop()
	res, syncErr := gsync.New(c, o.Sync).Run(ctx, in)
	syncErr = psync.LockHint(syncErr, o.Sync.WaitForLock)
	if res == nil {
		return syncErr
	}
	if err := psync.PrintResult(o.Out, o.Output, res); err != nil {
		return err
	}
	return syncErr
}

func (o *Options) target(history []inventory.Record) (inventory.Record, error) {
	if o.ID > 0 {
		return Find(o.App.App, history, o.ID)
	}
	return DefaultTarget(o.App.App, history)
}
