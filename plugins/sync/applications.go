package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/interrupt"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
)

// runApplications syncs each Application of -f in turn, each into the
// cluster its destination names, and fails when any failed.
func (o *Options) runApplications(ctx context.Context) error {
	targets, err := o.AppFile.Targets(o.kubeFlags, o.App.InventoryNamespace)
	if err != nil {
		return err
	}
	project, err := appflags.LoadProject(o.AppFile.ProjectFile)
	if err != nil {
		return err
	}
	var failed []error
	var results []*gsync.Result
	for _, t := range targets {
		res, err := o.syncTarget(ctx, t, project)
		if res != nil {
			results = append(results, res)
		}
		if err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", t.Application.Name, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	if o.Output != "" {
		var doc any = results
		if len(results) == 1 {
			doc = results[0]
		}
		if _, err := output.Print(o.Out, o.Output, doc); err != nil {
			return err
		}
	}
	return errors.Join(failed...)
}

// syncTarget renders, checks against its project and syncs one
// Application.
func (o *Options) syncTarget(ctx context.Context, t *appflags.Target, project *appflags.Project) (*gsync.Result, error) {
	progress := o.Out
	if o.Output != "" {
		progress = o.ErrOut
	}
	c, err := t.Connect(ctx, o.kubeFlags)
	if err != nil {
		return nil, err
	}
	flags := t.Onto(o.App)
	r, err := flags.Source.Render(ctx, nil, c.Kube, o.ErrOut)
	if err != nil {
		return nil, err
	}
	if err := r.RefuseEncrypted(); err != nil {
		return nil, source.Hint(err)
	}
	if err := t.EnforceProject(project, r.Objects, c); err != nil {
		return nil, err
	}
	opts := o.Sync
	opts.SyncOptions = nil
	flags.Options(&opts)
	if !o.changed("prune") {
		opts.Prune = t.Prune // Argo CD prunes only when automated.prune says so
	}
	opts.AllowEmpty = opts.AllowEmpty || t.AllowEmpty
	if t.HistoryLimit > 0 && !o.changed("history-limit") {
		opts.HistoryLimit = t.HistoryLimit
	}
	automated := t.Automated
	opts.MarkAutomated = &automated
	retry := o.Retry
	if t.Retry != nil && !o.changed("retry-limit") {
		retry = *t.Retry
	}
	fmt.Fprintf(progress, "app %s (%s, context %s): %s@%s (%s) path %s, %d objects\n", flags.App, t.Application.File, t.Context, r.Source.Repo, output.ShortSHA(r.Source.Commit), r.Source.Message, r.Source.Path, len(r.Objects))
	opts.OnEvent = newProgress(progress).event
	retry.OnRetry = func(attempt int, wait time.Duration, err error) {
		fmt.Fprintf(progress, "retry %d in %s after: %v\n", attempt, wait, err)
	}
	ctx, stop := interrupt.Graceful(ctx, o.ErrOut, Interrupted)
	defer stop()
	res, syncErr := gsync.New(c, opts).RunWithRetry(ctx, flags.InputWithCommit(r), retry)
	syncErr = lockHint(syncErr, o.Sync.WaitForLock)
	if res != nil && o.Output == "" {
		if err := PrintResult(o.Out, "", res); err != nil {
			return res, err
		}
	}
	return res, syncErr
}

func (o *Options) changed(flag string) bool { return o.flags != nil && o.flags.Changed(flag) }
