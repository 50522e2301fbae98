package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent/metrics"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
	gstatus "github.com/kubectl-gitops/kubectl-gitops/pkg/status"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// appState is what the agent remembers of an app between reconciles.
type appState struct {
	mu sync.Mutex
	// attempt is the last automated sync: of which commit and source
	// (params), how it ended; selfHeals counts the corrections of that
	// commit since.
	attempt   *attempt
	selfHeals int
	// op is the last sync's operation state, for .status.operationState.
	op *operation
	// written is the status last written (without reconciledAt), to write
	// only what changed.
	written []byte
	// conditions are the app's current conditions (type → message).
	conditions map[string]string
	// term is the shard's term (its context) in which this replica last
	// asked whether a sync of the app died under way; resume says one did:
	// the app is synced even if it compares Synced, and that sync
	// continues the dead one (its hooks, later waves, PostSync, record).
	term   context.Context
	resume bool
}

type attempt struct {
	commit, params, phase, message string
	finished                       time.Time
	// interrupted: the agent stopped it (a shutdown, a shard lost); the
	// commit is attempted again.
	interrupted bool
}

// operation is a sync's operation state: an automated one's, or the one an
// Application's .operation asked for (see operate).
type operation struct {
	// revision is the commit synced (syncResult.revision).
	phase, message, revision string
	started, finished        time.Time
	automated, selfHeal      bool
	result                   *gsync.Result
	// request is the Application's .operation as it was written (nil for
	// an automated sync), copied to operationState.operation; retryCount
	// counts its retries; cleared says .operation was cleared once it
	// ended.
	request    any
	retryCount int
	cleared    bool
}

// comparison is one compare of an app.
type comparison struct {
	c        *cluster.Client
	target   *appflags.Target
	flags    appflags.Flags
	rendered *app.Rendered
	state    *inventory.State
	cs       *gsync.ChangeSet
	status   *gstatus.App
	params   string
	children int
	// childrenOutOfSync are the children (synced with this app, for a
	// cluster that serves no Applications) that are not Synced, and
	// childrenLeft those that left Git and are still to prune (or report).
	childrenOutOfSync, childrenLeft []string
	project                         *appflags.Project
}

// Reconcile compares an app and, as its syncPolicy says, syncs it.
func (a *runner) Reconcile(ctx context.Context, key string, why agent.Reasons) agent.Outcome {
	a.mu.Lock()
	e := a.apps[key]
	st := a.states[key]
	if st == nil {
		st = &appState{conditions: map[string]string{}}
		a.states[key] = st
	}
	shard := a.shards[agent.ShardOf(key, a.o.Shards)]
	a.mu.Unlock()
	if e == nil || shard == nil {
		return agent.Outcome{}
	}
	// A shard lost stops its syncs at once; a shutdown lets them finish.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopLost := context.AfterFunc(shard, func() {
		if !a.stopping() {
			cancel()
		}
	})
	defer stopLost()
	st.mu.Lock()
	defer st.mu.Unlock()

	labels := appLabels(e)
	start := time.Now()
	defer func() { a.metrics.ReconcileDone(labels, time.Since(start)) }()
	ctx = cluster.WithRequestObserver(ctx, func(method string, u *url.URL, code int) {
		a.metrics.K8sRequest(labels, labels.DestServer, method, u.Path, u.Query(), code)
	})
	log := a.log.With("app", key)
	if e.err != nil {
		if e.obj != nil && e.obj.Object["operation"] != nil {
			a.operate(ctx, e, st, labels, log) // refused: the app cannot run
		}
		st.conditions = map[string]string{"InvalidSpecError": e.err.Error()}
		a.metrics.SetApp(labels, string(gstatus.Unknown), "Unknown", "", false)
		a.metrics.SetConditions(labels, []string{"InvalidSpecError"})
		a.metrics.ReconcileResult(labels, "error")
		a.writeStatus(ctx, e, st, nil, log)
		log.Error("the Application cannot run", "error", e.err)
		return agent.Outcome{}
	}
	if e.obj != nil && e.obj.GetDeletionTimestamp() != nil {
		a.deleteApp(ctx, e, labels, log)
		return agent.Outcome{}
	}
	// A sync asked for through the Application (.operation) comes first;
	// while it is under way no automated sync runs, as with Argo CD.
	pending, opAfter := false, time.Duration(0)
	if e.obj != nil && e.obj.Object["operation"] != nil {
		pending, opAfter = a.operate(ctx, e, st, labels, log)
	} else {
		dropEndedOperation(st)
	}
	opLabel := ""
	if pending {
		opLabel = "sync"
	}
	hard := e.obj != nil && e.obj.GetAnnotations()[annotationRefresh] == "hard"
	cmp, err := a.compare(ctx, e, hard)
	if e.obj != nil && e.obj.GetAnnotations()[annotationRefresh] != "" {
		a.clearRefresh(ctx, e, log)
	}
	if err != nil {
		st.conditions = map[string]string{"ComparisonError": err.Error()}
		a.metrics.SetApp(labels, string(gstatus.Unknown), "Unknown", opLabel, e.target.Automated)
		a.metrics.SetConditions(labels, []string{"ComparisonError"})
		a.metrics.ReconcileResult(labels, "error")
		a.writeStatus(ctx, e, st, nil, log)
		log.Error("compare failed", "error", err)
		return agent.Outcome{After: opAfter}
	}
	a.watch(cmp, key)
	recoverOperation(e, st, cmp)
	out := agent.Outcome{After: opAfter}
	if st.term != shard && e.target.Automated {
		// Once per term of the shard (a standby taking over, a restart):
		// a sync of the former holder may have died under way.
		if dead, err := gsync.Interrupted(ctx, cmp.c, cmp.flags.InventoryNamespace, e.target.Application.Name); err != nil {
			log.Warn("cannot tell whether a sync of the app died under way; asking again at the next reconcile", "error", err)
		} else {
			st.term = shard
			if dead {
				st.resume = true
				log.Info("a sync of the app began and recorded no outcome: syncing to continue it")
			}
		}
	}
	decision, wait := a.decide(cmp, st, e.target)
	if pending {
		decision.sync, decision.skip, decision.condition, wait = false, "another operation is in progress", false, 0
	}
	delete(st.conditions, "SyncError")
	delete(st.conditions, "ComparisonError")
	delete(st.conditions, "InvalidSpecError")
	switch {
	case decision.skip != "":
		if decision.condition {
			st.conditions["SyncError"] = decision.skip
		}
		if wait > 0 && (out.After == 0 || wait < out.After) {
			out.After = wait
		}
		if len(cmp.childrenOutOfSync)+len(cmp.childrenLeft) > 0 {
			log.Debug("no sync", "reason", decision.skip, "sync", cmp.status.Sync, "childrenOutOfSync", cmp.childrenOutOfSync, "childrenLeft", cmp.childrenLeft)
		} else {
			log.Debug("no sync", "reason", decision.skip, "sync", cmp.status.Sync)
		}
	case decision.sync:
		a.syncNow(ctx, e, st, cmp, decision, labels, why, log)
		if again, err := a.compare(ctx, e, false); err == nil {
			cmp = again
			a.watch(cmp, key)
		}
	}
	if cmp.status.Sync == gstatus.OutOfSync && e.target.Automated && e.target.Application.SyncPolicy.Automated != nil && e.target.Application.SyncPolicy.Automated.SelfHeal && out.After == 0 && st.attempt != nil && st.attempt.phase == gsync.PhaseSucceeded {
		// Still drifting after a correction: look again when the
		// backoff allows the next one.
		out.After = a.o.SelfHealBackoff.Remaining(st.selfHeals, st.attempt.finished, time.Now())
	}
	a.metrics.SetApp(labels, string(cmp.status.Sync), string(cmp.status.Health), opLabel, e.target.Automated)
	var types []string
	for t := range st.conditions {
		types = append(types, t)
	}
	a.metrics.SetConditions(labels, types)
	a.metrics.ReconcileResult(labels, "success")
	a.writeStatus(ctx, e, st, cmp, log)
	return out
}

// deleteApp handles an Application being deleted, as Argo CD does: no
// more syncs; with the resources finalizer its resources are pruned, then
// the finalizer removed (so the delete completes); without, they stay.
func (a *runner) deleteApp(ctx context.Context, e *appEntry, labels metrics.App, log *slog.Logger) {
	a.metrics.DeleteApp(labels.Namespace, labels.Name)
	if !e.target.Application.HasResourcesFinalizer() {
		return
	}
	log.Info("the Application is being deleted: pruning its resources (resources finalizer)")
	if err := a.sync.PruneTarget(ctx, e.target, e.target.Flags.InventoryNamespace); err != nil {
		log.Error("pruning the deleted Application's resources failed; tried again at the next reconcile", "error", err)
		a.events.warning(ctx, e.obj, "ResourceDeletionFailed", "pruning the Application's resources failed: "+err.Error())
		return
	}
	var keep []any
	for _, f := range e.obj.GetFinalizers() {
		if f != argocd.ResourcesFinalizer && !strings.HasPrefix(f, argocd.ResourcesFinalizer+"/") {
			keep = append(keep, f)
		}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": keep, "resourceVersion": e.obj.GetResourceVersion()}})
	if _, err := a.current.Dynamic.Resource(applicationGVR).Namespace(e.obj.GetNamespace()).Patch(ctx, e.obj.GetName(), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		log.Warn("cannot remove the resources finalizer; tried again at the next reconcile", "error", err)
		return
	}
	log.Info("the deleted Application's resources are pruned")
}

// errSuperseded stops a sync that another replica made moot.
var errSuperseded = errors.New("superseded: the app's newest sync record is this commit, synced while waiting for the lock")

// redactor masks the Secret values of the comparison's objects and of the
// decrypted files in any message.
func (cmp *comparison) redactor() *redact.Redactor {
	var objs []*unstructured.Unstructured
	for _, c := range cmp.cs.Changes {
		for _, o := range []*unstructured.Unstructured{c.Desired, c.Live} {
			if o != nil {
				objs = append(objs, o)
			}
		}
	}
	red := redact.NewFromObjects(objs)
	red.Add(cmp.rendered.Decrypted...)
	return red
}

// stopping says the agent is shutting down.
func (a *runner) stopping() bool { return a.stopCtx != nil && a.stopCtx.Err() != nil }

// compare renders the app (from the cache, unless hard) and compares it
// with the cluster, as status -f does.
func (a *runner) compare(ctx context.Context, e *appEntry, hard bool) (*comparison, error) {
	return a.compareTarget(ctx, e.loaded, e.target, e.key, hard, nil)
}

// compareTarget compares t (an app, or a child its parents render: above
// are their names). Child Applications for a cluster that serves none are
// synced with their parent, as apps of their own, so they are compared
// too: one that is not Synced makes its parent OutOfSync, and their
// sources and commits are part of the parent's params, so that a child's
// new commit is a new sync to attempt.
func (a *runner) compareTarget(ctx context.Context, loaded *appflags.Loaded, t *appflags.Target, key string, hard bool, above []string) (*comparison, error) {
	project, err := loaded.Projects.For(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := t.CheckSource(project); err != nil {
		return nil, err
	}
	c, err := t.Connect(ctx, a.o.kubeFlags)
	if err != nil {
		return nil, err
	}
	flags := t.Onto(a.sync.App)
	// A hard refresh renders anew and leaves its render in the cache, for
	// the sync that may follow.
	flags.Source.Cache, flags.Source.RefreshCache = a.cache, hard
	// Render removes the key directory when it returns; the agent's own
	// shutdown lets it (no signal handler of the command's).
	flags.Source.OnPrivateDir = func(string) func() { return func() {} }
	flags.Source.OnFetch = func(repo string, d time.Duration, err error) {
		a.metrics.GitRequest(repo, "fetch", d, err != nil)
	}
	r, err := flags.Source.Render(ctx, nil, c.Kube, logWriter{a.log.With("app", key)})
	if err != nil {
		return nil, err
	}
	if err := r.RefuseEncrypted(); err != nil {
		return nil, flags.Source.Hint(err)
	}
	objects, children, err := psync.SplitRender(c, r.Objects, false)
	if err != nil {
		return nil, err
	}
	// Refused at every comparison, not only by a sync: a render of
	// children alone compares Synced, and would never be synced.
	if err := t.RefuseChildren(len(children)); err != nil {
		return nil, err
	}
	st, err := inventory.Load(ctx, c, inventory.Inventory{App: t.Application.Name, Namespace: flags.InventoryNamespace})
	if err != nil {
		return nil, err
	}
	opts := gsync.DefaultOptions()
	flags.Options(&opts)
	opts.Prune, opts.DryRun, opts.Timeout, opts.Hints = t.Prune, true, a.o.SyncTimeout, psync.Hints
	opts.AllowEmpty = t.AllowEmpty || len(children) > 0
	in := flags.InputWithCommit(r)
	in.Objects, in.State = objects, st
	cs, err := gsync.New(c, opts).Compare(ctx, in)
	if cs == nil {
		return nil, err
	}
	s := gstatus.Of(t.Application.Name, st, cs, err)
	s.InventoryNamespace = flags.InventoryNamespace
	cmp := &comparison{c: c, target: t, flags: flags, rendered: r, state: st, cs: cs, status: s, params: params(in), children: len(children), project: project}
	last, _ := inventory.LastWithCommit(st.History)
	if (len(children) > 0 || len(last.Children) > 0) && err == nil {
		if err := a.compareChildren(ctx, loaded, cmp, children, last.Children, key, hard, append(above, t.Application.Name)); err != nil {
			return nil, err
		}
	}
	return cmp, nil
}

// childPruned says whether a child that cmp's last record lists as
// leaving has had its prune done: it then waits only for its parent's
// next record to drop it. A prune seen done is remembered until the
// parent's inventory changes.
func (a *runner) childPruned(ctx context.Context, loaded *appflags.Loaded, cmp *comparison, ch inventory.ChildApp) bool {
	key := cmp.target.Server + "\x00" + cmp.flags.InventoryNamespace + "/" + cmp.target.Application.Name + "\x00" + ch.Name
	if rv, ok := a.prunedChildren.Load(key); ok && rv == cmp.state.ResourceVersion {
		return true
	}
	if !a.sync.PruneDone(ctx, loaded.Mapper, ch, cmp.flags.InventoryNamespace) {
		return false
	}
	a.prunedChildren.Store(key, cmp.state.ResourceVersion)
	return true
}

// compareChildren compares the children cmp's app renders (see
// compareTarget) and folds them into cmp; before are those of its last
// sync, of which one that left Git is a change too (its parent's sync
// prunes it, or reports it left in place).
func (a *runner) compareChildren(ctx context.Context, loaded *appflags.Loaded, cmp *comparison, children []*unstructured.Unstructured, before []inventory.ChildApp, key string, hard bool, above []string) error {
	name := cmp.target.Application.Name
	sum := sha256.New()
	sum.Write([]byte(cmp.params))
	now := map[string]bool{}
	for _, obj := range children {
		app, err := argocd.FromObject("rendered by "+name, obj)
		if err != nil {
			return fmt.Errorf("child Application: %w", err)
		}
		if i := slices.Index(above, app.Name); i >= 0 {
			return fmt.Errorf("app of apps cycle: %s → %s", strings.Join(above[i:], " → "), app.Name)
		}
		now[app.Name] = true
		ct, err := loaded.Mapper.Target(app)
		if err != nil {
			return fmt.Errorf("child %s: %w", app.Name, err)
		}
		child, err := a.compareTarget(ctx, loaded, ct, key, hard, above)
		if err != nil {
			return fmt.Errorf("child %s: %w", app.Name, err)
		}
		if child.status.Sync != gstatus.Synced {
			cmp.childrenOutOfSync = append(cmp.childrenOutOfSync, app.Name)
		}
		for _, n := range child.childrenOutOfSync {
			cmp.childrenOutOfSync = append(cmp.childrenOutOfSync, app.Name+"/"+n)
		}
		for _, n := range child.childrenLeft {
			cmp.childrenLeft = append(cmp.childrenLeft, app.Name+"/"+n)
		}
		fmt.Fprintf(sum, "\x00%s\x00%s\x00%s", app.Name, child.cs.Source.Commit, child.params)
	}
	for _, ch := range before {
		if !now[ch.Name] && !(ch.Leaving && a.childPruned(ctx, loaded, cmp, ch)) {
			cmp.childrenLeft = append(cmp.childrenLeft, ch.Name)
		}
	}
	cmp.params = hex.EncodeToString(sum.Sum(nil)[:8])
	if len(cmp.childrenOutOfSync)+len(cmp.childrenLeft) > 0 && cmp.status.Sync == gstatus.Synced {
		cmp.status.Sync = gstatus.OutOfSync
	}
	return nil
}

// params identifies a sync's source beside its commit, as Argo CD's
// "application parameters": a change of them is a new sync to attempt.
func params(in gsync.Input) string {
	b, _ := json.Marshal(struct {
		Repo, Path, Revision string
		Directory, Kustomize any
	}{in.Repo, in.Path, in.Revision, in.Directory, in.Kustomize})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// recordParams is params of a recorded sync.
func recordParams(r inventory.Record) string {
	return params(gsync.Input{Repo: r.Repo, Path: r.Path, Revision: r.Revision, Directory: r.Directory, Kustomize: r.Kustomize})
}

// decision is what the automated sync policy says.
type decision struct {
	sync, selfHeal bool
	// skip says why not; condition makes it a SyncError condition.
	skip      string
	condition bool
}

// decide applies Argo CD's automated sync semantics: only OutOfSync apps;
// one attempt per commit and source; a failed attempt is not repeated; a
// repeat of a successful one is a self-heal, with its backoff; prune-only
// changes need automated prune; an automated prune never empties the app
// unless allowEmpty; sync windows may block.
func (a *runner) decide(cmp *comparison, st *appState, t *appflags.Target) (decision, time.Duration) {
	if !t.Automated {
		return decision{skip: "automated sync is off"}, 0
	}
	if st.resume {
		// A sync that died under way is continued whatever the
		// comparison says (its hooks and later phases are not in it).
		if _, err := t.CheckWindows(cmp.project, false, time.Now()); err != nil {
			return decision{skip: err.Error()}, 0
		}
		return decision{sync: true}, 0
	}
	if cmp.status.Sync != gstatus.OutOfSync {
		return decision{skip: "app is " + string(cmp.status.Sync)}, 0
	}
	pruneOnly, allPrune := true, true
	for _, c := range cmp.cs.Changes {
		switch c.Action {
		case gsync.ChangePrune, gsync.ChangeOrphan:
		case gsync.ChangeRun:
			// Hooks are not the app's resources (Argo CD's list has none).
		case gsync.ChangeUnchanged, gsync.ChangeSkip:
			allPrune = false
		default:
			pruneOnly, allPrune = false, false
		}
	}
	if len(cmp.childrenOutOfSync) > 0 {
		pruneOnly, allPrune = false, false // the children have their own changes
	}
	if pruneOnly && !t.Prune {
		return decision{skip: "only extra resources need pruning, and automated prune is off"}, 0
	}
	commit := cmp.cs.Source.Commit
	if t.Prune && !t.AllowEmpty && allPrune && cmp.children == 0 {
		return decision{skip: fmt.Sprintf("Skipping sync attempt to %s: auto-sync will wipe out all resources", short(commit)), condition: true}, 0
	}
	// The inventory's newest record is the last attempt when it is newer
	// than what this replica remembers: after a restart, a shard that
	// moved, another replica's sync, a sync by hand.
	// An adoption is no attempt: it synced only what existed.
	if r, ok := lastAttempt(cmp.state.History); ok {
		if st.attempt == nil || r.FinishedAt.After(st.attempt.finished) {
			if st.attempt == nil || st.attempt.commit != r.Commit {
				st.selfHeals = 0
			}
			st.attempt = &attempt{commit: r.Commit, params: recordParams(r), phase: r.Phase, message: r.Message, finished: r.FinishedAt, interrupted: r.Interrupted}
		}
	}
	d := decision{sync: true}
	if at := st.attempt; at != nil && at.commit == commit && at.params == cmp.params && !at.interrupted {
		if at.phase != gsync.PhaseSucceeded {
			return decision{skip: fmt.Sprintf("Failed last sync attempt to %s: %s", short(commit), at.message), condition: true}, 0
		}
		if !selfHeal(t) {
			return decision{skip: "most recent sync already to " + short(commit) + " (selfHeal is off)"}, 0
		}
		if wait := a.o.SelfHealBackoff.Remaining(st.selfHeals, at.finished, time.Now()); wait > 0 {
			return decision{skip: fmt.Sprintf("self-heal backoff: next correction in %s", wait.Round(time.Millisecond))}, wait
		}
		d.selfHeal = true
	}
	if _, err := t.CheckWindows(cmp.project, false, time.Now()); err != nil {
		return decision{skip: err.Error()}, 0
	}
	return d, 0
}

// lastAttempt is the newest sync record that is not an adoption.
func lastAttempt(history []inventory.Record) (inventory.Record, bool) {
	for i := len(history) - 1; i >= 0; i-- {
		if !history[i].Adoption {
			return history[i], true
		}
	}
	return inventory.Record{}, false
}

func selfHeal(t *appflags.Target) bool {
	au := t.Application.SyncPolicy.Automated
	return au != nil && au.SelfHeal
}

// syncNow runs an automated sync of the app and remembers how it went.
func (a *runner) syncNow(ctx context.Context, e *appEntry, st *appState, cmp *comparison, d decision, labels metrics.App, why agent.Reasons, log *slog.Logger) {
	commit := cmp.cs.Source.Commit
	msg := fmt.Sprintf("Initiated automated sync to '%s'", commit)
	if d.selfHeal {
		msg = fmt.Sprintf("Initiated automated sync to '%s' to correct drift (self-heal attempt %d)", commit, st.selfHeals+1)
	}
	log.Info(msg, "why", strings.Join(why.List(), ","))
	a.events.normal(ctx, e.obj, "OperationStarted", msg)
	op := &operation{phase: "Running", revision: commit, started: time.Now().UTC(), automated: true, selfHeal: d.selfHeal}
	st.op = op
	a.writeStatus(ctx, e, st, cmp, log)

	var out bytes.Buffer
	// Under the lock: if another replica synced this commit while this
	// one waited for it, there is nothing left to do.
	name := e.target.Application.Name
	compared := cmp.state.ResourceVersion
	sctx := gsync.WithPrecondition(ctx, func(app string, inv *inventory.State) error {
		if app != name || inv.ResourceVersion == compared {
			return nil
		}
		if n := len(inv.History); n > 0 {
			if r := inv.History[n-1]; r.Commit == commit && recordParams(r) == cmp.params && !r.Interrupted && r.FinishedAt.After(op.started) {
				return errSuperseded
			}
		}
		return nil
	})
	res, err := a.sync.SyncTarget(sctx, e.target, e.loaded.Mapper, e.loaded.Projects, &out)
	if ctx.Err() == nil {
		st.resume = false
	}
	op.finished = time.Now().UTC()
	if errors.Is(err, errSuperseded) {
		log.Info("another sync did it while this one waited for the app's lock", "commit", short(commit))
		st.op = nil
		return
	}
	if res != nil {
		op.result = res.Result
	}
	phase := gsync.PhaseSucceeded
	if err != nil {
		phase = gsync.PhaseFailed
		op.phase, op.message = "Failed", err.Error()
	} else {
		op.phase, op.message = "Succeeded", "successfully synced (all tasks run)"
	}
	if d.selfHeal {
		st.selfHeals++
		if err == nil {
			a.metrics.DriftCorrected(labels)
			a.events.normal(ctx, e.obj, "DriftCorrected", fmt.Sprintf("drift corrected at '%s' (attempt %d)", short(commit), st.selfHeals))
		}
	} else {
		st.selfHeals = 0
	}
	st.attempt = &attempt{commit: commit, params: cmp.params, phase: phase, message: op.message, finished: op.finished, interrupted: err != nil && ctx.Err() != nil}
	a.metrics.SyncDone(labels, phase)
	a.metrics.SyncDuration(labels, op.finished.Sub(op.started))
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line != "" {
			log.Debug(line)
		}
	}
	if err != nil {
		msg := cmp.redactor().String(err.Error())
		log.Error("sync failed", "commit", short(commit), "error", msg)
		a.events.warning(ctx, e.obj, "OperationCompleted", fmt.Sprintf("Sync operation to %s failed: %s", commit, msg))
		return
	}
	log.Info("synced", "commit", short(commit))
	a.events.normal(ctx, e.obj, "OperationCompleted", fmt.Sprintf("Sync operation to %s succeeded", commit))
}

// watch makes sure the kinds of the app's members are watched in its
// cluster, and that their changes reach the app.
func (a *runner) watch(cmp *comparison, key string) {
	seen := map[schema.GroupKind]bool{}
	var gvrs []schema.GroupVersionResource
	add := func(gk schema.GroupKind) {
		if seen[gk] {
			return
		}
		seen[gk] = true
		if m, err := cmp.c.Mapping(gk); err == nil {
			gvrs = append(gvrs, m.Resource)
		}
	}
	for _, gk := range cmp.state.GroupKinds {
		add(gk)
	}
	for _, o := range cmp.cs.Changes {
		add(schema.GroupKind{Group: o.Group, Kind: o.Kind})
	}
	inv := inventory.Inventory{App: cmp.target.Application.Name, Namespace: cmp.flags.InventoryNamespace}
	a.mu.Lock()
	a.owners[inv.ID()] = key
	w := a.watchers[cmp.target.Context]
	if w == nil {
		w = agent.NewWatcher(cmp.c.Metadata)
		w.OnChange = func(id string, gvr schema.GroupVersionResource, namespace, name string) {
			a.mu.Lock()
			k, ok := a.owners[id]
			a.mu.Unlock()
			if ok {
				a.drift.Call(k)
			}
		}
		w.OnError = func(gvr schema.GroupVersionResource, err error) {
			a.log.Warn("watch failed; retrying", "resource", gvr.String(), "error", err)
		}
		w.Start(a.stopCtx)
		a.watchers[cmp.target.Context] = w
	}
	a.mu.Unlock()
	w.Watch(gvrs...)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
