package sync

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
)

func TestIsTransientBoundaries(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"health timeout: the sync's own bound", fmt.Errorf("wave 1: %w", &HealthTimeoutError{Pending: []string{"Deployment/a/b is Progressing"}}), false},
		{"discovery of a group failed", fmt.Errorf("Route/a/b: %w", &cluster.DiscoveryFailedError{Group: "route.openshift.io", Err: errors.New("503")}), true},
		{"a bare deadline", context.DeadlineExceeded, true},
		{"anything else", errors.New("spec.replicas: Invalid value"), false},
	} {
		if got := IsTransient(tt.err); got != tt.want {
			t.Errorf("%s: IsTransient = %v, want %v", tt.name, got, tt.want)
		}
	}
}
