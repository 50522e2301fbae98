package sync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// Options tune a sync. Use DefaultOptions and change what you need.
type Options struct {
	// InventoryNamespace holds each app's inventory ConfigMap and lock.
	InventoryNamespace string
	// DestNamespace is set on namespaced objects that have none.
	DestNamespace string
	// SyncOptions are app-wide Argo CD sync options (Key=value).
	SyncOptions []string
	// IgnoreDifferences are Argo CD's ignoreDifferences rules: the fields
	// they name never make an object changed and never appear in a Diff;
	// with RespectIgnoreDifferences=true the desired object takes their
	// live values before it is judged and applied. Rules from ignore.Load
	// are compiled already; others are compiled once per comparison.
	IgnoreDifferences []ignore.Rule
	// DryRun compares (dry-running on the server what cannot be proven
	// locally) and writes nothing, not even the lock.
	DryRun bool
	// Prune deletes members that left Git; false reports them as orphaned.
	Prune bool
	// AllowEmpty lets an empty render prune every member.
	AllowEmpty bool
	// ForceConflicts takes fields owned by other managers.
	ForceConflicts bool
	// Adopt says which existing objects that are not members yet the sync
	// takes over (the zero value is AdoptIfUnowned); an object it may not
	// take fails the comparison, naming its owner.
	Adopt AdoptPolicy
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
	// OnEvent receives events as they happen; nil drops them. It may be
	// called from several goroutines at once.
	OnEvent func(Event)
	// Lists, when set, shares LISTs with the other apps of the run that use
	// the same cache (see ListCache); nil lists for this app alone.
	Lists *ListCache
	// NamespaceMetadata are the labels and annotations of the destination
	// namespace under CreateNamespace=true (an Argo CD Application's
	// syncPolicy.managedNamespaceMetadata): server-side applied whether the
	// sync creates the namespace or it exists, so that a key taken out of
	// them leaves it too; a Namespace object of the render wins. nil
	// leaves the namespace's metadata alone.
	NamespaceMetadata *NamespaceMetadata
	// MarkAutomated, when set, marks the app for automated sync (true) or
	// takes the mark away (false), as an Application's syncPolicy.automated
	// says; nil keeps the mark as it is.
	MarkAutomated *bool
	// Hints end engine errors with what the caller's user can do (the CLI
	// names its flags; an agent names its app fields). Empty hints leave
	// the errors neutral.
	Hints Hints
}

// NamespaceMetadata are labels and annotations of a namespace.
type NamespaceMetadata = inventory.NamespaceMetadata

// Hints are appended to the errors that a user fixes with a setting.
type Hints struct {
	// ForceConflicts follows a field-ownership conflict.
	ForceConflicts string
	// AllowEmpty follows the refusal to prune every member.
	AllowEmpty string
	// Timeout follows a deadline reached.
	Timeout string
	// Replace follows an immutable-field refusal.
	Replace string
	// DestNamespace follows a namespaced object without namespace.
	DestNamespace string
	// AgeKey follows an object still SOPS-encrypted.
	AgeKey string
	// Adopt follows the refusal to take an object another tool or app
	// owns.
	Adopt string
}

func hint(h string) string {
	if h == "" {
		return ""
	}
	return "; " + h
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

// Input is what to sync. The engine does not change it.
type Input struct {
	// App names the app; it keys the inventory.
	App string
	// Objects are the rendered objects.
	Objects []*unstructured.Unstructured
	// Repo, Origin, Path, Revision and Commit describe the source, for
	// history: Repo a URL without credentials or a local repository's
	// absolute path, Origin that repository's origin remote.
	Repo, Origin, Path, Revision, Commit string
	// Author ("Name <email>") and Subject (the first line of its message)
	// describe the commit, for history.
	Author, Subject string
	// Children are an app of apps' child Applications, recorded with the
	// sync.
	Children []inventory.ChildApp
	// Directory and Kustomize are how the path was rendered, recorded
	// with the sync (see inventory.Record).
	Directory *render.Directory
	Kustomize *render.Kustomize
	// Rollback records the sync as a rollback to history entry
	// RollbackOf.
	Rollback   bool
	RollbackOf int
	// Adoption records the sync as an adoption (kubectl gitops adopt):
	// of the objects that exist only, so it is no sync attempt of the
	// commit for an automated sync.
	Adoption bool
	// SecretValues are more values to mask in everything reported (those
	// decrypted from SOPS files), beyond the Secrets among Objects.
	SecretValues []string
	// State is the app's inventory as the caller just read it (status and
	// diff read the record from it), so Compare does not read it again;
	// nil reads it. Apply reads it again under the lock in any case.
	State *inventory.State
}

// Syncer compares and syncs apps on one cluster. It holds what lasts (the
// client, the options); everything of one run lives in that run, so one
// Syncer, or many Syncers sharing a cluster.Client, can run syncs of
// different apps at once.
type Syncer struct {
	c    *cluster.Client
	opts Options
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

// Run compares in with the cluster and applies the change set (only
// compares with DryRun). It returns a Result in every case where it got as
// far as a plan; the error says why the sync failed.
func (s *Syncer) Run(ctx context.Context, in Input) (*Result, error) {
	r := s.newRun(in)
	r.caller = ctx
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	cs, err := s.compare(r.context(ctx), r, in)
	if cs == nil {
		return r.failedResult(in, err), r.redactError(err)
	}
	return s.apply(ctx, cs)
}

// Compare renders nothing and writes nothing: it reads the inventory and the
// live objects (one LIST per resource and namespace), proves locally what it
// can, dry-runs the rest on the server, and finds the members that left Git.
// The error, also kept in ChangeSet.Err, says why the change set cannot be
// applied; the change set is nil only when there is no plan at all.
func (s *Syncer) Compare(ctx context.Context, in Input) (*ChangeSet, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	r := s.newRun(in)
	cs, err := s.compare(r.context(ctx), r, in)
	return cs, r.redactError(err)
}

// Apply takes the app's lock, checks that the inventory did not change
// since cs was compared (and compares again if it did), records the members,
// runs the waves, prunes and records the sync in the history. A change set
// with an error is not applied (the failure is recorded). Apply is what sync
// does after Compare; with DryRun it writes nothing.
func (s *Syncer) Apply(ctx context.Context, cs *ChangeSet) (*Result, error) {
	if cs.run != nil {
		cs.run.caller = ctx
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return s.apply(ctx, cs)
}

// Precondition is asked, under the app's lock and before any write, with
// the inventory as read there, whether the sync of app is still wanted; an
// error stops it unrecorded and is returned as it is. An agent uses it so
// that a commit another replica synced while this one waited for the lock
// is not synced twice (nor its hooks run twice).
type Precondition func(app string, st *inventory.State) error

type preconditionKey struct{}

// WithPrecondition returns a context whose syncs check pre under the lock
// (see Precondition). The syncs of child apps see it too: it is told the
// app.
func WithPrecondition(ctx context.Context, pre Precondition) context.Context {
	return context.WithValue(ctx, preconditionKey{}, pre)
}

func uniqueGKs(in []schema.GroupKind) []schema.GroupKind { return inventory.SortedGroupKinds(in) }

func uniqueStrings(in []string) []string { return inventory.SortedNamespaces(in) }

// validateAppName keeps app names usable as object names.
func validateAppName(app string) error {
	if app == "" || len(app) > 57 || strings.Trim(app, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || strings.HasPrefix(app, "-") || strings.HasSuffix(app, "-") {
		return fmt.Errorf("app name %q is not valid: use at most 57 lowercase letters, digits and '-', starting and ending with a letter or digit", app)
	}
	return nil
}
