package sync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
)

// Options tune a sync. Use DefaultOptions and change what you need.
type Options struct {
	// InventoryNamespace holds each app's inventory ConfigMap and lock.
	InventoryNamespace string
	// DestNamespace is set on namespaced objects that have none.
	DestNamespace string
	// SyncOptions are app-wide Argo CD sync options (Key=value).
	SyncOptions []string
	// DryRun plans and dry-runs on the server, and writes nothing.
	DryRun bool
	// Prune deletes members that left Git; false reports them as orphaned.
	Prune bool
	// AllowEmpty lets an empty render prune every member.
	AllowEmpty bool
	// ForceConflicts takes fields owned by other managers.
	ForceConflicts bool
	// Wait gates each wave on the health of the previous one.
	Wait bool
	// Timeout bounds the whole sync.
	Timeout time.Duration
	// Concurrency bounds parallel requests within a wave.
	Concurrency int
	// HistoryLimit is how many sync records the inventory keeps.
	HistoryLimit int
	// WaitForLock waits for another sync of the app to finish.
	WaitForLock bool
	// LockDuration is how long a crashed sync's lock lasts.
	LockDuration time.Duration
	// PollInterval is how often health is checked.
	PollInterval time.Duration
	// OnEvent receives events as they happen; nil drops them.
	OnEvent func(Event)
}

// DefaultOptions are the command's defaults.
func DefaultOptions() Options {
	return Options{
		InventoryNamespace: "kubectl-gitops",
		Prune:              true,
		Wait:               true,
		Timeout:            5 * time.Minute,
		Concurrency:        20,
		HistoryLimit:       10,
		LockDuration:       60 * time.Second,
		PollInterval:       500 * time.Millisecond,
	}
}

// Input is what to sync.
type Input struct {
	// App names the app; it keys the inventory.
	App string
	// Objects are the rendered objects.
	Objects []*unstructured.Unstructured
	// Repo, Path, Revision and Commit describe the source, for history.
	Repo, Path, Revision, Commit string
	// SecretValues are more values to mask in everything reported (those
	// decrypted from SOPS files), beyond the Secrets among Objects.
	SecretValues []string
}

// Syncer runs syncs against one cluster, one at a time (make one Syncer per
// concurrent sync).
type Syncer struct {
	c        *cluster.Client
	opts     Options
	redactor *redact.Redactor
}

// redactedError carries a message with Secret values masked, and keeps the
// original reachable for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// New returns a Syncer.
func New(c *cluster.Client, opts Options) *Syncer {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 500 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	return &Syncer{c: c, opts: opts}
}

// target is one planned object with what the cluster says about it.
type target struct {
	item       *plan.Item
	gvr        schema.GroupVersionResource
	namespaced bool
	// served is false for a custom resource whose definition is not
	// served yet (its CRD is in this sync).
	served bool
	live   *unstructured.Unstructured
	result *ObjectResult
	// applied is set once the object was written (or found unchanged).
	applied bool
}

func (t *target) ref() string { return t.item.Ref() }

// Run syncs in. It returns a Result in every case where it got as far as a
// plan; the error says why the sync failed.
func (s *Syncer) Run(ctx context.Context, in Input) (*Result, error) {
	res := &Result{App: in.App, Repo: in.Repo, Path: in.Path, Revision: in.Revision, Commit: in.Commit,
		DryRun: s.opts.DryRun, StartedAt: time.Now().UTC(), Counts: map[Action]int{}}
	r0, w0, d0 := s.c.Requests.Counts()
	// Secret values must not reach a message: the API server may echo a
	// value it rejects.
	red := redact.NewFromObjects(in.Objects)
	red.Add(in.SecretValues...)
	s.redactor = red
	err := s.run(ctx, in, res)
	if err != nil {
		err = &redactedError{msg: red.String(err.Error()), err: err}
	}
	for i := range res.Objects {
		res.Objects[i].Message = red.String(res.Objects[i].Message)
	}
	r1, w1, d1 := s.c.Requests.Counts()
	res.Requests = Requests{Reads: r1 - r0, Writes: w1 - w0, DryRuns: d1 - d0}
	res.FinishedAt = time.Now().UTC()
	for _, o := range res.Objects {
		res.Counts[o.Action]++
	}
	if err != nil {
		res.Phase, res.Message = PhaseFailed, err.Error()
		return res, err
	}
	res.Phase = PhaseSucceeded
	return res, nil
}

func (s *Syncer) run(ctx context.Context, in Input, res *Result) (err error) {
	if err := validateAppName(in.App); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	appOpts, err := plan.SyncOptions{}.Apply(s.opts.SyncOptions...)
	if err != nil {
		return fmt.Errorf("--sync-option: %w", err)
	}
	inv := inventory.Inventory{App: in.App, Namespace: s.opts.InventoryNamespace}

	targets, p, err := s.resolve(in.Objects, appOpts)
	if err != nil {
		return err
	}
	// Whatever happens next, the result lists every planned object and
	// every member that left Git, with what happened to each.
	var leftGit []ObjectResult
	defer func() {
		res.Objects = res.Objects[:0]
		for _, t := range targets {
			if !s.opts.DryRun && !t.applied {
				switch t.result.Action {
				case Created, Configured, Replaced:
					t.result.Action = Pending
					t.result.Message = "not applied: the sync stopped before this object's turn"
				}
			}
			res.Objects = append(res.Objects, *t.result)
		}
		res.Objects = append(res.Objects, leftGit...)
	}()
	for _, t := range targets {
		inv.Mark(t.item.Object)
	}

	if !s.opts.DryRun {
		if err := inventory.EnsureNamespace(ctx, s.c, inv.Namespace); err != nil {
			return err
		}
		l, lockErr := lock.Acquire(ctx, s.c.Kube, lock.Options{
			Namespace: inv.Namespace, Name: inv.ParentName(), Duration: s.opts.LockDuration, Wait: s.opts.WaitForLock,
		})
		if lockErr != nil {
			return lockErr
		}
		defer l.Release()
		// A lost lock stops the rest of the sync, and its error says so.
		var stop context.CancelFunc
		ctx, stop = l.Context(ctx)
		defer stop()
		defer func() {
			if lost := l.Err(); lost != nil && err != nil && !errors.Is(err, lost) {
				err = fmt.Errorf("%w: %w", lost, err)
			}
		}()
	}

	state, err := inventory.Load(ctx, s.c, inv)
	if err != nil {
		return err
	}
	if len(targets) == 0 && len(state.GroupKinds) > 0 && !s.opts.AllowEmpty {
		return fmt.Errorf("the render is empty but app %s has members in the cluster; refusing to prune them all (pass --allow-empty if that is what you want)", in.App)
	}
	if err := s.fetchLive(ctx, targets); err != nil {
		return err
	}
	newNamespaces, createDest, err := s.namespacesToCreate(ctx, targets, appOpts)
	if err != nil {
		return err
	}
	if err := s.dryRun(ctx, targets, newNamespaces); err != nil {
		return err
	}
	if s.opts.DryRun {
		prunable, err := s.findPrunable(ctx, inv, state, targets)
		if err != nil {
			return err
		}
		for _, pr := range prunable {
			if pr.result.Action == Pruned {
				pr.result.Message = "would be pruned"
			}
			leftGit = append(leftGit, pr.result)
		}
		return nil
	}

	// Record the union of old and new members before writing any, so an
	// interrupted sync leaves no member the inventory does not cover.
	gks, nss := membership(targets)
	covered := &inventory.State{
		GroupKinds: uniqueGKs(append(append([]schema.GroupKind{}, state.GroupKinds...), gks...)),
		Namespaces: uniqueStrings(append(append([]string{}, state.Namespaces...), nss...)),
		History:    state.History,
	}
	if !state.Exists || !slices.Equal(covered.GroupKinds, uniqueGKs(state.GroupKinds)) || !slices.Equal(covered.Namespaces, uniqueStrings(state.Namespaces)) {
		if err := inventory.Save(ctx, s.c, inv, covered); err != nil {
			return err
		}
	}

	if createDest {
		if err := inventory.EnsureNamespace(ctx, s.c, s.opts.DestNamespace); err != nil {
			return err
		}
	}
	record := inventory.Record{Repo: in.Repo, Path: in.Path, Revision: in.Revision, Commit: in.Commit, StartedAt: res.StartedAt}
	syncErr := s.applyWaves(ctx, p, targets)
	var pruned []prunable
	if syncErr == nil {
		pruned, syncErr = s.prune(ctx, inv, state, targets)
	}
	for _, pr := range pruned {
		leftGit = append(leftGit, pr.result)
	}
	if syncErr == nil {
		// Members now: what was applied, and what left Git but was kept.
		covered.GroupKinds = uniqueGKs(append(gks, keptGroupKinds(pruned)...))
		covered.Namespaces = uniqueStrings(append(nss, keptNamespaces(pruned)...))
	}
	record.FinishedAt = time.Now().UTC()
	record.Phase, record.Counts = PhaseSucceeded, map[string]int{}
	if syncErr != nil {
		record.Phase, record.Message = PhaseFailed, syncErr.Error()
	}
	for _, t := range targets {
		record.Counts[string(t.result.Action)]++
	}
	for _, pr := range pruned {
		record.Counts[string(pr.result.Action)]++
	}
	record.ID = 1
	if n := len(state.History); n > 0 {
		record.ID = state.History[n-1].ID + 1
	}
	covered.History = append(covered.History, record)
	if limit := s.opts.HistoryLimit; limit > 0 && len(covered.History) > limit {
		covered.History = covered.History[len(covered.History)-limit:]
	}
	// Saving history must not be cancelled by the sync's own timeout.
	saveCtx, cancelSave := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelSave()
	if err := inventory.Save(saveCtx, s.c, inv, covered); err != nil {
		return errors.Join(syncErr, err)
	}
	return syncErr
}

func membership(targets []*target) ([]schema.GroupKind, []string) {
	var gks []schema.GroupKind
	var nss []string
	for _, t := range targets {
		gks = append(gks, t.item.Object.GroupVersionKind().GroupKind())
		if ns := t.item.Object.GetNamespace(); ns != "" {
			nss = append(nss, ns)
		}
	}
	return uniqueGKs(gks), uniqueStrings(nss)
}

func uniqueGKs(in []schema.GroupKind) []schema.GroupKind {
	seen := map[schema.GroupKind]bool{}
	var out []schema.GroupKind
	for _, gk := range in {
		if !seen[gk] {
			seen[gk] = true
			out = append(out, gk)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// validateAppName keeps app names usable as object names.
func validateAppName(app string) error {
	if app == "" || len(app) > 57 || strings.Trim(app, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || strings.HasPrefix(app, "-") || strings.HasSuffix(app, "-") {
		return fmt.Errorf("app name %q is not valid: use at most 57 lowercase letters, digits and '-', starting and ending with a letter or digit", app)
	}
	return nil
}

// namespacesToCreate returns the namespaces this sync creates: Namespace
// objects not yet in the cluster, and the destination namespace under
// CreateNamespace=true (createDest) when it is missing.
func (s *Syncer) namespacesToCreate(ctx context.Context, targets []*target, appOpts plan.SyncOptions) (map[string]bool, bool, error) {
	out := map[string]bool{}
	for _, t := range targets {
		o := t.item.Object
		if o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "" && t.live == nil {
			out[o.GetName()] = true
		}
	}
	if !appOpts.CreateNamespace || s.opts.DestNamespace == "" || out[s.opts.DestNamespace] {
		return out, false, nil
	}
	_, err := s.c.Kube.CoreV1().Namespaces().Get(ctx, s.opts.DestNamespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		out[s.opts.DestNamespace] = true
		return out, true, nil
	}
	return out, false, err
}
