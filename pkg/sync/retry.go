package sync

import (
	"context"
	"errors"
	"net"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
)

// RetryOptions retry a failed sync the way Argo CD's retry does: after
// Backoff, growing by Factor up to MaxBackoff, at most Limit more times; and
// only for transient API errors.
type RetryOptions struct {
	Limit      int
	Backoff    time.Duration
	Factor     float64
	MaxBackoff time.Duration
	// OnRetry is told about each retry before its wait; nil drops it.
	OnRetry func(attempt int, wait time.Duration, err error)
}

// DefaultRetryOptions are Argo CD's defaults, with retries off.
func DefaultRetryOptions() RetryOptions {
	return RetryOptions{Backoff: 5 * time.Second, Factor: 2, MaxBackoff: 3 * time.Minute}
}

// RunWithRetry runs the sync, and again while it fails with a transient
// error and retries are left. The last attempt's result is returned.
func (s *Syncer) RunWithRetry(ctx context.Context, in Input, r RetryOptions) (*Result, error) {
	wait := r.Backoff
	for attempt := 0; ; attempt++ {
		res, err := s.Run(ctx, in)
		if err == nil || attempt >= r.Limit || ctx.Err() != nil || !IsTransient(err) {
			return res, err
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt+1, wait, err)
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(wait):
		}
		wait = time.Duration(float64(wait) * r.Factor)
		if r.MaxBackoff > 0 && wait > r.MaxBackoff {
			wait = r.MaxBackoff
		}
	}
}

// IsTransient reports whether err comes from a condition that may pass by
// itself: an API server conflict (other than field ownership), throttling,
// a server error, or a timeout. Validation and permission errors are not.
func IsTransient(err error) bool {
	// A health deadline is the sync's own bound, not a passing condition:
	// retrying it would make --timeout bound nothing.
	var health *HealthTimeoutError
	if errors.As(err, &health) {
		return false
	}
	var discovery *cluster.DiscoveryFailedError
	if errors.As(err, &discovery) {
		return true // an aggregated API server that is down comes back
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		st := status.Status()
		switch {
		case st.Code == 409 && st.Reason == metav1.StatusReasonAlreadyExists:
			return false // a name taken stays taken
		case st.Code == 409:
			if st.Details != nil {
				for _, c := range st.Details.Causes {
					if c.Type == metav1.CauseTypeFieldManagerConflict {
						return false
					}
				}
			}
			return true
		case st.Code == 429, st.Code >= 500:
			return true
		case st.Reason == metav1.StatusReasonTimeout || st.Reason == metav1.StatusReasonServerTimeout:
			return true
		}
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var opErr *net.OpError // connection refused or reset: the server restarting
	return errors.As(err, &opErr)
}
