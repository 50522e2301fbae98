// Package lock keeps two syncs of one app from running at once, with a
// coordination.k8s.io Lease in the cluster, so the lock holds across
// machines. The holder renews it while it works; a crashed holder's lease
// expires after its duration and the next sync takes it over.
//
//	release, err := lock.Acquire(ctx, kube, lock.Options{Namespace: ns, Name: "gitops-web"})
//	if err != nil { return err } // *lock.HeldError names the holder
//	defer release()
package lock

import (
	"context"
	"fmt"
	"os"
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
	// Duration is how long the lease lasts unrenewed. Default 60s.
	Duration time.Duration
	// Wait keeps trying while another holder has it, until ctx ends.
	Wait bool
}

// HeldError says another sync holds the lock.
type HeldError struct {
	Lease  string
	Holder string
	Since  time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("another sync holds Lease/%s: %s, since %s (%s ago); wait for it, or pass --wait-for-lock",
		e.Lease, e.Holder, e.Since.UTC().Format(time.RFC3339), time.Since(e.Since).Round(time.Second))
}

// Acquire takes the lease and keeps renewing it until release is called.
func Acquire(ctx context.Context, kube kubernetes.Interface, opts Options) (release func(), err error) {
	if opts.Duration <= 0 {
		opts.Duration = 60 * time.Second
	}
	if opts.Holder == "" {
		opts.Holder = defaultHolder()
	}
	leases := kube.CoordinationV1().Leases(opts.Namespace)
	for {
		err := tryAcquire(ctx, leases, opts)
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

	renewCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(opts.Duration / 3)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				if l, err := leases.Get(renewCtx, opts.Name, metav1.GetOptions{}); err == nil && ptr.Deref(l.Spec.HolderIdentity, "") == opts.Holder {
					l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
					_, _ = leases.Update(renewCtx, l, metav1.UpdateOptions{})
				}
			}
		}
	}()
	return func() {
		stop()
		<-done
		// Delete only our own lease: the precondition fails if another
		// holder took it over after ours expired.
		l, err := leases.Get(context.Background(), opts.Name, metav1.GetOptions{})
		if err == nil && ptr.Deref(l.Spec.HolderIdentity, "") == opts.Holder {
			_ = leases.Delete(context.Background(), opts.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &l.ResourceVersion}})
		}
	}, nil
}

type leaseClient interface {
	Get(context.Context, string, metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(context.Context, *coordinationv1.Lease, metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(context.Context, *coordinationv1.Lease, metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

func tryAcquire(ctx context.Context, leases leaseClient, opts Options) error {
	now := metav1.NewMicroTime(time.Now())
	spec := coordinationv1.LeaseSpec{
		HolderIdentity:       &opts.Holder,
		LeaseDurationSeconds: ptr.To(int32(opts.Duration / time.Second)),
		AcquireTime:          &now,
		RenewTime:            &now,
	}
	_, err := leases.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: opts.Name, Namespace: opts.Namespace}, Spec: spec}, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("take Lease/%s/%s: %w", opts.Namespace, opts.Name, err)
	}
	cur, err := leases.Get(ctx, opts.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read Lease/%s/%s: %w", opts.Namespace, opts.Name, err)
	}
	if !expired(cur, time.Now()) {
		since := time.Time{}
		if cur.Spec.AcquireTime != nil {
			since = cur.Spec.AcquireTime.Time
		}
		return &HeldError{Lease: opts.Namespace + "/" + opts.Name, Holder: ptr.Deref(cur.Spec.HolderIdentity, "unknown"), Since: since}
	}
	// Expired: take it over; the resourceVersion makes two takers race safely.
	cur.Spec = spec
	if _, err := leases.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) {
			return tryAcquire(ctx, leases, opts)
		}
		return fmt.Errorf("take over expired Lease/%s/%s: %w", opts.Namespace, opts.Name, err)
	}
	return nil
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
