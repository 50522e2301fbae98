// Package history is the `kubectl gitops history` command.
package history

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
)

// Options are the inputs of history.
type Options struct {
	App                string
	InventoryNamespace string
	Output             string
	// AppFile is -f: an Argo CD Application names the app and its cluster.
	AppFile appflags.AppFile

	target    *appflags.Target
	kubeFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCommand returns the history command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{InventoryNamespace: appflags.DefaultInventoryNamespace, kubeFlags: kubeFlags, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "history APP|-f FILE",
		Short: "List an app's syncs and rollbacks, oldest first, as recorded in the cluster",
		Long: `History lists the syncs of APP recorded in its inventory ConfigMap
(gitops-APP in --inventory-namespace), oldest first as 'argocd app history'
does: the revision and commit synced, the commit's author and subject, when
the sync started and how long it took, its result, and for a rollback the
history ID it rolled back to. Syncs that changed nothing are folded into one
record per source, commit and options, with the number of repeats.

The history keeps the last --history-limit syncs that changed something (see
'kubectl gitops sync --help'). An ID is what 'kubectl gitops rollback APP ID'
takes.`,
		Example: `  # The syncs of an app.
  kubectl gitops history web-prod

  # As JSON, for a script.
  kubectl gitops history web-prod -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.AppFile.File != "" {
				name := ""
				if len(args) > 0 {
					name = args[0]
				}
				targets, err := o.AppFile.Targets(o.kubeFlags, o.InventoryNamespace)
				if err != nil {
					return err
				}
				if o.target, err = appflags.Pick(targets, name); err != nil {
					return exitcode.UsageError(err)
				}
				args = []string{o.target.Application.Name}
			}
			if len(args) == 0 {
				return exitcode.UsageError(fmt.Errorf("name the app (APP), or give its Application with -f"))
			}
			o.App = args[0]
			if err := o.Validate(); err != nil {
				return exitcode.UsageError(err)
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.InventoryNamespace, "inventory-namespace", o.InventoryNamespace, "Namespace of the inventory ConfigMap")
	cmd.Flags().StringVarP(&o.AppFile.File, "filename", "f", "", "An Argo CD Application manifest (file, directory or -): that app's history, in its destination cluster")
	cmd.Flags().StringArrayVar(&o.AppFile.RepoMap, "repo-map", nil, "Accepted as sync takes it (the history needs no repository)")
	o.AppFile.AddClusterFlags(cmd.Flags())
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: a table)")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := output.Check(o.Output, ""); err != nil {
		return err
	}
	if o.InventoryNamespace == "" {
		return fmt.Errorf("--inventory-namespace must not be empty")
	}
	return nil
}

// Run prints the history.
func (o *Options) Run(ctx context.Context) error {
	connect := appflags.Connect
	if o.target != nil {
		connect = o.target.Connect
	}
	c, err := connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	inv := inventory.Inventory{App: o.App, Namespace: o.InventoryNamespace}
	st, err := inventory.Load(ctx, c, inv)
	if err != nil {
		return err
	}
	if !st.Exists {
		return fmt.Errorf("app %s not found: no inventory ConfigMap/%s/%s; see 'kubectl gitops status -A' for the apps in the cluster, or pass --inventory-namespace", o.App, inv.Namespace, inv.ParentName())
	}
	history := st.History
	if history == nil {
		history = []inventory.Record{}
	}
	if printed, err := output.Print(o.Out, o.Output, history); printed {
		return err
	}
	if len(history) == 0 {
		fmt.Fprintf(o.ErrOut, "No syncs recorded for app %s.\n", o.App)
		return nil
	}
	PrintTable(o.Out, history)
	return nil
}

// PrintTable prints records as the history table, in their order (oldest
// first).
func PrintTable(w io.Writer, history []inventory.Record) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREVISION\tCOMMIT\tAUTHOR\tSUBJECT\tSTARTED\tDURATION\tRESULT\tHOOKS\tROLLBACK")
	for _, r := range history {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, orDash(r.Revision), orDash(output.ShortSHA(r.Commit)), orDash(authorName(r.Author)),
			orDash(clip(r.Subject, 50)), r.StartedAt.UTC().Format(time.RFC3339), r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond), result(r), hooks(r), rollback(r))
	}
	tw.Flush()
}

// hooks counts a record's hooks by status: "2 Succeeded, 1 Failed", "-"
// without any; hooks that did not run are left out.
func hooks(r inventory.Record) string {
	counts := map[string]int{}
	for _, h := range r.Hooks {
		if h.Status != "" {
			counts[h.Status]++
		}
	}
	var parts []string
	for _, st := range []string{"Succeeded", "Failed", "Running"} {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// result is the phase, with the no-op and its repeats: "Succeeded (no-op
// ×3)" for a no-op synced three times.
func result(r inventory.Record) string {
	s := orDash(r.Phase)
	if r.NoOp {
		s += " (no-op"
		if r.Repeats > 0 {
			s += fmt.Sprintf(" ×%d", r.Repeats+1)
		}
		s += ")"
	}
	return s
}

func rollback(r inventory.Record) string {
	if !r.Rollback {
		return "-"
	}
	return fmt.Sprintf("→ %d", r.RollbackOf)
}

// authorName is the name of "Name <email>".
func authorName(a string) string {
	if name, _, ok := strings.Cut(a, " <"); ok && name != "" {
		return name
	}
	return a
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
