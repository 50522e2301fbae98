package sync

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
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
//
// A retry waits for the app's lock: the attempt before may have failed to
// release it (the API server did not answer), and its lease then lasts
// until it expires; failing on it at once would make the retry of a
// restarting API server end on its own lock.
//
// When the API server could not be reached, the error says so first
// (*UnreachableError), before what the sync was doing.
func (s *Syncer) RunWithRetry(ctx context.Context, in Input, r RetryOptions) (*Result, error) {
	wait := r.Backoff
	run := s
	for attempt := 0; ; attempt++ {
		res, err := run.Run(ctx, in)
		if err == nil || attempt >= r.Limit || ctx.Err() != nil || !IsTransient(err) {
			return s.explain(res, err)
		}
		if r.OnRetry != nil {
			r.OnRetry(attempt+1, wait, err)
		}
		select {
		case <-ctx.Done():
			return s.explain(res, err)
		case <-time.After(wait):
		}
		wait = time.Duration(float64(wait) * r.Factor)
		if r.MaxBackoff > 0 && wait > r.MaxBackoff {
			wait = r.MaxBackoff
		}
		if !run.opts.WaitForLock {
			again := *s
			again.opts.WaitForLock = true
			run = &again
		}
	}
}

// UnreachableError says the API server did not answer (the connection was
// refused, cut or timed out) while the sync did what Err says.
type UnreachableError struct {
	// Server is the API server's URL (scheme and host).
	Server string
	// Reason is how the connection failed: "connection refused", ...
	Reason string
	// Lock is the app's lock (namespace/name) and LockDuration its
	// duration: the lease may not have been released.
	Lock         string
	LockDuration time.Duration
	Err          error
}

func (e *UnreachableError) Error() string { return e.around(e.Err.Error()) }

// around puts what the error adds around msg, the error of the sync.
func (e *UnreachableError) around(msg string) string {
	msg = fmt.Sprintf("cannot reach the API server at %s (%s); the sync stopped: %s", e.Server, e.Reason, msg)
	if e.Lock != "" {
		msg += fmt.Sprintf("\nthe lock Lease/%s may not have been released: it then lapses %s after its last renewal", e.Lock, e.LockDuration)
	}
	return msg
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// explain leads err with an *UnreachableError when a request of the sync
// could not reach the API server; the result's message says it too.
func (s *Syncer) explain(res *Result, err error) (*Result, error) {
	var uerr *url.Error
	if err == nil || !errors.As(err, &uerr) {
		return res, err
	}
	reason := connectionFailure(uerr.Err)
	if reason == "" {
		return res, err
	}
	server := uerr.URL
	if u, perr := url.Parse(uerr.URL); perr == nil {
		server = u.Scheme + "://" + u.Host
	}
	ue := &UnreachableError{Server: server, Reason: reason, Err: err}
	if res != nil && res.App != "" && !s.opts.DryRun {
		ue.Lock = s.opts.InventoryNamespace + "/" + inventory.Inventory{App: res.App}.ParentName()
		ue.LockDuration = s.opts.LockDuration
	}
	if res != nil {
		res.Message = ue.around(res.Message)
	}
	return res, ue
}

// connectionFailure says how a request failed to reach the API server, or
// "" when it reached it.
func connectionFailure(err error) string {
	var opErr *net.OpError
	switch {
	case utilnet.IsConnectionRefused(err):
		return "connection refused"
	case utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err), utilnet.IsHTTP2ConnectionLost(err):
		return "the connection was cut"
	case errors.As(err, &opErr):
		return opErr.Err.Error()
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return "no answer in time"
	}
	return ""
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
	if errors.As(err, &opErr) {
		return true
	}
	// A connection cut in the middle of a request (the server died): the
	// request may have landed, and the next attempt compares again.
	return utilnet.IsProbableEOF(err) || utilnet.IsHTTP2ConnectionLost(err)
}
