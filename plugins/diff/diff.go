// Package diff is the `kubectl gitops diff` command.
package diff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kdiff "k8s.io/kubectl/pkg/cmd/diff"
	"k8s.io/utils/exec"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/diffview"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// EnvExternalDiff names the program kubectl diff runs on two directories.
const EnvExternalDiff = "KUBECTL_EXTERNAL_DIFF"

// Options are the inputs of diff.
type Options struct {
	App appflags.Flags
	// AppFile is -f: an Argo CD Application.
	AppFile appflags.AppFile
	Sync    gsync.Options
	// Output is "" for a unified diff, or json or yaml.
	Output string
	// ExitCode exits 1 when there are differences, and 2 on errors.
	ExitCode bool

	// Getenv reads NO_COLOR and whether KUBECTL_EXTERNAL_DIFF is set
	// (os.Getenv); kubectl's DiffProgram reads the program itself.
	Getenv func(string) string
	// IsTerminal says whether the output is a terminal (colour).
	IsTerminal func(io.Writer) bool

	// fromRecord: APP without --repo or --local compares the app's
	// recorded source; flags is the command line, which wins over the record.
	fromRecord bool
	flags      *pflag.FlagSet
	// pre counts the requests made before Compare (reading the record);
	// state is the inventory read then, which Compare reuses.
	pre   cluster.RequestCounter
	state *inventory.State

	kubeFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams
}

// NewCommand returns the diff command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	return newCommand(newOptions(kubeFlags, streams))
}

func newOptions(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *Options {
	o := &Options{Sync: gsync.DefaultOptions(), Getenv: os.Getenv, IsTerminal: isTerminal, kubeFlags: kubeFlags, IOStreams: streams}
	o.Sync.Hints = psync.Hints
	return o
}

func newCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "diff [APP] (--repo URL|PATH [--revision REV] [--path DIR] | --local DIR)",
		Short: "Show what a sync would change, writing nothing",
		Long: `Diff renders the source as sync would, compares it with the cluster as sync
would (proven unchanged locally from the fields this tool owns, else a
server-side dry-run), and prints what a sync would change: per object, a
unified diff of the live object against what the server would store. It
writes nothing to the cluster.

Fields the server sets on every write (managedFields, status,
resourceVersion, generation, uid, creationTimestamp, selfLink) never show.
Objects to create are all added, members to prune all removed; orphaned
(--prune=false) and skipped (Prune=false, Skip hooks) objects are listed on
stderr, with a one-line summary: N to create, N to change, N to prune.

Secret values never show: Secret data and stringData values, and the
kubectl.kubernetes.io/last-applied-configuration annotation of any object,
are masked pairwise (++++++++ where both sides are equal, +++++++++ for the
other side when they differ), and every value decrypted from a SOPS file is
masked wherever it appears, in the diff, in -o json|yaml and in the files
given to an external diff program.

--local DIR renders a directory as it is on disk, uncommitted changes
included, without Git: the check for a pull request, as argocd app diff
--local. APP then defaults to the directory's path in its Git work tree, as
sync derives it from --path.

KUBECTL_EXTERNAL_DIFF is honoured as kubectl diff honours it: the masked
live and merged objects are written as YAML files named
group.version.kind.namespace.name into two temporary directories, LIVE-* and
MERGED-*, and the program runs on the two directories (its extra words are
kept when they are letters, digits, - and =). Its exit code is the
command's: 0 or 1; a program that fails otherwise exits 2.

Colour marks the diff on a terminal, unless NO_COLOR is set.

Exit codes: 0 whether or not there are differences, 1 the diff failed, 2 the
command line was wrong. With --exit-code, as kubectl diff: 0 no
differences, 1 differences, 2 the diff failed or the command line was
wrong. With $KUBECTL_EXTERNAL_DIFF, as kubectl diff: the program's exit code
(0 or 1), 2 when it fails otherwise.`,
		Example: `  # What a sync of an overlay would change.
  kubectl gitops diff --repo . --path apps/web/overlays/prod

  # The same for uncommitted edits, in a pull-request check that fails on
  # differences.
  kubectl gitops diff --local apps/web/overlays/prod --exit-code

  # A tag of a remote repository, as data.
  kubectl gitops diff web-prod --repo https://git.example/config.git --revision v1.4.0 \
    --path apps/web/overlays/prod -o json

  # With your own diff program, as kubectl diff.
  KUBECTL_EXTERNAL_DIFF="colordiff -N -u" kubectl gitops diff --repo . --path apps/web`,
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
	o.App.Source.AddLocalFlag(f)
	f.StringVarP(&o.AppFile.File, "filename", "f", "", "An Argo CD Application manifest (file, directory or -): diff that app's source against its destination cluster")
	f.StringArrayVar(&o.AppFile.RepoMap, "repo-map", nil, "Rewrite the Application's repository URL: FROM=TO replaces the prefix FROM (repeatable)")
	o.AppFile.AddClusterFlags(f)
	f.BoolVar(&o.Sync.Prune, "prune", true, "Show members that left Git as pruned (false: as orphaned, as sync --prune=false would leave them)")
	f.BoolVar(&o.Sync.ForceConflicts, "force-conflicts", false, "Compare as sync --force-conflicts would apply: taking fields owned by other field managers")
	f.DurationVar(&o.Sync.Timeout, "timeout", o.Sync.Timeout, "Bound on the whole comparison")
	f.IntVar(&o.Sync.Concurrency, "concurrency", o.Sync.Concurrency, "Parallel dry-run requests")
	f.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml, the structured difference (default: a unified diff)")
	f.BoolVar(&o.ExitCode, "exit-code", false, "Exit 1 when there are differences and 2 on errors, as kubectl diff")
	return cmd
}

// Complete fills the app name and derived options.
func (o *Options) Complete(args []string) error {
	if o.AppFile.File != "" {
		name := ""
		if len(args) > 0 {
			name = args[0]
		}
		if err := o.App.UseApplication(&o.AppFile, o.flags, o.kubeFlags, name); err != nil {
			return err
		}
		args = []string{o.App.App}
		if !o.flags.Changed("prune") {
			o.Sync.Prune = o.App.Target().Prune // as a sync of the Application would
		}
	}
	o.fromRecord = len(args) == 1 && o.App.Source.Repo == "" && o.App.Source.Local == ""
	o.App.Complete(args, o.kubeFlags)
	o.App.Options(&o.Sync)
	o.Sync.DryRun = true
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.IsTerminal == nil {
		o.IsTerminal = isTerminal
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := o.App.Validate(!o.fromRecord); err != nil {
		return err
	}
	if err := output.Check(o.Output, "a unified diff"); err != nil {
		return err
	}
	if o.Sync.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1")
	}
	if o.Sync.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	return nil
}

// Run compares and prints. Its error carries the exit code: differences
// with --exit-code, an external diff program's status, errors as 2 with
// --exit-code.
func (o *Options) Run(ctx context.Context) error {
	return o.exitError(o.run(ctx))
}

// exitError gives err diff's exit code: with --exit-code a failure is 2,
// above 1 for differences; codes already carried stay.
func (o *Options) exitError(err error) error {
	if err == nil || exitcode.Silent(err) || !o.ExitCode || exitcode.Code(err) != exitcode.Failed {
		return err
	}
	return exitcode.WithCode(exitcode.DiffFailed, err)
}

func (o *Options) run(ctx context.Context) error {
	c, err := o.App.Connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	if err := o.recorded(ctx, c); err != nil {
		return err
	}
	r, err := o.App.Source.Render(ctx, nil, c.Kube, o.ErrOut)
	if err != nil {
		return err
	}
	if err := r.RefuseEncrypted(); err != nil {
		return source.Hint(err)
	}
	if o.App.Target() != nil {
		// As the sync of the Application splits its render (see
		// sync.SplitRender).
		if r.Objects, _, err = psync.SplitRender(c, r.Objects, false); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.ErrOut, "app %s: %s, %d objects\n", o.App.App, describe(r.Source), len(r.Objects))
	in := o.App.Input(r)
	in.State = o.state
	cs, compareErr := gsync.New(c, o.Sync).Compare(ctx, in)
	if cs == nil {
		return compareErr
	}
	v := diffview.New(cs, in.SecretValues)
	reads, _, _ := o.pre.Counts()
	v.Requests.Reads += reads

	var showErr error
	external := false
	printed, err := output.Print(o.Out, o.Output, v)
	switch {
	case err != nil:
		return err
	case !printed:
		if prog := o.Getenv(EnvExternalDiff); prog != "" {
			external, showErr = true, o.external(v)
		} else {
			showErr = v.WriteUnified(o.Out, diffview.UnifiedOptions{Color: o.color()})
		}
	}
	for _, obj := range v.Objects {
		switch {
		case obj.Error != "":
			fmt.Fprintf(o.ErrOut, "  %s: refused by the dry-run: %s\n", obj.Ref(), obj.Error)
		case obj.Action == gsync.ChangeOrphan, obj.Action == gsync.ChangeSkip:
			fmt.Fprintf(o.ErrOut, "  %s: %s%s\n", obj.Ref(), obj.Action, suffix(obj.Reason))
		}
	}
	fmt.Fprintf(o.ErrOut, "app %s: %s\n", o.App.App, v.Summary)
	switch {
	case compareErr != nil:
		return compareErr
	case showErr != nil, external:
		// The program's exit code is the command's, as with kubectl diff.
		return showErr
	case o.ExitCode && v.Differs():
		return exitcode.WithCode(exitcode.Differences, nil)
	}
	return nil
}

// recorded fills from the app's last recorded sync what the command line
// did not give: the whole source for APP alone; the destination namespace,
// sync options and prune for --local (the directory is the source), so
// that the comparison is the one a sync of the app would make. An app never
// synced has no record: APP alone is then an error, --local compares as
// given.
func (o *Options) recorded(ctx context.Context, c *cluster.Client) error {
	if !o.fromRecord && o.App.Source.Local == "" {
		return nil
	}
	inv := inventory.Inventory{App: o.App.App, Namespace: o.App.InventoryNamespace}
	st, err := inventory.Load(cluster.WithRequestCounter(ctx, &o.pre), c, inv)
	if err != nil {
		return err
	}
	o.state = st
	rec, ok := inventory.LastWithCommit(st.History)
	if !ok {
		if o.fromRecord {
			return exitcode.UsageError(fmt.Errorf("app %s has no recorded sync in --inventory-namespace %s to compare with; pass --repo and --path (or --local DIR)", inv.App, inv.Namespace))
		}
		return nil
	}
	fs := o.flags
	if fs == nil {
		fs = pflag.NewFlagSet("", pflag.ContinueOnError)
	}
	local := o.App.Source.Local
	if note := o.App.FromRecord(fs, rec, &o.Sync.Prune); note != "" && local == "" {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", note)
	}
	if local != "" {
		o.App.Source.Repo, o.App.Source.Path, o.App.Source.Revision = "", "", ""
	}
	o.Sync.SyncOptions = nil
	o.App.Options(&o.Sync)
	return o.App.Validate(local == "")
}

// external writes the two sides into kubectl diff's LIVE and MERGED
// directories and runs KUBECTL_EXTERNAL_DIFF on them with kubectl's own
// DiffProgram, which reads the variable.
func (o *Options) external(v *diffview.View) error {
	differ, err := kdiff.NewDiffer("LIVE", "MERGED")
	if err != nil {
		return err
	}
	defer differ.TearDown()
	for _, obj := range v.Objects {
		if !obj.Shown() {
			continue
		}
		name := diffview.FileName(obj.ObjectID)
		if err := differ.From.Print(name, runtimeObject(obj.Live), kdiff.Printer{}); err != nil {
			return err
		}
		if err := differ.To.Print(name, runtimeObject(obj.Merged), kdiff.Printer{}); err != nil {
			return err
		}
	}
	err = differ.Run(&kdiff.DiffProgram{Exec: exec.New(), IOStreams: o.IOStreams})
	var exitErr exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exitErr):
		// 1: differences, as diff(1) says; passed through as kubectl does.
		return exitcode.WithCode(exitErr.ExitStatus(), nil)
	default:
		// kubectl diff exits 2 when the program fails otherwise.
		return exitcode.WithCode(exitcode.DiffFailed, fmt.Errorf("%w; check $%s", err, EnvExternalDiff))
	}
}

// runtimeObject is o as a runtime.Object, nil (an empty file) when absent.
func runtimeObject(o *unstructured.Unstructured) runtime.Object {
	if o == nil {
		return nil
	}
	return o
}

func describe(s app.SourceInfo) string {
	if s.Local != "" {
		return fmt.Sprintf("local directory %s (not from Git)", s.Local)
	}
	return fmt.Sprintf("%s@%s (%s) path %s", s.Repo, output.ShortSHA(s.Commit), s.Message, s.Path)
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// color: on a terminal, unless NO_COLOR is set (https://no-color.org).
func (o *Options) color() bool {
	return o.Getenv("NO_COLOR") == "" && o.IsTerminal(o.Out)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
