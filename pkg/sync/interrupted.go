package sync

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

// Interrupted reports whether a sync of app began and recorded no outcome:
// its lock Lease is still there (a sync that ends releases it) and was
// taken after the last sync in the app's history finished. That sync died
// (a SIGKILL, a node lost, an agent leader gone) or still runs. Its objects
// may all be in sync while its hooks, later waves, PostSync phase and
// record are not done: an agent that finds it syncs the app anyway, with
// WaitForLock, and the sync that takes the expired lock over continues the
// dead one (see AnnotationHookRun). One GET of the Lease, and one of the
// inventory when the Lease exists.
func Interrupted(ctx context.Context, c *cluster.Client, inventoryNamespace, app string) (bool, error) {
	inv := inventory.Inventory{App: app, Namespace: inventoryNamespace}
	l, err := c.Kube.CoordinationV1().Leases(inventoryNamespace).Get(ctx, inv.ParentName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read Lease/%s/%s: %w", inventoryNamespace, inv.ParentName(), err)
	}
	if l.Spec.AcquireTime == nil {
		return true, nil
	}
	st, err := inventory.Load(ctx, c, inv)
	if err != nil {
		return false, err
	}
	if n := len(st.History); n > 0 && !st.History[n-1].FinishedAt.Before(l.Spec.AcquireTime.Time) {
		return false, nil // recorded; only the release failed
	}
	return true, nil
}
