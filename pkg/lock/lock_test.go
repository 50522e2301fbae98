package lock_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
)

var lc *localcluster.Cluster

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, &lc)) }

func TestHeldLockFailsAtOnceThenFrees(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	release, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "second"})
	var held *lock.HeldError
	if !errors.As(err, &held) || held.Holder != "first" || held.Since.IsZero() {
		t.Fatalf("second Acquire: %v, want HeldError naming first", err)
	}
	release()
	if _, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("release left the Lease (get: %v)", err)
	}
	release2, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "second"})
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	release2()
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
	release, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "next"})
	if err != nil {
		t.Fatalf("Acquire over an expired lease: %v", err)
	}
	l, err := kube.CoordinationV1().Leases(ns).Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") != "next" {
		t.Errorf("lease holder after takeover: %v %v", err, l)
	}
	release()
}

// With Wait, a second holder waits until the first releases.
func TestWaitForLock(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	release, err := lock.Acquire(context.Background(), kube, lock.Options{Namespace: ns, Name: "app", Holder: "first"})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan time.Time, 1)
	go func() {
		time.Sleep(time.Second)
		released <- time.Now()
		release()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release2, err := lock.Acquire(ctx, kube, lock.Options{Namespace: ns, Name: "app", Holder: "second", Wait: true})
	if err != nil {
		t.Fatalf("waiting Acquire: %v", err)
	}
	defer release2()
	select {
	case <-released:
	default:
		t.Fatal("the waiting Acquire returned before the first holder released")
	}
}
