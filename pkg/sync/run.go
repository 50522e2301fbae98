package sync

import (
	"context"
	gosync "sync"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// source is what in says was rendered, fit to show and store: URLs carry
// no credentials, whatever the caller passed.
func (in Input) source() Source {
	return Source{Repo: source.RedactURL(in.Repo), Origin: source.RedactURL(in.Origin), Path: in.Path, Revision: in.Revision, Commit: in.Commit,
		Author: in.Author, Subject: in.Subject}
}

// run is the state of one sync: its redactor, its request counter and its
// events. Nothing of it lives on the Syncer, so runs do not share it.
type run struct {
	s       *Syncer
	red     *redact.Redactor
	counter cluster.RequestCounter
	started time.Time
	// caller is the context the caller gave, without the sync's deadline:
	// the SyncFail hooks run on it (a signal still stops them).
	caller context.Context

	emitMu gosync.Mutex

	// lock is the app's lock once Apply holds it.
	lock *lock.Lock

	// probeNamespace is an existing namespace in which objects of a
	// namespace this sync creates are judged (a dry-run create).
	probeOnce gosync.Once
	probeNS   string
	probeErr  error
}

func (s *Syncer) newRun(in Input) *run {
	// Secret values must not reach a message: the API server may echo a
	// value it rejects.
	red := redact.NewFromObjects(in.Objects)
	red.Add(in.SecretValues...)
	return &run{s: s, red: red, started: time.Now().UTC()}
}

// context counts this run's requests.
func (r *run) context(ctx context.Context) context.Context {
	return cluster.WithRequestCounter(ctx, &r.counter)
}

func (r *run) requests() Requests {
	reads, writes, dryRuns := r.counter.Counts()
	return Requests{Reads: reads, Writes: writes, DryRuns: dryRuns}
}

func (r *run) redactError(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{msg: r.red.String(err.Error()), err: err}
}

func (r *run) emit(e Event) {
	if r.s.opts.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	if e.Object != nil {
		e.Object.Message = r.red.String(e.Object.Message)
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.s.opts.OnEvent(e)
}

// failedResult is the result of a sync that failed before it had a plan.
func (r *run) failedResult(in Input, err error) *Result {
	res := &Result{App: in.App, Source: in.source(),
		DryRun: r.s.opts.DryRun, StartedAt: r.started, FinishedAt: time.Now().UTC(), Counts: map[Action]int{}, Phase: PhaseFailed,
		Requests: r.requests()}
	if err != nil {
		res.Message = r.red.String(err.Error())
	}
	return res
}
