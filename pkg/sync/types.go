package sync

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

// Action is what a sync did, or would do, to an object.
type Action string

// Actions.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Replaced   Action = "replaced"
	Pruned     Action = "pruned"
	// Orphaned objects left Git but were kept (--prune=false).
	Orphaned Action = "orphaned"
	// Skipped objects were kept by Prune=false, or not applied (Skip hook).
	Skipped Action = "skipped"
	Failed  Action = "failed"
	// Pending objects were not reached because an earlier step failed.
	Pending Action = "pending"
)

// ObjectID names an object.
type ObjectID struct {
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// GenerateName is a hook's metadata.generateName: Name is empty until
	// the server has named it.
	GenerateName string `json:"generateName,omitempty"`
}

// Ref names the object (Kind/namespace/name); a hook not named yet shows
// its generateName and a star.
func (o ObjectID) Ref() string {
	name := o.displayName()
	if o.Namespace != "" {
		return o.Kind + "/" + o.Namespace + "/" + name
	}
	return o.Kind + "/" + name
}

// ObjectResult is one object's outcome.
type ObjectResult struct {
	ObjectID
	Phase   plan.Phase    `json:"phase,omitempty"`
	Wave    int           `json:"wave"`
	Action  Action        `json:"action"`
	Health  health.Status `json:"health,omitempty"`
	Message string        `json:"message,omitempty"`
	// Hook is set for a hook: its run's status and whether its delete
	// policy removed it.
	Hook *HookResult `json:"hook,omitempty"`
}

// Phase of a whole sync.
const (
	PhaseSucceeded = "Succeeded"
	PhaseFailed    = "Failed"
)

// Requests counts API requests of one sync.
type Requests struct {
	Reads   int64 `json:"reads"`
	Writes  int64 `json:"writes"`
	DryRuns int64 `json:"dryRuns"`
}

// Result is the outcome of a sync.
type Result struct {
	App string `json:"app"`
	Source
	DryRun     bool           `json:"dryRun,omitempty"`
	Phase      string         `json:"phase"`
	Message    string         `json:"message,omitempty"`
	StartedAt  time.Time      `json:"startedAt"`
	FinishedAt time.Time      `json:"finishedAt"`
	Objects    []ObjectResult `json:"objects"`
	Counts     map[Action]int `json:"counts"`
	Requests   Requests       `json:"requests"`
	// Recompared says the comparison was made again under the lock,
	// because another sync wrote the app in between.
	Recompared bool `json:"recompared,omitempty"`
}

// EventType says what an Event reports.
type EventType string

// Event types.
const (
	EventWaveStarted   EventType = "WaveStarted"
	EventObjectApplied EventType = "ObjectApplied"
	EventObjectHealth  EventType = "ObjectHealth"
	EventWaveHealthy   EventType = "WaveHealthy"
	EventPruneStarted  EventType = "PruneStarted"
	EventObjectPruned  EventType = "ObjectPruned"
	// EventHookStatus: a hook's run changed status (Running, Succeeded,
	// Failed); Object.Hook says which.
	EventHookStatus EventType = "HookStatus"
	// EventHookDeleted: a hook's delete policy removed it after it ran.
	EventHookDeleted EventType = "HookDeleted"
)

// Event is a step of a running sync, reported as it happens.
type Event struct {
	Time   time.Time
	Type   EventType
	Phase  plan.Phase
	Wave   int
	Object *ObjectResult // nil for wave events
}

// displayName is the name, or for a hook not named yet its generateName
// and a star.
func (o ObjectID) displayName() string {
	if o.Name == "" && o.GenerateName != "" {
		return o.GenerateName + "*"
	}
	return o.Name
}

// ChangeAction is what a sync would do to an object: the verdict of Compare.
type ChangeAction string

// Change actions.
const (
	ChangeCreate    ChangeAction = "create"
	ChangeConfigure ChangeAction = "configure"
	ChangeUnchanged ChangeAction = "unchanged"
	// ChangeReplace replaces the object in place (Replace=true).
	ChangeReplace ChangeAction = "replace"
	// ChangeRecreate deletes the object and creates it again (Force=true).
	ChangeRecreate ChangeAction = "recreate"
	ChangePrune    ChangeAction = "prune"
	// ChangeOrphan is a member that left Git and is kept (prune off).
	ChangeOrphan ChangeAction = "orphan"
	// ChangeSkip is not touched: the Skip hook, a hook sync never runs
	// (PreDelete, a Helm test), or Prune=false on a member that left Git.
	ChangeSkip ChangeAction = "skip"
	// ChangeRun is a hook: created (never compared) and run in its phase
	// by every sync; not a member, never out of sync.
	ChangeRun ChangeAction = "run"
)

// Judgement says how a change's action was decided.
type Judgement string

// Judgements.
const (
	// JudgedLocally: proven unchanged from the live object's managedFields,
	// without a request (see docs/design.md).
	JudgedLocally Judgement = "local"
	// JudgedByServer: a server-side dry-run.
	JudgedByServer Judgement = "server"
	// NotJudged: the server cannot judge it before the sync runs (its
	// CustomResourceDefinition is in the sync, or
	// SkipDryRunOnMissingResource=true), or there is nothing to judge
	// (prune, orphan, skip).
	NotJudged Judgement = "none"
)

// Change is one object in a ChangeSet.
type Change struct {
	ObjectID
	Phase plan.Phase `json:"phase,omitempty"`
	Wave  int        `json:"wave"`
	// Step orders execution: Apply runs steps in increasing order, the
	// changes of one step together; 0 means not executed (unchanged,
	// orphan, skip).
	Step   int          `json:"step"`
	Action ChangeAction `json:"action"`
	Judged Judgement    `json:"judged"`
	// Reason explains the action or the judgement, when there is more to
	// say than the action.
	Reason string `json:"reason,omitempty"`
	// Error is the server's refusal in the dry-run; a ChangeSet with any
	// error cannot be applied.
	Error string `json:"error,omitempty"`
	// Diff lists the fields (JSON paths) a configure or replace would
	// change, live against what the server would store. No values: the
	// objects carry them.
	Diff []string `json:"diff,omitempty"`
	// Adopted says the object exists and is not a member yet: the sync
	// takes it over (Owner, when another tool or app marks it, as the
	// AdoptPolicy allows). TakenFields are the fields its other field
	// managers own that move to this tool's (by manager, as paths).
	Adopted     bool                `json:"adopted,omitempty"`
	Owner       *Owner              `json:"owner,omitempty"`
	TakenFields map[string][]string `json:"takenFields,omitempty"`

	// Desired is the object to apply (with its inventory marks), Live the
	// object in the cluster (nil when missing), Merged what the server
	// would store (from the dry-run; nil when it was not asked). They may
	// hold Secret values: mask them before showing them.
	Desired *unstructured.Unstructured `json:"-"`
	Live    *unstructured.Unstructured `json:"-"`
	Merged  *unstructured.Unstructured `json:"-"`

	item *plan.Item
	opts plan.SyncOptions
	// hook is set for a hook (also one sync never runs); prepared says its
	// dry-run passed before the sync's first write.
	hook     *plan.Hook
	prepared bool
	// prev is the same hook in its earlier phase (a hook of several).
	prev *Change
	// ignore are the ignoreDifferences rules that match the object.
	ignore []ignore.Rule
	// git is the desired object as rendered, when RespectIgnoreDifferences
	// replaced Desired with a copy holding the live values of the ignored
	// fields; nil otherwise.
	git        *unstructured.Unstructured
	gvr        schema.GroupVersionResource
	namespaced bool
	// served is false for a custom resource whose definition is not served
	// yet (it is in this sync).
	served bool
	// current is the last state seen: Live, then what a write returned.
	current *unstructured.Unstructured
	// result holds what happened (action, health, message); its identity,
	// phase and wave are the change's.
	result  ObjectResult
	applied bool
}

// ChangeSet is what Compare found: every rendered object and every member
// that left Git, each with its verdict, in the order Apply would act.
type ChangeSet struct {
	App    string `json:"app"`
	Source Source `json:"source"`
	// Changes are in execution order: the waves (in each wave Namespaces
	// and CustomResourceDefinitions first), then prunes in prune order, then
	// what is not executed.
	Changes    []*Change `json:"changes"`
	ComparedAt time.Time `json:"comparedAt"`
	// Requests are the API requests the comparison made.
	Requests Requests `json:"requests"`
	// Recompared says Apply compared again under the lock, because another
	// sync wrote the app after this change set was made: what ran is in
	// Changes now, not what was first compared.
	Recompared bool `json:"recompared,omitempty"`

	run    *run
	in     Input
	state  *inventory.State
	waves  []waveSteps
	prunes []*Change
	// deleting are members being deleted (terminating): not prunable, but
	// still covered by the inventory until they are gone.
	deleting []inventory.Member
	// destChange is the destination namespace CreateNamespace=true
	// creates: reported, created first, never a member.
	destChange *Change
	// newNamespaces are the namespaces this sync creates (hooks in them
	// are judged in an existing one).
	newNamespaces map[string]bool
	// keepHookResources are recorded hook places whose leftovers could
	// not be cleaned now: they stay recorded.
	keepHookResources []inventory.HookResource
	err               error
}

// Source says what was rendered.
type Source struct {
	Repo     string `json:"repo,omitempty"`
	Origin   string `json:"origin,omitempty"`
	Path     string `json:"path,omitempty"`
	Revision string `json:"revision,omitempty"`
	Commit   string `json:"commit,omitempty"`
	// Author and Subject describe the commit.
	Author  string `json:"author,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// waveSteps are a wave's changes in the groups that run together.
type waveSteps struct {
	phase plan.Phase
	wave  int
	all   []*Change
	steps [][]*Change
	// hooks are created after the wave's other objects are written, and
	// awaited until they complete.
	hooks []*Change
}

// Err is why the change set cannot be applied (the dry-run refused
// objects, the render is empty, ...), or nil.
func (cs *ChangeSet) Err() error { return cs.err }

// InSync reports whether applying the change set would change nothing
// but run its hooks: hooks never make an app out of sync.
func (cs *ChangeSet) InSync() bool {
	for _, c := range cs.Changes {
		switch c.Action {
		case ChangeUnchanged, ChangeSkip, ChangeRun:
		default:
			return false
		}
	}
	return cs.err == nil
}
