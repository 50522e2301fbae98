// Package lock keeps two syncs of one app from running at once, with a
// coordination.k8s.io Lease in the cluster, so the lock holds across
// machines. The holder renews it while it works; a crashed holder's lease
// expires after its duration and the next sync takes it over.
//
// A holder can lose the lock: another holder took the lease over, someone
// deleted it, or renewals failed for so long that it may have expired. Then
// Lost is closed and Err says why; work done under Context stops.
//
//	l, err := lock.Acquire(ctx, kube, lock.Options{Namespace: ns, Name: "gitops-web"})
//	if err != nil { return err } // *lock.HeldError names the holder
//	defer l.Release()
//	ctx, cancel := l.Context(ctx) // cancelled, with cause l.Err(), if the lock is lost
//	defer cancel()
package lock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Options describe the lease.
type Options struct {
	// Namespace and Name of the Lease.
	Namespace, Name string
	// Holder identifies this process; default user@host:pid.
	Holder string
	// Duration is how long the lease lasts unrenewed; at least a second.
	// It is renewed every Duration/3. Default 60s.
	Duration time.Duration
	// Wait keeps trying while another holder has it, until ctx ends.
	Wait bool
	// ReleaseTimeout bounds Release, whatever the state of the API server.
	// Default 10s.
	ReleaseTimeout time.Duration
}

// HeldError says another sync holds the lock.
type HeldError struct {
	Lease  string
	Holder string
	Since  time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another sync holds Lease/%s: %s, since %s (%s ago); wait for it to finish",
		e.Lease, e.Holder, e.Since.UTC().Format(time.RFC3339), time.Since(e.Since).Round(time.Second))
}

// LostError says why a held lock was lost: another Holder took the lease
// over, it was Deleted, or it went Unrenewed too long.
type LostError struct {
	// Lease is namespace/name.
	Lease string
	// Holder took the lease over.
	Holder string
	// Deleted is set when the Lease was deleted.
	Deleted bool
	// Unrenewed is how long the lease had gone without a renewal when the
	// holder gave up, before the lease could expire; Err is the last
	// renewal error (nil if none was tried: the process was suspended).
	Unrenewed time.Duration
	Err       error
}

func (e *LostError) Error() string {
	switch {
	case e.Holder != "":
		return fmt.Sprintf("lost the lock: Lease/%s is held by %s now; stopped so that two syncs do not write at once", e.Lease, e.Holder)
	case e.Deleted:
		return fmt.Sprintf("lost the lock: Lease/%s was deleted; stopped so that two syncs do not write at once", e.Lease)
	case e.Err != nil:
		return fmt.Sprintf("lost the lock: Lease/%s not renewed for %s, so another sync may take it over; stopped (last renewal error: %v); check the connection to the API server", e.Lease, e.Unrenewed.Round(time.Millisecond), e.Err)
	default:
		return fmt.Sprintf("lost the lock: Lease/%s not renewed for %s, so another sync may take it over; stopped", e.Lease, e.Unrenewed.Round(time.Millisecond))
	}
}

// Unwrap returns the last renewal error, if that is why the lock was lost.
func (e *LostError) Unwrap() error { return e.Err }

// Lock is a held lease. Its methods are safe for concurrent use.
type Lock struct {
	leases leaseClient
	opts   Options
	ref    string // namespace/name

	// base carries the values of Acquire's context (a request counter, say)
	// to the renewals and the release, without its cancellation.
	base      context.Context
	stopRenew context.CancelFunc
	renewed   chan struct{} // closed when the renewer has stopped
	lost      chan struct{}
	released  chan struct{}
	release   sync.Once

	mu    sync.Mutex
	err   error
	lease *coordinationv1.Lease // as last written by us; guarded by mu
	// tookOver: the lease was another holder's, expired, and taken over
	// (that holder died, or could not release it), not created.
	tookOver bool
}

// TookOver says the lease was taken over from a holder whose lease had
// expired, rather than created: a holder that died under way, or one that
// could not release it.
func (l *Lock) TookOver() bool { return l.tookOver }

// Acquire takes the lease and keeps renewing it until Release is called or
// the lock is lost.
func Acquire(ctx context.Context, kube kubernetes.Interface, opts Options) (*Lock, error) {
	if opts.Duration <= 0 {
		opts.Duration = 60 * time.Second
	}
	if opts.ReleaseTimeout <= 0 {
		opts.ReleaseTimeout = 10 * time.Second
	}
	if opts.Holder == "" {
		opts.Holder = defaultHolder()
	}
	ref := opts.Namespace + "/" + opts.Name
	if opts.Duration < time.Second {
		return nil, fmt.Errorf("Lease/%s: duration %s is shorter than a second; give 1s or more", ref, opts.Duration)
	}
	leases := kube.CoordinationV1().Leases(opts.Namespace)
	var lease *coordinationv1.Lease
	var renewedAt time.Time
	tookOver := false
	for {
		renewedAt = time.Now()
		var err error
		lease, tookOver, err = tryAcquire(ctx, leases, opts)
		if err == nil {
			break
		}
		if _, held := err.(*HeldError); !held || !opts.Wait {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up waiting: %v)", err, ctx.Err())
		case <-time.After(2 * time.Second):
		}
	}
	base := context.WithoutCancel(ctx)
	renewCtx, stop := context.WithCancel(base)
	l := &Lock{
		leases: leases, opts: opts, ref: ref, lease: lease, base: base, tookOver: tookOver,
		stopRenew: stop, renewed: make(chan struct{}), lost: make(chan struct{}), released: make(chan struct{}),
	}
	go l.renew(renewCtx, renewedAt)
	return l, nil
}

// Lost is closed when the lock is lost; never after Release.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Err says why the lock was lost (a *LostError); nil while it is held and
// after Release.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Context returns a context derived from parent that is cancelled, with
// cause Err(), when the lock is lost. Call cancel when done with it.
func (l *Lock) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-l.lost:
			cancel(l.Err())
		case <-l.released:
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Release stops renewing and deletes the lease if it is still ours. It
// returns within Options.ReleaseTimeout even when the API server does not
// answer; an undeleted lease then expires after its duration. Calls after
// the first do nothing.
func (l *Lock) Release() {
	l.release.Do(func() {
		l.stopRenew()
		<-l.renewed
		close(l.released)
		if l.Err() != nil {
			return // not ours any more
		}
		ctx, cancel := context.WithTimeout(l.base, l.opts.ReleaseTimeout)
		defer cancel()
		l.mu.Lock()
		rv := l.lease.ResourceVersion
		l.mu.Unlock()
		// The precondition makes this delete only the lease as we last
		// wrote it; if it changed since, delete it only if still ours.
		err := l.leases.Delete(ctx, l.opts.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		if apierrors.IsConflict(err) {
			cur, err := l.leases.Get(ctx, l.opts.Name, metav1.GetOptions{})
			if err == nil && ptr.Deref(cur.Spec.HolderIdentity, "") == l.opts.Holder {
				_ = l.leases.Delete(ctx, l.opts.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &cur.ResourceVersion}})
			}
		}
	})
}

// renew renews the lease every Duration/3, and after a failed renewal
// retries every Duration/12. It gives up, and the lock is lost, when a
// quarter of Duration is left since the last renewal that succeeded: that
// margin covers request latency and clock skew between this machine and
// the next holder's.
func (l *Lock) renew(ctx context.Context, renewedAt time.Time) {
	defer close(l.renewed)
	interval := l.opts.Duration / 3
	timer := time.NewTimer(interval)
	defer timer.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		giveUp := renewedAt.Add(l.opts.Duration - l.opts.Duration/4)
		if !time.Now().Before(giveUp) {
			l.lose(&LostError{Lease: l.ref, Unrenewed: time.Since(renewedAt), Err: lastErr})
			return
		}
		reqCtx, cancel := context.WithDeadline(ctx, giveUp)
		started := time.Now()
		err := l.renewOnce(reqCtx)
		cancel()
		if ctx.Err() != nil {
			return // released meanwhile
		}
		var lost *LostError
		switch {
		case errors.As(err, &lost):
			l.lose(lost)
			return
		case err == nil:
			renewedAt, lastErr = started, nil
			timer.Reset(interval)
		default:
			lastErr = err
			timer.Reset(min(interval/4, max(time.Until(giveUp), 0)))
		}
	}
}

// renewOnce writes a new renew time over the lease as we last wrote it;
// the resourceVersion makes the update fail if anyone changed it since.
// It returns a *LostError when the lease is gone or another's.
func (l *Lock) renewOnce(ctx context.Context) error {
	l.mu.Lock()
	next := l.lease.DeepCopy()
	l.mu.Unlock()
	for attempt := 0; ; attempt++ {
		next.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		updated, err := l.leases.Update(ctx, next, metav1.UpdateOptions{})
		switch {
		case err == nil:
			l.mu.Lock()
			l.lease = updated
			l.mu.Unlock()
			return nil
		case apierrors.IsNotFound(err):
			return &LostError{Lease: l.ref, Deleted: true}
		case !apierrors.IsConflict(err) || attempt > 0:
			return fmt.Errorf("renew Lease/%s: %w", l.ref, err)
		}
		// Changed since we wrote it: still ours (our last update went
		// through unanswered, or someone edited a label), or lost?
		cur, err := l.leases.Get(ctx, l.opts.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return &LostError{Lease: l.ref, Deleted: true}
		case err != nil:
			return fmt.Errorf("read Lease/%s: %w", l.ref, err)
		case ptr.Deref(cur.Spec.HolderIdentity, "") != l.opts.Holder:
			return &LostError{Lease: l.ref, Holder: ptr.Deref(cur.Spec.HolderIdentity, "nobody")}
		}
		next = cur
	}
}

func (l *Lock) lose(err *LostError) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	close(l.lost)
}

type leaseClient interface {
	Get(context.Context, string, metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(context.Context, *coordinationv1.Lease, metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(context.Context, *coordinationv1.Lease, metav1.UpdateOptions) (*coordinationv1.Lease, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
}

func tryAcquire(ctx context.Context, leases leaseClient, opts Options) (_ *coordinationv1.Lease, tookOver bool, _ error) {
	now := metav1.NewMicroTime(time.Now())
	spec := coordinationv1.LeaseSpec{
		HolderIdentity:       &opts.Holder,
		LeaseDurationSeconds: ptr.To(int32(opts.Duration / time.Second)),
		AcquireTime:          &now,
		RenewTime:            &now,
	}
	created, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Namespace: opts.Namespace}, Spec: spec}, metav1.CreateOptions{})
	if err == nil {
		return created, false, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return nil, false, fmt.Errorf("take Lease/%s/%s: %w", opts.Namespace, opts.Name, err)
	}
	cur, err := leases.Get(ctx, opts.Name, metav1.GetOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("read Lease/%s/%s: %w", opts.Namespace, opts.Name, err)
	}
	if !expired(cur, time.Now()) {
		since := time.Time{}
		if cur.Spec.AcquireTime != nil {
			since = cur.Spec.AcquireTime.Time
		}
		return nil, false, &HeldError{Lease: opts.Namespace + "/" + opts.Name, Holder: ptr.Deref(cur.Spec.HolderIdentity, "unknown"), Since: since}
	}
	// Expired: take it over; the resourceVersion makes two takers race
	// safely. The times are those of now, after the expiry was seen, not
	// of the create tried first: the lease then never claims to have been
	// taken before the former one expired.
	at := metav1.NewMicroTime(time.Now())
	spec.AcquireTime, spec.RenewTime = &at, &at
	cur.Spec = spec
	updated, err := leases.Update(ctx, cur, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsConflict(err) {
			return tryAcquire(ctx, leases, opts)
		}
		return nil, false, fmt.Errorf("take over expired Lease/%s/%s: %w", opts.Namespace, opts.Name, err)
	}
	return updated, true, nil
}

func expired(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return now.After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

func defaultHolder() string {
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = "unknown"
	}
	return fmt.Sprintf("%s@%s:%d", user, host, os.Getpid())
}
