// Package adopt is kubectl gitops adopt: an app takes over the live
// objects that match its render, without deleting, recreating or
// restarting anything, and without taking what another tool still owns.
package adopt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/interrupt"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// Options are the inputs of adopt.
type Options struct {
	App     appflags.Flags
	AppFile appflags.AppFile
	Sync    gsync.Options
	// Policy is --policy (if-unowned or all); all needs Force.
	Policy string
	Force  bool
	// Yes adopts without asking; DryRun prints the plan only.
	Yes, DryRun bool
	Output      string
	// IsTerminal says whether the input is a terminal (to ask there).
	IsTerminal func(io.Reader) bool

	kubeFlags *genericclioptions.ConfigFlags
	flags     *pflag.FlagSet
	genericiooptions.IOStreams
}

// NewCommand returns the adopt command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{Sync: gsync.DefaultOptions(), kubeFlags: kubeFlags, IOStreams: streams}
	o.Sync.Hints = psync.Hints
	cmd := &cobra.Command{
		Use:   "adopt [APP] --repo URL|PATH [--path DIR] | -f application.yaml",
		Short: "Take over the live objects an app renders, without restarts, and never from another owner",
		Long: `Adopt renders the app, finds the live objects that match its objects, and
shows a plan, one line per object:

  adopt            exists, no other owner: the app takes it over
  already managed  a member of the app already
  owned by OWNER   another tool or app marks it as its own: refused
  take from OWNER  the same, taken over (--policy=all --force)
  missing          not in the cluster: the next sync creates it

OWNER is another ApplySet (another kubectl-gitops app, by name), Argo CD (its
argocd.argoproj.io/tracking-id annotation, or the app.kubernetes.io/instance
label of its label tracking method), Flux (kustomize.toolkit.fluxcd.io/name,
helm.toolkit.fluxcd.io/name), Helm (meta.helm.sh/release-name,
app.kubernetes.io/managed-by: Helm) or kapp (kapp.k14s.io/app). A label Git
itself sets to the same value is no owner's marker. For each object adopted
the plan names the fields whose owner changes (by field manager) and those
whose values differ from Git.

It asks before writing on a terminal (--yes for scripts; --dry-run prints the
plan only and writes nothing). Adopting applies each existing object as sync
would (server-side apply, field manager kubectl-gitops; fields held by
kubectl's managers, or by the owner taken from, are taken), records it in the
app's inventory, removes client-side apply's last-applied annotation, and
moves the fields of kubectl's managers (client-side apply, create, edit,
patch, ...) and of the owner taken from to kubectl-gitops (client-go's
csaupgrade), so that a field later removed from Git is removed from the
object by the next sync. It creates nothing, prunes nothing, and changes no
pod template that Git does not change: no rollout, no restart.

Policies:
  --policy=if-unowned (default)  adopt only objects no other owner marks
  --policy=all --force           also take those another owner marks,
                                 removing its markers that are safe to remove:
                                 Argo CD's tracking-id annotation and instance
                                 label, Flux's and kapp's labels (another
                                 ApplySet's label is replaced by ours). Helm's
                                 release records (its Secrets) and annotations
                                 are never touched: uninstall the release
                                 with --keep-history, or delete its Secrets,
                                 once adopted (docs/adopt.md).

sync applies the same rule: it adopts unowned objects and refuses owned ones,
naming the owner.

-f application.yaml takes over an Argo CD Application's objects (both of its
tracking methods) after its controller is gone; it refuses while that
Application object exists in the cluster and an Argo CD application
controller runs (in any namespace).

Exit codes: 0 adopted (or nothing to adopt, or the plan of --dry-run), 1 an
object is refused or adopting failed, 2 the command line was wrong.`,
		Example: `  # The plan only.
  kubectl gitops adopt --repo . --path apps/web/overlays/prod --dry-run

  # Adopt in CI, without asking.
  kubectl gitops adopt web-prod --repo https://git.example/config.git --path apps/web/overlays/prod --yes

  # Move an Argo CD Application's objects under kubectl-gitops once Argo CD is gone.
  kubectl gitops adopt -f guestbook.yaml --policy=all --force --yes`,
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
	f.StringVarP(&o.AppFile.File, "filename", "f", "", "An Argo CD Application manifest (file, directory or -): adopt that app's objects in its destination cluster")
	f.StringArrayVar(&o.AppFile.RepoMap, "repo-map", nil, "Rewrite the Application's repository URL: FROM=TO replaces the prefix FROM (repeatable)")
	o.AppFile.AddClusterFlags(f)
	f.StringVar(&o.Policy, "policy", string(gsync.AdoptIfUnowned), "Which objects to take: if-unowned (no other owner marks them) or all (with --force)")
	f.BoolVar(&o.Force, "force", false, "With --policy=all: take objects another tool or app marks as its own")
	f.BoolVarP(&o.Yes, "yes", "y", false, "Adopt without asking")
	f.BoolVar(&o.DryRun, "dry-run", false, "Print the plan; write nothing")
	f.DurationVar(&o.Sync.Timeout, "timeout", o.Sync.Timeout, "Bound on the comparison and on the adoption")
	f.IntVar(&o.Sync.Concurrency, "concurrency", o.Sync.Concurrency, "Parallel API requests")
	f.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml, the plan (default: a table)")
	o.flags = f
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
	}
	o.App.Complete(args, o.kubeFlags)
	o.App.Options(&o.Sync)
	if o.IsTerminal == nil {
		o.IsTerminal = isTerminal
	}
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	p, err := gsync.ParseAdoptPolicy(o.Policy)
	if err != nil {
		return fmt.Errorf("--policy: %w", err)
	}
	if p == gsync.AdoptAll && !o.Force {
		return fmt.Errorf("--policy=all takes objects other tools own: add --force to mean it")
	}
	if o.Force && p != gsync.AdoptAll {
		return fmt.Errorf("--force goes with --policy=all")
	}
	o.Sync.Adopt = p
	if err := o.App.Validate(true); err != nil {
		return err
	}
	if err := output.Check(o.Output, "a table"); err != nil {
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

// Entry is one object of the plan.
type Entry struct {
	gsync.ObjectID
	// Status is adopt, already managed, owned by, take from or missing.
	Status string       `json:"status"`
	Owner  *gsync.Owner `json:"owner,omitempty"`
	// TakenFields are the fields moving to kubectl-gitops, by manager.
	TakenFields map[string][]string `json:"takenFields,omitempty"`
	// Differs are the fields whose values differ from Git.
	Differs []string `json:"differs,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Plan is what adopt shows: with -o json|yaml after adopting, with the
// adoption's phase and the API requests of the comparison and the
// adoption.
type Plan struct {
	App      string         `json:"app"`
	Policy   string         `json:"policy"`
	Objects  []Entry        `json:"objects"`
	Adopted  int            `json:"adopted"`
	Phase    string         `json:"phase,omitempty"`
	Requests gsync.Requests `json:"requests"`
}

// Run compares, shows the plan, asks, and adopts.
func (o *Options) Run(ctx context.Context) error {
	c, err := o.App.Connect(ctx, o.kubeFlags)
	if err != nil {
		return err
	}
	if t := o.App.Target(); t != nil {
		if err := refuseWhileServed(ctx, c, t); err != nil {
			return err
		}
	}
	r, err := o.App.Source.Render(ctx, nil, c.Kube, o.ErrOut)
	if err != nil {
		return err
	}
	if err := r.RefuseEncrypted(); err != nil {
		return source.Hint(err)
	}
	if o.App.Target() != nil {
		if r.Objects, _, err = psync.SplitRender(c, r.Objects, false); err != nil {
			return err
		}
	}
	in := o.App.InputWithCommit(r)
	opts := o.Sync
	opts.Prune, opts.DryRun, opts.AllowEmpty = false, true, true
	cs, compareErr := gsync.New(c, opts).Compare(ctx, in)
	if cs == nil {
		return compareErr
	}
	plan := Plan{App: o.App.App, Policy: string(o.Sync.Adopt)}
	existing := map[gsync.ObjectID]bool{}
	adopting := 0
	var refused []string
	for _, ch := range cs.Changes {
		if ch.Action == gsync.ChangeRun || ch.Action == gsync.ChangeSkip || ch.Action == gsync.ChangeOrphan || ch.Action == gsync.ChangePrune {
			continue // hooks, objects never applied, members that left Git
		}
		e := Entry{ObjectID: ch.ObjectID, Owner: ch.Owner, TakenFields: ch.TakenFields, Differs: ch.Diff, Error: ch.Error}
		switch {
		case ch.Live == nil:
			e.Status = "missing"
		case !ch.Adopted:
			e.Status = "already managed"
		case ch.Owner != nil && o.Sync.Adopt != gsync.AdoptAll:
			e.Status = "owned by"
		case ch.Owner != nil:
			e.Status = "take from"
		default:
			e.Status = "adopt"
		}
		if ch.Live != nil {
			existing[ch.ObjectID] = true
			if ch.Adopted {
				adopting++
			}
		}
		if ch.Adopted && (ch.Action == gsync.ChangeRecreate || ch.Action == gsync.ChangeReplace) {
			// Force=true deletes and creates; Replace=true writes the whole
			// object: neither is a take-over.
			e.Error = fmt.Sprintf("would be %sd (sync options Replace=true or Force=true): adopt never deletes, recreates or replaces; sync it once adopted without them, or leave it to sync", ch.Action)
			refused = append(refused, ch.Ref()+": "+e.Error)
		}
		plan.Objects = append(plan.Objects, e)
	}
	if len(refused) > 0 {
		compareErr = errors.Join(compareErr, fmt.Errorf("%d object(s) cannot be adopted:\n  %s", len(refused), strings.Join(refused, "\n  ")))
	}
	plan.Requests = cs.Requests
	// A table is shown before asking; a document once all is done.
	emit := func() error {
		_, err := output.Print(o.Out, o.Output, plan)
		return err
	}
	if o.Output == "" {
		writePlan(o.Out, plan)
	}
	if compareErr != nil {
		return errors.Join(compareErr, emit())
	}
	switch {
	case adopting == 0:
		fmt.Fprintf(o.ErrOut, "app %s: nothing to adopt\n", o.App.App)
		return emit()
	case o.DryRun:
		fmt.Fprintf(o.ErrOut, "app %s: %d object(s) would be adopted (dry run: nothing written)\n", o.App.App, adopting)
		return emit()
	}
	if !o.Yes {
		if !o.IsTerminal(o.In) {
			return fmt.Errorf("adopt asks before writing and the input is not a terminal: pass --yes to adopt the %d object(s) above, or --dry-run", adopting)
		}
		fmt.Fprintf(o.ErrOut, "Adopt %d object(s) into app %s? [y/N] ", adopting, o.App.App)
		line, _ := bufio.NewReader(o.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not adopted: nothing was written")
		}
	}
	// Only what exists is adopted; the next sync creates the rest.
	in.Objects, err = existingOnly(c, in.Objects, existing, o.Sync.DestNamespace)
	if err != nil {
		return err
	}
	in.Adoption = true
	opts.DryRun = false
	ctx, stop := interrupt.Graceful(ctx, o.ErrOut, psync.Interrupted)
	defer stop()
	res, err := gsync.New(c, opts).Run(ctx, in)
	if res != nil {
		fmt.Fprintf(o.ErrOut, "app %s: %d object(s) adopted, phase %s\n", o.App.App, adopting, res.Phase)
		plan.Phase = res.Phase
		plan.Requests.Reads += res.Requests.Reads
		plan.Requests.Writes += res.Requests.Writes
		plan.Requests.DryRuns += res.Requests.DryRuns
		if res.Phase == gsync.PhaseSucceeded {
			plan.Adopted = adopting
		}
	}
	return errors.Join(psync.LockHint(err, o.Sync.WaitForLock), emit())
}

// writePlan prints the plan as a table, then what each adopted object's
// fields do.
func writePlan(w io.Writer, p Plan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tOBJECT\tDETAILS")
	for _, e := range p.Objects {
		status := e.Status
		if e.Owner != nil {
			status += " " + e.Owner.Tool + "/" + e.Owner.Name
		}
		var details []string
		if e.Owner != nil {
			details = append(details, "markers: "+markers(e.Owner))
		}
		if n := len(e.TakenFields); n > 0 {
			var by []string
			for _, m := range sortedKeys(e.TakenFields) {
				by = append(by, fmt.Sprintf("%d from %s", len(e.TakenFields[m]), m))
			}
			details = append(details, "fields moving to kubectl-gitops: "+strings.Join(by, ", "))
		}
		if len(e.Differs) > 0 {
			details = append(details, "differs from Git: "+strings.Join(e.Differs, ", "))
		}
		if e.Error != "" && e.Status != "owned by" {
			details = append(details, "error: "+e.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", status, e.Ref(), strings.Join(details, "; "))
	}
	_ = tw.Flush()
}

func markers(o *gsync.Owner) string {
	var out []string
	for _, m := range o.Markers {
		s := m.Key
		if m.Remove {
			s += " (removed with --policy=all)"
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// existingOnly keeps the objects that exist in the cluster (their
// namespace as the engine fills it: destNamespace for a namespaced object
// without one).
func existingOnly(c *cluster.Client, objs []*unstructured.Unstructured, existing map[gsync.ObjectID]bool, destNamespace string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		m, err := c.Mapping(gvk.GroupKind())
		if meta.IsNoMatchError(err) {
			continue // not served: it cannot exist
		}
		if err != nil {
			return nil, err
		}
		ns := obj.GetNamespace()
		if m.Scope.Name() == meta.RESTScopeNameNamespace && ns == "" {
			ns = destNamespace
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			ns = ""
		}
		for id := range existing {
			if id.Group == gvk.Group && id.Kind == gvk.Kind && id.Namespace == ns && id.Name == obj.GetName() {
				out = append(out, obj)
				break
			}
		}
	}
	return out, nil
}

var applicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// refuseWhileServed refuses to take over an Argo CD Application's objects
// while its Application object exists and an Argo CD application
// controller runs beside it: that controller would take them back.
func refuseWhileServed(ctx context.Context, c *cluster.Client, t *appflags.Target) error {
	ns := t.Application.Namespace
	if ns == "" {
		ns = "argocd"
	}
	name := t.Application.Name
	if _, _, err := c.Resource(schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}); err != nil {
		var notServed *cluster.NotServedError
		if errors.As(err, &notServed) {
			return nil // no Applications here
		}
		return err
	}
	if _, err := c.Dynamic.Resource(applicationGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("check for Application %s/%s: %w", ns, name, err)
	}
	// The controller may run in another namespace (Argo CD's applications
	// in any namespace): look everywhere, else where the Application is.
	selector := metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=argocd-application-controller"}
	pods, err := c.Kube.CoreV1().Pods("").List(ctx, selector)
	if apierrors.IsForbidden(err) {
		pods, err = c.Kube.CoreV1().Pods(ns).List(ctx, selector)
	}
	if err != nil {
		return fmt.Errorf("check for Argo CD's application controller: %w", err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending {
			return fmt.Errorf("Application %s/%s still exists and Argo CD's application controller runs in namespace %s (pod %s): it would take the objects back; stop Argo CD (or delete the Application with --cascade=orphan) first", ns, name, p.Namespace, p.Name)
		}
	}
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
