// Package status is the `kubectl gitops status` command.
package status

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	gosync "sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	gstatus "github.com/kubectl-gitops/kubectl-gitops/pkg/status"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// Options are the inputs of status.
type Options struct {
	App appflags.Flags
	// AppFile is -f: an Argo CD Application.
	AppFile appflags.AppFile
	// AllNamespaces lists the apps of every namespace (no APP).
	AllNamespaces bool
	Output        string
	Watch         bool
	Interval      time.Duration
	ExitCode      bool
	Timeout       time.Duration
	// Concurrency bounds the apps compared at once (no APP).
	Concurrency int

	flags     *pflag.FlagSet
	kubeFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCommand returns the status command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newCommand(&Options{Interval: 5 * time.Second, Timeout: 2 * time.Minute, Concurrency: 4, kubeFlags: kubeFlags, IOStreams: streams})
}

func newCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [APP]",
		Short: "Show whether apps match Git (Synced, OutOfSync) and how healthy they are",
		Long: `Status compares an app with its source, as a sync would, and writes nothing.

The source is the app's last recorded sync (repository, path, revision,
destination namespace, sync options, prune), read from the cluster: a local
repository's recorded path, or its origin URL when that path is not on this
machine. The revision is resolved again, so a branch that moved since is
compared at its new commit and reported ("revision main moved"). --repo,
--path, --revision and the other source flags override the record.

An in-sync app costs one LIST per kind and namespace and no dry-run: objects
are proven unchanged from the fields this tool owns; only what cannot be
proven is dry-run on the server.

Sync is Synced when a sync would change nothing, else OutOfSync (each object
says what a sync would do: create, configure, prune, ...), or Unknown when
the comparison failed. Health is the worst object's, in Argo CD's order:
Healthy, Suspended, Progressing, Missing, Degraded, Unknown; an object that
does not exist is Missing, and makes the app Missing only when none of its
objects exists; objects that left Git do not count.

Without APP, status lists every app in --inventory-namespace (all namespaces
with -A), one line each; an app whose source cannot be compared shows
Unknown with the reason, and the others are still shown.

Exit codes: 0 the status was shown, 1 it could not be, 2 the command line was
wrong; with --exit-code, 3 when an app is not both Synced and Healthy.`,
		Example: `  # Status of one app, compared with the source of its last sync.
  kubectl gitops status web-prod

  # Every app in every namespace.
  kubectl gitops status -A

  # Gate a pipeline on a synced, healthy app.
  kubectl gitops status web-prod --exit-code

  # Follow an app, printing a line whenever it changes.
  kubectl gitops status web-prod --watch --interval 10s`,
		Args: cobra.MaximumNArgs(1),
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
	f.StringVarP(&o.AppFile.File, "filename", "f", "", "An Argo CD Application manifest (file, directory or -): the status of that app, compared with its source, in its destination cluster")
	f.StringArrayVar(&o.AppFile.RepoMap, "repo-map", nil, "Rewrite the Application's repository URL: FROM=TO replaces the prefix FROM (repeatable)")
	o.AppFile.AddProjectFlags(f)
	o.AppFile.AddClusterFlags(f)
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "List the apps of every namespace, not only --inventory-namespace (no APP)")
	f.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: a table)")
	f.BoolVarP(&o.Watch, "watch", "w", false, "Compare again every --interval and print a line whenever something changes, until interrupted")
	f.DurationVar(&o.Interval, "interval", o.Interval, "Time between comparisons with --watch")
	f.BoolVar(&o.ExitCode, "exit-code", false, "Exit with 3 unless every app shown is Synced and Healthy")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "Bound on each comparison")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "Apps compared at once (no APP)")
	return cmd
}

// Complete reads the app name.
func (o *Options) Complete(args []string) error {
	if o.AppFile.File != "" {
		name := ""
		if len(args) > 0 {
			name = args[0]
		}
		return o.App.UseApplication(&o.AppFile, o.flags, o.kubeFlags, name)
	}
	if len(args) > 0 {
		// The app name, and -n as the destination namespace when given.
		o.App.Complete(args, o.kubeFlags)
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := output.Check(o.Output, ""); err != nil {
		return err
	}
	if o.Watch && o.Output != "" {
		return fmt.Errorf("--watch prints lines; it cannot be combined with --output")
	}
	if o.Watch && o.ExitCode {
		return fmt.Errorf("--watch runs until interrupted; it cannot be combined with --exit-code (run status --exit-code without --watch)")
	}
	if o.Interval <= 0 || o.Timeout <= 0 || o.Concurrency < 1 {
		return fmt.Errorf("--interval and --timeout must be positive and --concurrency at least 1")
	}
	if o.App.App == "" {
		for _, name := range []string{"repo", "path", "revision", "dest-namespace", "sync-option", "ignore-differences"} {
			if o.changed(name) {
				return fmt.Errorf("--%s needs an APP: without one, each app is compared with its own recorded source", name)
			}
		}
	} else if o.AllNamespaces {
		return fmt.Errorf("--all-namespaces lists apps; it cannot be combined with APP (use --inventory-namespace)")
	}
	return o.App.Validate(false)
}

func (o *Options) changed(name string) bool {
	if o.flags == nil {
		return false
	}
	fl := o.flags.Lookup(name)
	return fl != nil && fl.Changed
}

// Run shows the status.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.App.Connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	if o.Watch {
		return o.watch(ctx, c)
	}
	apps, err := o.compare(ctx, c)
	if err != nil {
		return err
	}
	if err := o.print(apps); err != nil {
		return err
	}
	return o.exitCode(apps)
}

// compare computes the status of APP, or of every app listed.
func (o *Options) compare(ctx context.Context, c *cluster.Client) ([]*gstatus.App, error) {
	if o.App.App != "" {
		inv := inventory.Inventory{App: o.App.App, Namespace: o.App.InventoryNamespace}
		var pre cluster.RequestCounter
		st, err := inventory.Load(cluster.WithRequestCounter(ctx, &pre), c, inv)
		if err != nil {
			return nil, err
		}
		if !st.Exists && !o.changed("repo") {
			return nil, fmt.Errorf("app %s not found: no inventory ConfigMap/%s/%s; see 'kubectl gitops status -A' for the apps in the cluster, or pass --inventory-namespace", inv.App, inv.Namespace, inv.ParentName())
		}
		f := o.App
		a, err := o.compareApp(ctx, c, &f, o.flags, st)
		if err != nil {
			return nil, err
		}
		reads, _, _ := pre.Counts() // the record's read, beside Compare's
		a.Requests.Reads += reads
		return []*gstatus.App{a}, nil
	}
	ns := o.App.InventoryNamespace
	if o.AllNamespaces {
		ns = ""
	}
	found, err := inventory.List(ctx, c, ns)
	if err != nil {
		return nil, err
	}
	apps := make([]*gstatus.App, len(found))
	sem := make(chan struct{}, o.Concurrency)
	var wg gosync.WaitGroup
	for i, fa := range found {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			f := o.App
			f.App, f.InventoryNamespace = fa.App, fa.Namespace
			var a *gstatus.App
			if fa.Err != nil {
				a = gstatus.Of(fa.App, nil, nil, fa.Err)
			} else {
				// Nothing given on the command line applies to all apps: an
				// empty flag set leaves every field to the record.
				var cerr error
				a, cerr = o.compareApp(ctx, c, &f, pflag.NewFlagSet("", pflag.ContinueOnError), fa.State)
				if cerr != nil {
					a = gstatus.Of(fa.App, fa.State, nil, cerr)
				}
			}
			a.InventoryNamespace = fa.Namespace
			apps[i] = a
		}()
	}
	wg.Wait()
	return apps, nil
}

// compareApp renders the app's source (the record's, for what fs did not
// give) and compares it. A source that cannot be rendered or compared is
// an error.
func (o *Options) compareApp(ctx context.Context, c *cluster.Client, f *appflags.Flags, fs *pflag.FlagSet, st *inventory.State) (*gstatus.App, error) {
	prune := true
	if rec, ok := inventory.LastWithCommit(st.History); ok {
		if note := f.FromRecord(fs, rec, &prune); note != "" && fs == o.flags {
			fmt.Fprintf(o.ErrOut, "warning: %s\n", note)
		}
	} else if f.Source.Repo == "" {
		return nil, fmt.Errorf("app %s has no recorded sync with a commit to compare with; pass --repo, --path and --revision", f.App)
	}
	if err := f.Source.Validate(); err != nil {
		return nil, err
	}
	opts := gsync.DefaultOptions()
	f.Options(&opts)
	opts.Prune, opts.DryRun, opts.Timeout, opts.Hints = prune, true, o.Timeout, psync.Hints
	var warnings io.Writer
	if fs == o.flags {
		warnings = o.ErrOut
	}
	r, err := f.Source.Render(ctx, nil, c.Kube, warnings)
	if err != nil {
		return nil, err
	}
	if err := r.RefuseEncrypted(); err != nil {
		return nil, source.Hint(err)
	}
	if f.Target() != nil {
		// As the sync of the Application splits its render: child
		// Applications (and AppProjects) the cluster does not serve are
		// apps of their own, not objects of this one.
		if r.Objects, _, err = psync.SplitRender(c, r.Objects, false); err != nil {
			return nil, err
		}
	}
	in := f.InputWithCommit(r)
	in.State = st // read just now (or listed): Compare need not read it again
	cs, err := gsync.New(c, opts).Compare(ctx, in)
	if cs == nil {
		return nil, err
	}
	a := gstatus.Of(f.App, st, cs, err)
	a.InventoryNamespace = f.InventoryNamespace
	o.project(ctx, c, f, a, warnings)
	return a, nil
}

// project adds what an Application's AppProject says: the sync windows'
// verdict on a sync now (as Argo CD shows it), and, with
// orphanedResources, the objects of its destination namespace that no app
// manages. A project that cannot be read leaves them out, with a warning.
func (o *Options) project(ctx context.Context, c *cluster.Client, f *appflags.Flags, a *gstatus.App, warnings io.Writer) {
	t := f.Target()
	if t == nil {
		return
	}
	warn := func(err error) {
		if warnings != nil {
			fmt.Fprintf(warnings, "warning: orphaned resources not looked for: %v\n", err)
		}
	}
	p, err := f.Project(ctx)
	if err != nil {
		warn(err)
		return
	}
	if p != nil && p.Windows != nil {
		d := t.Application.Destination
		v := p.Windows.Check(argocd.WindowApp{Name: t.Application.Name, Namespace: d.Namespace, Cluster: d.Name, Server: d.Server}, true, time.Now())
		w := &gstatus.SyncWindow{State: "Sync Allowed", Reason: v.Reason, Windows: v.Matching}
		switch {
		case v.Manual:
			w.State = "Manual Allowed"
		case !v.Allowed:
			w.State = "Sync Denied"
			if !v.Opens.IsZero() {
				opens := v.Opens
				w.Opens = &opens
			}
		}
		a.SyncWindow = w
	}
	ns := t.Application.Destination.Namespace
	if p == nil || p.Orphaned == nil || ns == "" {
		return
	}
	opts := gsync.DefaultOptions()
	orphans, err := gsync.New(c, opts).FindOrphans(ctx, ns, p.OrphanIgnored)
	if err != nil {
		warn(err)
		if orphans == nil {
			return
		}
	}
	a.Orphaned = &gstatus.Orphaned{Project: p.Metadata.Name, Namespace: ns, Warn: p.Orphaned.Warn, Objects: orphans}
	if a.Orphaned.Objects == nil {
		a.Orphaned.Objects = []gsync.ObjectID{}
	}
}

// exitCode is 3 with --exit-code unless every app is Synced and Healthy.
func (o *Options) exitCode(apps []*gstatus.App) error {
	if !o.ExitCode {
		return nil
	}
	var bad []string
	for _, a := range apps {
		if a.Sync != gstatus.Synced || a.Health != health.Healthy {
			bad = append(bad, fmt.Sprintf("%s is %s and %s", a.App, a.Sync, a.Health))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return exitcode.WithCode(exitcode.NotSyncedHealthy, fmt.Errorf("%s", strings.Join(bad, "; ")))
}

func (o *Options) print(apps []*gstatus.App) error {
	var doc any = apps
	if o.App.App != "" {
		doc = apps[0]
	}
	if printed, err := output.Print(o.Out, o.Output, doc); printed {
		return err
	}
	if o.App.App != "" {
		PrintApp(o.Out, apps[0], time.Now())
		return nil
	}
	if len(apps) == 0 {
		where := "namespace " + o.App.InventoryNamespace
		if o.AllNamespaces {
			where = "any namespace"
		}
		fmt.Fprintf(o.ErrOut, "No apps found in %s.\n", where)
		return nil
	}
	PrintList(o.Out, apps, o.AllNamespaces, time.Now())
	return nil
}

// watch compares every interval and prints a line whenever the app's
// state, or an object's, changes, until interrupted.
func (o *Options) watch(ctx context.Context, c *cluster.Client) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	last := map[string]string{}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		apps, err := o.compare(ctx, c)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			apps = []*gstatus.App{gstatus.Of(o.App.App, nil, nil, err)}
		}
		now := time.Now().Format("15:04:05")
		for _, a := range apps {
			key := a.InventoryNamespace + "/" + a.App
			if line := a.Line(); last[key] != line {
				fmt.Fprintf(o.Out, "%s %s\n", now, line)
				last[key] = line
			}
			for _, obj := range a.Objects {
				okey := key + " " + obj.Ref()
				line := fmt.Sprintf("%s %s%s", syncText(obj), obj.Health, suffix(obj.Message))
				if prev, seen := last[okey]; (seen || obj.Sync != gstatus.Synced || obj.Health != health.Healthy) && prev != line {
					fmt.Fprintf(o.Out, "%s   %s %s\n", now, obj.Ref(), line)
				}
				last[okey] = line
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// PrintApp prints one app's status and its objects.
func PrintApp(w io.Writer, a *gstatus.App, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "App:\t%s (inventory %s)\n", a.App, a.InventoryNamespace)
	if s := a.Source; s.Repo != "" {
		fmt.Fprintf(tw, "Source:\t%s path %s revision %s\n", s.Repo, s.Path, s.Revision)
		fmt.Fprintf(tw, "Commit:\t%s%s\n", gstatus.Short(s.Commit), commitText(s.Subject, s.Author))
	}
	sync := string(a.Sync)
	if c := a.CountsText(); c != "" {
		sync += " (" + c + ")"
	}
	fmt.Fprintf(tw, "Sync:\t%s\n", sync)
	if a.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", a.Reason)
	}
	if a.Moved != nil {
		fmt.Fprintf(tw, "Revision:\t%s\n", a.Moved)
	}
	fmt.Fprintf(tw, "Health:\t%s\n", a.Health)
	if r := a.LastSync; r != nil {
		fmt.Fprintf(tw, "Last sync:\t#%d %s %s %s ago%s\n", r.ID, gstatus.Short(r.Commit), r.Phase, duration.HumanDuration(now.Sub(r.FinishedAt)), rollbackText(*r))
	}
	if a.Automated {
		fmt.Fprintf(tw, "Automated:\tyes (marked for automated sync)\n")
	}
	if sw := a.SyncWindow; sw != nil {
		line := sw.State
		if sw.Opens != nil {
			line += ", opens " + sw.Opens.Format(time.RFC3339)
		}
		if len(sw.Windows) > 0 {
			line += " (" + strings.Join(sw.Windows, ", ") + ")"
		}
		fmt.Fprintf(tw, "Sync window:\t%s\n", line)
	}
	tw.Flush()
	if len(a.Objects) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nKIND\tNAMESPACE/NAME\tWAVE\tSYNC\tHEALTH\tMESSAGE")
		for _, obj := range a.Objects {
			name := obj.Name
			if obj.Namespace != "" {
				name = obj.Namespace + "/" + obj.Name
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", obj.Kind, name, obj.Wave, syncText(obj), obj.Health, oneLine(obj.Message))
		}
		tw.Flush()
	}
	if r := a.LastSync; r != nil && len(r.Hooks) > 0 {
		PrintHooks(w, fmt.Sprintf("\nHooks of sync #%d:", r.ID), r.Hooks)
	}
	if or := a.Orphaned; or != nil {
		warn := ""
		if or.Warn && len(or.Objects) > 0 {
			warn = "warning: "
		}
		fmt.Fprintf(w, "\n%s%d orphaned resources in namespace %s (AppProject %s, orphanedResources):\n", warn, len(or.Objects), or.Namespace, or.Project)
		for _, obj := range or.Objects {
			kind := obj.Kind
			if obj.Group != "" {
				kind += "." + obj.Group
			}
			fmt.Fprintf(w, "  %s/%s\n", kind, obj.Name)
		}
	}
}

// PrintHooks prints a sync's hooks under a title: each with its phase,
// how its run went and whether its delete policy removed it.
func PrintHooks(w io.Writer, title string, hooks []inventory.HookRun) {
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tKIND\tNAMESPACE/NAME\tSTATUS\tMESSAGE")
	for _, h := range hooks {
		name := h.Name
		if h.Namespace != "" {
			name = h.Namespace + "/" + h.Name
		}
		st := h.Status
		if st == "" {
			st = h.Action // not run: skipped, pending, failed to create
		}
		if h.Deleted {
			st += ", deleted"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Phase, h.Kind, name, st, oneLine(h.Message))
	}
	tw.Flush()
}

// PrintList prints one line per app.
func PrintList(w io.Writer, apps []*gstatus.App, withNamespace bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withNamespace {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "APP\tSYNC\tHEALTH\tREVISION\tLAST SYNC\tMESSAGE")
	for _, a := range apps {
		if withNamespace {
			fmt.Fprintf(tw, "%s\t", a.InventoryNamespace)
		}
		rev := "-"
		if a.Source.Commit != "" {
			rev = fmt.Sprintf("%s (%s)", a.Source.Revision, gstatus.Short(a.Source.Commit))
		}
		last := "-"
		if r := a.LastSync; r != nil {
			last = fmt.Sprintf("%s %s ago", r.Phase, duration.HumanDuration(now.Sub(r.FinishedAt)))
		}
		msg := a.CountsText()
		switch {
		case a.Reason != "":
			msg = a.Reason
		case a.Moved != nil:
			msg = a.Moved.String() + "; " + msg
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.App, a.Sync, a.Health, rev, last, oneLine(msg))
	}
	tw.Flush()
}

// syncText is the object's sync status and, when out of sync, what a sync
// would do: "OutOfSync (configure)".
func syncText(o gstatus.Object) string {
	if o.Sync == gstatus.OutOfSync {
		return fmt.Sprintf("%s (%s)", o.Sync, o.Action)
	}
	return string(o.Sync)
}

func commitText(subject, author string) string {
	var s string
	if subject != "" {
		s += fmt.Sprintf(" %q", subject)
	}
	if author != "" {
		s += " by " + author
	}
	return s
}

func rollbackText(r inventory.Record) string {
	if r.Rollback {
		return fmt.Sprintf(", rollback to #%d", r.RollbackOf)
	}
	return ""
}

func suffix(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + oneLine(msg)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
