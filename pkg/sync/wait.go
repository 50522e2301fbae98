package sync

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

// waitHealthy polls the wave's objects until all are Healthy (or
// Suspended). A Degraded object fails the sync at once; the sync's deadline
// bounds the wait. Each poll is one LIST per resource and namespace, by the
// ApplySet label.
func (s *Syncer) waitHealthy(ctx context.Context, wave []*target) error {
	groups := byResource(wave)
	for {
		var pending []string
		for k, ts := range groups {
			selector := inventory.LabelPartOf + "=" + ts[0].item.Object.GetLabels()[inventory.LabelPartOf]
			list, err := s.c.Dynamic.Resource(k.gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("read %s in %q for health: %w", k.gvr.Resource, k.ns, err)
			}
			byName := map[string]*unstructured.Unstructured{}
			for i := range list.Items {
				byName[list.Items[i].GetName()] = &list.Items[i]
			}
			for _, t := range ts {
				h := s.healthOf(t, byName[t.item.Object.GetName()])
				switch {
				case h.Status == health.Degraded:
					return fmt.Errorf("%s is Degraded: %s", t.ref(), h.Message)
				case !h.Settled():
					pending = append(pending, fmt.Sprintf("%s is %s: %s", t.ref(), h.Status, h.Message))
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(pending)
			return fmt.Errorf("timed out waiting for health (--timeout): %s", strings.Join(pending, "; "))
		case <-time.After(s.opts.PollInterval):
		}
	}
}
