package sync

import (
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
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

// ObjectResult is one object's outcome.
type ObjectResult struct {
	Group     string        `json:"group,omitempty"`
	Version   string        `json:"version"`
	Kind      string        `json:"kind"`
	Namespace string        `json:"namespace,omitempty"`
	Name      string        `json:"name"`
	Phase     plan.Phase    `json:"phase,omitempty"`
	Wave      int           `json:"wave"`
	Action    Action        `json:"action"`
	Health    health.Status `json:"health,omitempty"`
	Message   string        `json:"message,omitempty"`
}

// Ref names the object (Kind/namespace/name).
func (o ObjectResult) Ref() string {
	if o.Namespace != "" {
		return o.Kind + "/" + o.Namespace + "/" + o.Name
	}
	return o.Kind + "/" + o.Name
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
	App        string         `json:"app"`
	Repo       string         `json:"repo,omitempty"`
	Path       string         `json:"path,omitempty"`
	Revision   string         `json:"revision,omitempty"`
	Commit     string         `json:"commit,omitempty"`
	DryRun     bool           `json:"dryRun,omitempty"`
	Phase      string         `json:"phase"`
	Message    string         `json:"message,omitempty"`
	StartedAt  time.Time      `json:"startedAt"`
	FinishedAt time.Time      `json:"finishedAt"`
	Objects    []ObjectResult `json:"objects"`
	Counts     map[Action]int `json:"counts"`
	Requests   Requests       `json:"requests"`
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
)

// Event is a step of a running sync, reported as it happens.
type Event struct {
	Time   time.Time
	Type   EventType
	Phase  plan.Phase
	Wave   int
	Object *ObjectResult // nil for wave events
}
