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

// waitHealthy waits until every object of the wave is Healthy (or
// Suspended). The first look costs nothing: it judges what the comparison
// read (unchanged objects) and what the writes returned; only objects not
// settled then are polled, each poll one LIST per resource and namespace by
// the ApplySet label. A Degraded object fails the sync at once; the sync's
// deadline bounds the wait, and reaching it fails the wave.
func (s *Syncer) waitHealthy(ctx context.Context, r *run, wave []*Change) error {
	var pending []*Change
	var why []string
	for _, c := range wave {
		if !c.served {
			return fmt.Errorf("%s: its kind is still not served; it was not applied", c.Ref())
		}
		if c.current == nil {
			pending = append(pending, c)
			continue
		}
		h := healthOf(r, c, c.current)
		switch {
		case h.Status == health.Degraded:
			return fmt.Errorf("%s is Degraded: %s", c.Ref(), h.Message)
		case !h.Settled():
			pending = append(pending, c)
			why = append(why, fmt.Sprintf("%s is %s: %s", c.Ref(), h.Status, h.Message))
		}
	}
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return s.healthTimeout(ctx, r, why)
		case <-time.After(s.opts.PollInterval):
		}
		var next []*Change
		why = why[:0]
		for k, cs := range byResource(pending) {
			selector := inventory.LabelPartOf + "=" + cs[0].Desired.GetLabels()[inventory.LabelPartOf]
			list, err := s.c.Dynamic.Resource(k.gvr).Namespace(k.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				if ctx.Err() != nil {
					for _, c := range cs {
						why = append(why, c.Ref()+" was not checked")
					}
					return s.healthTimeout(ctx, r, why)
				}
				return fmt.Errorf("read %s in %q for health: %w", k.gvr.Resource, k.ns, err)
			}
			byName := make(map[string]*unstructured.Unstructured, len(list.Items))
			for i := range list.Items {
				byName[list.Items[i].GetName()] = &list.Items[i]
			}
			for _, c := range cs {
				obj := byName[c.Name]
				if obj != nil {
					c.current = obj
				}
				h := healthOf(r, c, obj)
				switch {
				case h.Status == health.Degraded:
					return fmt.Errorf("%s is Degraded: %s", c.Ref(), h.Message)
				case !h.Settled():
					next = append(next, c)
					why = append(why, fmt.Sprintf("%s is %s: %s", c.Ref(), h.Status, h.Message))
				}
			}
		}
		pending = next
	}
	return nil
}

// HealthTimeoutError says the deadline came while objects were not healthy.
type HealthTimeoutError struct {
	// Pending says, per object, what it was last seen as.
	Pending []string
	hint    string
}

func (e *HealthTimeoutError) Error() string {
	return fmt.Sprintf("timed out waiting for health%s: %s", e.hint, strings.Join(e.Pending, "; "))
}

// Unwrap makes errors.Is(err, context.DeadlineExceeded) hold.
func (e *HealthTimeoutError) Unwrap() error { return context.DeadlineExceeded }

func (s *Syncer) healthTimeout(ctx context.Context, r *run, why []string) error {
	// Masked here too: Pending is read by callers, not only printed.
	pending := make([]string, len(why))
	for i, w := range why {
		pending[i] = r.red.String(w)
	}
	sort.Strings(pending)
	if ctx.Err() == context.Canceled {
		return fmt.Errorf("interrupted while waiting for health: %s", strings.Join(pending, "; "))
	}
	return &HealthTimeoutError{Pending: pending, hint: hintParen(s.opts.Hints.Timeout)}
}

func hintParen(h string) string {
	if h == "" {
		return ""
	}
	return " (" + h + ")"
}
