package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

// record closes a sync: objects never reached become pending, the result is
// built from the change set's final state, and the sync is added to the
// inventory's history (with its message masked), success or failure.
func (s *Syncer) record(ctx context.Context, cs *ChangeSet, inv inventory.Inventory, syncErr error) (*Result, error) {
	r := cs.run
	res := s.result(cs, syncErr, false)
	src := cs.Source
	rec := inventory.Record{
		Repo: src.Repo, Origin: src.Origin, Path: src.Path, Revision: src.Revision, Commit: src.Commit,
		Author: src.Author, Subject: src.Subject, Rollback: cs.in.Rollback, RollbackOf: cs.in.RollbackOf, Adoption: cs.in.Adoption,
		DestNamespace: s.opts.DestNamespace, SyncOptions: append([]string(nil), s.opts.SyncOptions...), Prune: s.opts.Prune,
		IgnoreDifferences: s.opts.IgnoreDifferences, Children: cs.in.Children,
		Directory: cs.in.Directory, Kustomize: cs.in.Kustomize, NamespaceMetadata: s.opts.NamespaceMetadata,
		StartedAt: res.StartedAt, FinishedAt: time.Now().UTC(), Phase: res.Phase, Message: res.Message, Counts: map[string]int{},
	}
	noop := syncErr == nil
	for a, n := range res.Counts {
		rec.Counts[string(a)] = n
		switch a {
		case Unchanged, Skipped, Orphaned:
		default:
			noop = false
		}
	}
	for _, o := range res.Objects {
		if o.Hook == nil {
			continue
		}
		if o.Hook.Status != "" {
			noop = false // a hook ran
		}
		rec.Hooks = append(rec.Hooks, inventory.HookRun{Group: o.Group, Kind: o.Kind, Namespace: o.Namespace, Name: o.displayName(),
			Phase: string(o.Phase), Status: string(o.Hook.Status), Action: string(o.Action), Message: o.Message, Deleted: o.Hook.Deleted})
	}
	rec.NoOp = noop
	rec.Interrupted = syncErr != nil && r.caller != nil && r.caller.Err() != nil
	err := syncErr
	if lost := r.lostLock(); lost != nil {
		// Another sync holds the app now: our record would overwrite its
		// inventory. The lost lock leads the error.
		if syncErr == nil || !errors.Is(syncErr, lost) {
			err = fmt.Errorf("%w; this sync is not recorded: %w", lost, orNone(syncErr))
		}
		res.Phase, res.Message = PhaseFailed, r.red.String(err.Error())
		res.Requests, res.FinishedAt = r.requests(), time.Now().UTC()
		return res, r.redactError(err)
	}
	st := *cs.state
	st.History = inventory.AppendHistory(cs.state.History, rec, s.opts.HistoryLimit)
	// Saving history must not be cancelled by the sync's own timeout.
	saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	serr := inventory.Save(saveCtx, s.c, inv, &st)
	if apierrors.IsConflict(serr) && r.lostLock() == nil {
		// A write of ours that an interrupt cancelled may have landed after
		// all: under our lock, the parent is ours to read again.
		if fresh, lerr := inventory.Load(saveCtx, s.c, inv); lerr == nil {
			st.ResourceVersion = fresh.ResourceVersion
			serr = inventory.Save(saveCtx, s.c, inv, &st)
		}
	}
	if serr != nil {
		err = errors.Join(syncErr, serr)
		res.Phase, res.Message = PhaseFailed, r.red.String(err.Error())
	}
	res.Requests = r.requests()
	res.FinishedAt = time.Now().UTC()
	return res, r.redactError(err)
}

func (r *run) lostLock() error {
	if r.lock == nil {
		return nil
	}
	return r.lock.Err()
}

func orNone(err error) error {
	if err == nil {
		return errors.New("no other error")
	}
	return err
}

// result builds the Result of cs: every object in execution order with
// what happened to it (with dryRun, what would happen), messages masked.
func (s *Syncer) result(cs *ChangeSet, err error, dryRun bool) *Result {
	r := cs.run
	res := &Result{App: cs.App, Source: cs.Source,
		DryRun: dryRun, StartedAt: r.started, Counts: map[Action]int{}, Phase: PhaseSucceeded, Recompared: cs.Recompared}
	for _, c := range cs.Changes {
		o := outcome(c, dryRun)
		if cs.err != nil && o.Action == Pending && (c.item != nil || c == cs.destChange) {
			o.Message = "not applied: judging the set failed, so nothing was applied"
		}
		o.Message = r.red.String(o.Message)
		res.Objects = append(res.Objects, o)
		if o.Hook == nil {
			res.Counts[o.Action]++ // hooks are not objects of the app
		}
	}
	if err != nil {
		res.Phase, res.Message = PhaseFailed, r.red.String(err.Error())
	}
	res.Requests = r.requests()
	res.FinishedAt = time.Now().UTC()
	return res
}

// planned is the action each change verdict reports before it runs.
var planned = map[ChangeAction]Action{
	ChangeCreate: Created, ChangeConfigure: Configured, ChangeUnchanged: Unchanged, ChangeReplace: Replaced,
	ChangeRecreate: Replaced, ChangePrune: Pruned, ChangeOrphan: Orphaned, ChangeSkip: Skipped,
}

// outcome is one change's entry in the result.
func outcome(c *Change, dryRun bool) ObjectResult {
	o := *c.snapshot("")
	if c.Action == ChangeRun {
		return hookOutcome(c, o, dryRun)
	}
	switch {
	case c.Error != "":
		o.Action, o.Message = Failed, c.Error
	case c.Action == ChangeUnchanged:
		o.Action = Unchanged
	case c.Action == ChangeSkip, c.Action == ChangeOrphan:
		o.Action, o.Message = planned[c.Action], c.Reason
	case dryRun && c.Action == ChangePrune:
		o.Action, o.Message = Pruned, "would be pruned"
	case dryRun:
		o.Action, o.Message = planned[c.Action], c.Reason
	case c.Action == ChangePrune:
		if o.Action == Pending && o.Message == "" {
			o.Message = "not pruned: the sync stopped before pruning"
		}
	case !c.applied && o.Action != Failed:
		o.Action, o.Message = Pending, "not applied: the sync stopped before this object's turn"
	}
	return o
}

// hookOutcome is a hook's entry in the result.
func hookOutcome(c *Change, o ObjectResult, dryRun bool) ObjectResult {
	switch {
	case c.Error != "":
		o.Action, o.Message = Failed, c.Error
	case dryRun:
		o.Action, o.Message = Created, "would be created and run in the "+string(c.Phase)+" phase"
	case c.applied || o.Action == Failed:
	case c.Phase == plan.PhaseSyncFail:
		o.Action, o.Message = Skipped, "not run: SyncFail hooks run only when a sync fails"
	default:
		o.Action, o.Message = Pending, "not run: the sync stopped before this hook's turn"
	}
	return o
}
