package sync

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
)

// prune deletes, in order, the members that left Git and are to be pruned,
// and reports the others (orphaned, skipped). It stops at the first failed
// delete: that object is failed, the ones after it are pending (never
// reported as pruned), and the error keeps the API status, so a transient
// failure is retried.
func (s *Syncer) prune(ctx context.Context, r *run, prunes []*Change) error {
	if len(prunes) > 0 {
		r.emit(Event{Type: EventPruneStarted})
	}
	for i, c := range prunes {
		switch c.Action {
		case ChangeSkip:
			c.result.Action, c.result.Message = Skipped, c.Reason
		case ChangeOrphan:
			c.result.Action, c.result.Message = Orphaned, c.Reason
		}
		if c.Action != ChangePrune {
			r.emit(Event{Type: EventObjectPruned, Object: c.snapshot("")})
			continue
		}
		policy := metav1.DeletePropagationForeground
		switch c.opts.PropagationPolicy {
		case plan.PropagationBackground:
			policy = metav1.DeletePropagationBackground
		case plan.PropagationOrphan:
			policy = metav1.DeletePropagationOrphan
		}
		uid := c.Live.GetUID()
		err := s.c.Dynamic.Resource(c.gvr).Namespace(c.Namespace).Delete(ctx, c.Name, metav1.DeleteOptions{
			PropagationPolicy: &policy,
			Preconditions:     &metav1.Preconditions{UID: &uid}, // the very object we listed
		})
		if err != nil && !apierrors.IsNotFound(err) {
			c.result.Action, c.result.Message = Failed, "prune: "+apiMessage(err)
			r.emit(Event{Type: EventObjectPruned, Object: c.snapshot("")})
			for _, later := range prunes[i+1:] {
				if later.Action == ChangePrune {
					later.result.Action, later.result.Message = Pending, "not pruned: the prune stopped at "+c.Ref()
				}
			}
			return fmt.Errorf("%s: prune failed: %w", c.Ref(), &apiError{apiMessage(err), err})
		}
		c.result.Action, c.result.Message = Pruned, ""
		c.applied = true
		r.emit(Event{Type: EventObjectPruned, Object: c.snapshot("")})
	}
	return nil
}
