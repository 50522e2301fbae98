// Package status turns a ChangeSet into an app's status, as Argo CD shows
// it: whether the cluster matches Git (Synced, OutOfSync), how healthy the
// app is (its worst object, in Argo CD's order), each object's verdict and
// health, the last sync, and whether the revision synced has moved since.
// Health is read from the live objects Compare already read: a status costs
// no request beyond the comparison.
//
//	cs, err := syncer.Compare(ctx, in)
//	app := status.FromChangeSet(cs, err, lastRecord)
//	if app.Sync == status.Synced && app.Health == health.Healthy { ... }
package status

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// SyncStatus says whether the cluster matches Git.
type SyncStatus string

// Sync statuses.
const (
	Synced    SyncStatus = "Synced"
	OutOfSync SyncStatus = "OutOfSync"
	// Unknown: the comparison could not be made (the source did not
	// render, the server refused an object, ...).
	Unknown SyncStatus = "Unknown"
)

// Object is one object's status.
type Object struct {
	gsync.ObjectID
	Wave int `json:"wave"`
	// Action is what a sync would do to it.
	Action gsync.ChangeAction `json:"action"`
	Sync   SyncStatus         `json:"sync"`
	Health health.Status      `json:"health,omitempty"`
	// Message is the server's refusal, the fields that differ, or the
	// health message; Secret values masked.
	Message string `json:"message,omitempty"`
}

// SyncWindow is the state of an app's sync windows, as Argo CD names it:
// Sync Allowed, Sync Denied or Manual Allowed.
type SyncWindow struct {
	State string `json:"state"`
	// Reason names the windows that deny or only let manual syncs through.
	Reason string `json:"reason,omitempty"`
	// Opens is when a denied sync may next run.
	Opens *time.Time `json:"opens,omitempty"`
	// Windows are the windows that select the app.
	Windows []string `json:"windows,omitempty"`
}

// Orphaned are the orphaned resources of an app's destination namespace.
type Orphaned struct {
	Project   string `json:"project"`
	Namespace string `json:"namespace"`
	// Warn says the project asks for a warning (orphanedResources.warn).
	Warn    bool             `json:"warn"`
	Objects []gsync.ObjectID `json:"objects"`
}

// Moved says the revision synced last now names another commit.
type Moved struct {
	Revision string `json:"revision"`
	Synced   string `json:"synced"`
	Now      string `json:"now"`
}

// String is "revision main moved: synced abc1234, now def5678".
func (m Moved) String() string {
	return fmt.Sprintf("revision %s moved: synced %s, now %s", m.Revision, Short(m.Synced), Short(m.Now))
}

// App is an app's status.
type App struct {
	App                string        `json:"app"`
	InventoryNamespace string        `json:"inventoryNamespace"`
	Sync               SyncStatus    `json:"sync"`
	Health             health.Status `json:"health"`
	// Reason says why Sync is Unknown.
	Reason string `json:"reason,omitempty"`
	// Counts are the objects per action a sync would take.
	Counts map[gsync.ChangeAction]int `json:"counts,omitempty"`
	// Source is what was compared.
	Source gsync.Source `json:"source"`
	// Moved is set when the revision of the last sync now names another
	// commit.
	Moved *Moved `json:"moved,omitempty"`
	// LastSync is the newest history record.
	LastSync *inventory.Record `json:"lastSync,omitempty"`
	// SyncWindow is what the sync windows of the app's AppProject say of a
	// manual sync now; nil without windows.
	SyncWindow *SyncWindow `json:"syncWindow,omitempty"`
	// Orphaned are the objects of the app's destination namespace no app
	// manages, when its AppProject monitors them (orphanedResources).
	Orphaned *Orphaned `json:"orphaned,omitempty"`
	// Automated says the app is marked for automated sync.
	Automated bool     `json:"automated,omitempty"`
	Objects   []Object `json:"objects,omitempty"`
	// Requests are the API requests of the comparison.
	Requests gsync.Requests `json:"requests"`
}

// Of computes the status of an app from its change set and its state
// (the history's newest record is the last sync). cs may be nil when
// compareErr says why there is none; the status is then Unknown.
func Of(app string, st *inventory.State, cs *gsync.ChangeSet, compareErr error) *App {
	out := &App{App: app, Sync: Unknown, Health: health.Unknown, Counts: map[gsync.ChangeAction]int{}}
	if st != nil {
		out.Automated = st.Automated
		if n := len(st.History); n > 0 {
			last := st.History[n-1]
			out.LastSync = &last
		}
	}
	if cs == nil {
		out.Reason = reason(compareErr)
		return out
	}
	out.Source, out.Requests = cs.Source, cs.Requests
	if last, ok := lastWithCommit(st); ok && last.Commit != cs.Source.Commit && last.Revision == cs.Source.Revision && !isSHA(last.Revision, last.Commit) {
		out.Moved = &Moved{Revision: last.Revision, Synced: last.Commit, Now: cs.Source.Commit}
	}
	// Messages from the server may echo a value it refused.
	var objs []*unstructured.Unstructured
	for _, c := range cs.Changes {
		for _, o := range []*unstructured.Unstructured{c.Desired, c.Live} {
			if o != nil {
				objs = append(objs, o)
			}
		}
	}
	red := redact.NewFromObjects(objs)
	var healths []health.Status
	var inGitObjects, liveInGit int
	inSync := true
	for _, c := range cs.Changes {
		if c.Action == gsync.ChangeRun {
			continue // hooks are not the app's objects; LastSync has their runs
		}
		o := objectOf(c)
		o.Message = red.String(o.Message)
		out.Objects = append(out.Objects, o)
		out.Counts[c.Action]++
		if o.Sync != Synced {
			inSync = false
		}
		// As Argo CD: an object missing from the cluster does not make the
		// app Missing (OutOfSync says it is missing), unless none of the
		// app's objects exists.
		if inGit(c.Action) {
			inGitObjects++
			if c.Live != nil {
				liveInGit++
				healths = append(healths, o.Health)
			}
		}
	}
	out.Health = health.Aggregate(healths...)
	if inGitObjects > 0 && liveInGit == 0 {
		out.Health = health.Aggregate(out.Health, health.Missing)
	}
	switch err := cs.Err(); {
	case err != nil:
		out.Sync, out.Reason = Unknown, red.String(reason(err))
	case inSync:
		out.Sync = Synced
	default:
		out.Sync = OutOfSync
	}
	return out
}

// Line is the app's state in one line, for a watch: it changes when the
// app's sync or health, the revision compared, or any object's changes.
func (a *App) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", a.App, a.Sync, a.Health)
	if a.Source.Commit != "" {
		fmt.Fprintf(&b, " at %s", Short(a.Source.Commit))
	}
	if c := a.CountsText(); c != "" {
		fmt.Fprintf(&b, " (%s)", c)
	}
	if a.Moved != nil {
		fmt.Fprintf(&b, "; %s", a.Moved)
	}
	if a.Reason != "" {
		fmt.Fprintf(&b, ": %s", a.Reason)
	}
	return b.String()
}

// CountsText lists the actions a sync would take, "1 configure, 2
// unchanged", in a fixed order.
func (a *App) CountsText() string {
	var parts []string
	for _, act := range []gsync.ChangeAction{gsync.ChangeCreate, gsync.ChangeConfigure, gsync.ChangeReplace, gsync.ChangeRecreate, gsync.ChangePrune, gsync.ChangeOrphan, gsync.ChangeSkip, gsync.ChangeUnchanged} {
		if n := a.Counts[act]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, act))
		}
	}
	return strings.Join(parts, ", ")
}

// objectOf is a change's status: unchanged objects and Skip hooks are
// Synced, every other action OutOfSync (members kept by Prune=false too); health is the live object's
// (Missing when there is none).
func objectOf(c *gsync.Change) Object {
	o := Object{ObjectID: c.ObjectID, Wave: c.Wave, Action: c.Action, Sync: OutOfSync}
	h := health.Assess(c.Live)
	o.Health = h.Status
	if h.Status != health.Healthy {
		o.Message = h.Message // "Resource is current" says nothing
	}
	switch c.Action {
	case gsync.ChangeUnchanged:
		o.Sync = Synced
	case gsync.ChangeSkip:
		// A Skip hook is as Git wants it. A member that left Git and is
		// kept by Prune=false is out of sync, as Argo CD shows it ("the
		// app will be out of sync if Argo CD expects a resource to be
		// pruned").
		if c.Desired != nil {
			o.Sync = Synced
		}
		o.Message = c.Reason
	case gsync.ChangePrune:
		o.Message = "left Git: a sync prunes it"
	case gsync.ChangeOrphan:
		o.Message = "left Git: kept, prune is off"
	case gsync.ChangeConfigure, gsync.ChangeReplace, gsync.ChangeRecreate:
		if len(c.Diff) > 0 {
			o.Message = "differs: " + strings.Join(c.Diff, ", ")
		} else if c.Reason != "" {
			o.Message = c.Reason
		}
	case gsync.ChangeCreate:
		if c.Reason != "" {
			o.Message = c.Reason
		}
	}
	if c.Error != "" {
		o.Sync, o.Message = Unknown, c.Error
	}
	return o
}

// inGit says the object's health counts in the app's: what left Git
// (pruned, orphaned, kept by Prune=false) and Skip hooks do not.
func inGit(a gsync.ChangeAction) bool {
	switch a {
	case gsync.ChangePrune, gsync.ChangeOrphan, gsync.ChangeSkip:
		return false
	}
	return true
}

func lastWithCommit(st *inventory.State) (inventory.Record, bool) {
	if st == nil {
		return inventory.Record{}, false
	}
	return inventory.LastWithCommit(st.History)
}

// isSHA says the revision is the commit itself (full or abbreviated): a
// SHA never moves.
func isSHA(revision, commit string) bool {
	return len(revision) >= 4 && strings.HasPrefix(commit, strings.ToLower(revision))
}

func reason(err error) string {
	if err == nil {
		return "not compared"
	}
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

// Short is a commit's first 7 characters.
func Short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
