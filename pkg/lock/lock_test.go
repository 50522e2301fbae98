package lock_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
)

var lc *localcluster.Cluster

func TestMain(m *testing.M) {
	// The tests call lock.Acquire and read the Lease: no command output.
	testcluster.StateOnly("the tests call lock.Acquire directly; the Leases they leave are swept")
	os.Exit(testcluster.Main(m, &lc))
}

func TestHeldLockFailsAtOnceThenFrees(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	first, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "second"})
	var held *lock.HeldError
	if !errors.As(err, &held) || held.Holder != "first" || held.Since.IsZero() {
		t.Fatalf("second Acquire: %v, want HeldError naming first", err)
	}
	first.Release()
	if _, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("release left the Lease (get: %v)", err)
	}
	second, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "second"})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	if second.TookOver() {
		t.Errorf("TookOver() true for a lease created after a release")
	}
	second.Release()
}

// A crashed holder's lease (never renewed, never released) expires and the
// next sync takes it over.
func TestExpiredLeaseIsTakenOver(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	old := metav1.NewMicroTime(time.Now().Add(-2 * time.Minute))
	crashed := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To("crashed"), LeaseDurationSeconds: ptr.To(int32(60)), AcquireTime: &old, RenewTime: &old},
	}
	if _, err := kube.CoordinationV1().Leases(ns).Create(context.Background(), crashed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	next, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "next"})
	if err != nil {
		t.Fatalf("Acquire over an expired lease: %v", err)
	}
	l, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != "next" {
		t.Errorf("lease holder after takeover: %v %v", err, l)
	}
	if !next.TookOver() {
		t.Errorf("TookOver() false for a lease taken over from a crashed holder")
	}
	next.Release()
}

// With Wait, a second holder waits until the first releases.
func TestWaitForLock(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	first, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first"})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(time.Second)
		released <- time.Now()
		first.Release()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second, err := lock.Acquire(ctx, kube, lock.Options{Namespace: ns, Name: "app", Holder: "second", Wait: true})
	if err != nil {
		t.Fatalf("waiting Acquire: %v", err)
	}
	defer second.Release()
	select {
	case <-released:
	default:
		t.Fatal("the waiting Acquire returned before the first holder released")
	}
}

// The lease is renewed: a lock held for longer than its duration is still
// held, and no one else can take it.
func TestRenewalKeepsTheLock(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	l, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first", Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	time.Sleep(3 * time.Second)
	if err := l.Err(); err != nil {
		t.Fatalf("lost while renewing: %v", err)
	}
	_, err = lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "second", Duration: 2 * time.Second})
	if !errors.As(err, new(*lock.HeldError)) {
		t.Fatalf("second Acquire after the first duration: %v, want HeldError", err)
	}
}

// Another holder taking the lease over (here by writing it directly, as a
// sync that judged it expired would) is seen at the next renewal: Lost
// closes, the lock's context is cancelled with the cause, and Release
// leaves the other holder's lease alone.
func TestTakeoverLosesTheLock(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	l, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first", Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	ctx, cancel := l.Context(context.Background())
	defer cancel()

	lease, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease.Spec.HolderIdentity = ptr.To("second")
	if _, err := kube.CoordinationV1().Leases(ns).Update(context.Background(), lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLost(t, l, 3*time.Second)
	var lost *lock.LostError
	if !errors.As(l.Err(), &lost) || lost.Holder != "second" {
		t.Fatalf("Err() = %v, want a LostError naming second", l.Err())
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
		t.Fatal("the lock's context is not cancelled after the lock was lost")
	}
	if cause := context.Cause(ctx); cause != l.Err() {
		t.Errorf("context cause %v, want %v", cause, l.Err())
	}
	l.Release()
	got, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil || ptr.Deref(got.Spec.HolderIdentity, "") != "second" {
		t.Errorf("after Release the other holder's lease is %v (get: %v)", got, err)
	}
}

func TestDeletedLeaseLosesTheLock(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	l, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first", Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if err := kube.CoordinationV1().Leases(ns).Delete(context.Background(), "app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLost(t, l, 3*time.Second)
	var lost *lock.LostError
	if !errors.As(l.Err(), &lost) || !lost.Deleted {
		t.Fatalf("Err() = %v, want a LostError saying the lease was deleted", l.Err())
	}
}

// When renewals fail (the API server stays up, this client's requests do
// not reach it), the holder gives up before the lease can expire, so it
// never writes while another sync could already hold the lease.
func TestFailingRenewalsLoseTheLockBeforeExpiry(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	tr, kube := switchableClient(t)
	const duration = 3 * time.Second
	l, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first", Duration: duration})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	time.Sleep(1500 * time.Millisecond) // after one good renewal
	tr.mode.Store(failReads)
	waitLost(t, l, duration)
	lostAt := time.Now()
	var lost *lock.LostError
	if !errors.As(l.Err(), &lost) || lost.Err == nil || lost.Holder != "" || lost.Deleted {
		t.Fatalf("Err() = %v, want a LostError carrying the renewal error", l.Err())
	}
	lease, err := kubernetes.NewForConfigOrDie(lc.Config).CoordinationV1().Leases(ns).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if expiry := lease.Spec.RenewTime.Add(duration); !lostAt.Before(expiry) {
		t.Errorf("lost at %s, after the lease expired at %s", lostAt.Format(time.StampMilli), expiry.Format(time.StampMilli))
	}
}

// Release returns within ReleaseTimeout on a server that does not answer.
func TestReleaseIsBoundedOnAnUnreachableServer(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	tr, kube := switchableClient(t)
	l, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first", ReleaseTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tr.mode.Store(hangAll)
	done := make(chan struct{})
	start := time.Now()
	go func() { l.Release(); close(done) }()
	select {
	case <-done:
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Release took %s with a 500ms timeout", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Release still blocked after 10s on an unreachable server")
	}
}

func waitLost(t *testing.T, l *lock.Lock, within time.Duration) {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(within):
		t.Fatalf("the lock was not lost within %s", within)
	}
}

const (
	pass = iota
	failReads
	hangAll
)

// switchTransport passes requests to the real API server until its mode
// changes: failReads fails GET and PUT (what renewal sends), hangAll makes
// every request wait until its context ends, as a server that went away
// without closing connections would.
type switchTransport struct {
	next http.RoundTripper
	mode atomic.Int32
}

func (s *switchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch s.mode.Load() {
	case failReads:
		if req.Method == http.MethodGet || req.Method == http.MethodPut {
			return nil, errors.New("injected failure: connection refused")
		}
	case hangAll:
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	return s.next.RoundTrip(req)
}

func switchableClient(t *testing.T) (*switchTransport, kubernetes.Interface) {
	t.Helper()
	tr := &switchTransport{}
	cfg := rest.CopyConfig(lc.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { tr.next = rt; return tr })
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr, kube
}
