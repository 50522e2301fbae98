package localcluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	testcluster.StateOnly("the control plane's own tests call Go APIs and print nothing; what they leave in the cluster is swept")
	os.Exit(testcluster.Main(m, &cluster))
}

func deployment(ns, name string, replicas int32) *appsv1ac.DeploymentApplyConfiguration {
	labels := map[string]string{"app": name}
	return appsv1ac.Deployment(name, ns).WithSpec(appsv1ac.DeploymentSpec().
		WithReplicas(replicas).
		WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
		WithTemplate(corev1ac.PodTemplateSpec().
			WithLabels(labels).
			WithSpec(corev1ac.PodSpec().WithContainers(
				corev1ac.Container().WithName("web").WithImage("registry.example/web:1.0"),
			))))
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// A Deployment rolls out for real: the controller manager creates the
// ReplicaSet and pods, the scheduler binds them to the kwok node, and kwok
// reports them Running, so the Deployment becomes Available.
func TestDeploymentBecomesAvailableOnFakeNode(t *testing.T) {
	ctx := context.Background()
	ns := testcluster.Namespace(t, cluster)
	cs := kubernetes.NewForConfigOrDie(cluster.Config)

	if _, err := cs.AppsV1().Deployments(ns).Apply(ctx, deployment(ns, "web", 2), metav1.ApplyOptions{FieldManager: "test"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "Deployment/"+ns+"/web to become Available", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
				return d.Status.AvailableReplicas == 2, nil
			}
		}
		return false, nil
	})

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Fatalf("got %d pods, want 2", len(pods.Items))
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("Pod/%s/%s phase %s, want Running", ns, p.Name, p.Status.Phase)
		}
		if p.Spec.NodeName != cluster.NodeNames[0] {
			t.Errorf("Pod/%s/%s on node %q, want the kwok node %q", ns, p.Name, p.Spec.NodeName, cluster.NodeNames[0])
		}
	}
}

// Foreground deletion is carried out by the real garbage collector: the
// Deployment stays (with a deletionTimestamp) until its ReplicaSet and pods
// are gone.
func TestForegroundDeletionRemovesReplicaSet(t *testing.T) {
	ctx := context.Background()
	ns := testcluster.Namespace(t, cluster)
	cs := kubernetes.NewForConfigOrDie(cluster.Config)

	if _, err := cs.AppsV1().Deployments(ns).Apply(ctx, deployment(ns, "api", 2), metav1.ApplyOptions{FieldManager: "test"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "a ReplicaSet with 2 ready pods", func(ctx context.Context) (bool, error) {
		rs, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		return err == nil && len(rs.Items) == 1 && rs.Items[0].Status.ReadyReplicas == 2, err
	})

	fg := metav1.DeletePropagationForeground
	if err := cs.AppsV1().Deployments(ns).Delete(ctx, "api", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	if err == nil && !containsString(d.Finalizers, metav1.FinalizerDeleteDependents) {
		t.Errorf("Deployment/%s/api finalizers %v, want %q while dependents exist", ns, d.Finalizers, metav1.FinalizerDeleteDependents)
	}
	waitUntil(t, time.Minute, "the Deployment, its ReplicaSet and pods to be gone", func(ctx context.Context) (bool, error) {
		_, err := cs.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		rs, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		if err != nil {
			return false, err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		return err == nil && len(rs.Items) == 0 && len(pods.Items) == 0, err
	})
}

// A server-side dry-run of an invalid object fails with the API server's own
// validation message, and creates nothing.
func TestServerSideDryRunReturnsValidationError(t *testing.T) {
	ctx := context.Background()
	ns := testcluster.Namespace(t, cluster)
	cs := kubernetes.NewForConfigOrDie(cluster.Config)

	_, err := cs.AppsV1().Deployments(ns).Apply(ctx, deployment(ns, "bad", -1), metav1.ApplyOptions{FieldManager: "test", DryRun: []string{metav1.DryRunAll}})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("dry-run of replicas=-1: got %v, want an Invalid error", err)
	}
	if want := "spec.replicas: Invalid value: -1: must be greater than or equal to 0"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain the API server's message %q", err, want)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after a failed dry-run, Get returned %v, want NotFound", err)
	}

	// A valid dry-run passes and still writes nothing.
	if _, err := cs.AppsV1().Deployments(ns).Apply(ctx, deployment(ns, "good", 1), metav1.ApplyOptions{FieldManager: "test", DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run of a valid Deployment: %v", err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "good", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after a dry-run, Get returned %v, want NotFound", err)
	}
}

// Stop leaves no component process and no directory behind.
func TestStopLeavesNothingBehind(t *testing.T) {
	c, err := localcluster.Start(context.Background(), localcluster.Options{ToolsDir: testcluster.ToolsDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	pids := localcluster.ProcessesUsing(c.Dir)
	if len(pids) != 5 {
		t.Errorf("found %d processes using %s, want 5 (etcd, kube-apiserver, controller-manager, scheduler, kwok): %v", len(pids), c.Dir, pids)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := localcluster.ProcessesUsing(c.Dir); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (stat: %v)", c.Dir, err)
	}
	if _, err := os.Stat(filepath.Join(c.Dir, "kubeconfig")); !os.IsNotExist(err) {
		t.Errorf("kubeconfig still exists after Stop")
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// kwok renews a Lease for each fake node: that is the heartbeat the node
// lifecycle controller watches, without which it marks the node NotReady
// (and its pods unready) about a minute after start.
func TestFakeNodesHeartbeatWithLeases(t *testing.T) {
	cs := kubernetes.NewForConfigOrDie(cluster.Config)
	waitUntil(t, 30*time.Second, "a node Lease renewed by kwok", func(ctx context.Context) (bool, error) {
		l, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, cluster.NodeNames[0], metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return l.Spec.RenewTime != nil && time.Since(l.Spec.RenewTime.Time) < time.Minute, nil
	})
}

// The Service IP range holds well over a thousand Services: each of 1,100
// ClusterIP Services gets its own address in ServiceIPRange. (envtest's
// default /24 runs out after about 250 with "range is full".)
func TestThousandsOfServicesGetClusterIPs(t *testing.T) {
	ctx := context.Background()
	ns := testcluster.Namespace(t, cluster)
	cs := kubernetes.NewForConfigOrDie(cluster.Config)
	cidr := netip.MustParsePrefix(localcluster.ServiceIPRange)

	const n, parallel = 1100, 16
	ips := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	slots := make(chan struct{}, parallel)
	for i := range n {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%04d", i), Namespace: ns},
				Spec: corev1.ServiceSpec{
					Type:     corev1.ServiceTypeClusterIP,
					Selector: map[string]string{"app": "none"},
					Ports:    []corev1.ServicePort{{Port: 80}},
				},
			}
			created, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
			if err != nil {
				errs[i] = err
				return
			}
			ips[i] = created.Spec.ClusterIP
		}()
	}
	wg.Wait()
	failed := 0
	for i, err := range errs {
		if err != nil {
			if failed < 3 {
				t.Errorf("Service svc-%04d: %v", i, err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d Services were not created", failed, n)
	}
	seen := map[string]bool{}
	for i, ip := range ips {
		addr, err := netip.ParseAddr(ip)
		if err != nil || !cidr.Contains(addr) {
			t.Fatalf("Service svc-%04d: ClusterIP %q, want one in %s", i, ip, cidr)
		}
		if seen[ip] {
			t.Fatalf("Service svc-%04d: ClusterIP %s given twice", i, ip)
		}
		seen[ip] = true
	}
}

// The API server killed (SIGKILL) and started again serves on the same
// address with the same certificates and etcd's data, and the rest of the
// control plane works with it: a Deployment created after the restart
// rolls out on the kwok node. Twice, so that a restarted API server can be
// killed too; Stop then leaves nothing behind.
func TestAPIServerRestartKeepsDataAndComponents(t *testing.T) {
	ctx := context.Background()
	c, err := localcluster.Start(ctx, localcluster.Options{ToolsDir: testcluster.ToolsDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	cs := kubernetes.NewForConfigOrDie(c.Config)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	for round := 1; round <= 2; round++ {
		if err := c.StopAPIServer(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		_, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "before", metav1.GetOptions{})
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("round %d: with the API server stopped, Get returned %v, want connection refused", round, err)
		}
		names := map[string]bool{}
		for _, name := range localcluster.ProcessesUsing(c.Dir) {
			names[name] = true
		}
		if names["kube-apiserver"] || !names["etcd"] {
			t.Fatalf("round %d: processes after StopAPIServer: %v, want etcd and no kube-apiserver", round, names)
		}
		if err := c.StartAPIServer(ctx); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// The same Config (address, CA, client certificate) works.
		got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "before", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" {
			t.Fatalf("round %d: ConfigMap/default/before after the restart: %v %v", round, got, err)
		}
		name := fmt.Sprintf("after-%d", round)
		if _, err := cs.AppsV1().Deployments("default").Apply(ctx, deployment("default", name, 1), metav1.ApplyOptions{FieldManager: "test"}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		waitUntil(t, time.Minute, "Deployment/default/"+name+" to become Available", func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
			return err == nil && d.Status.AvailableReplicas == 1, nil
		})
	}
	if n := len(localcluster.ProcessesUsing(c.Dir)); n != 5 {
		t.Errorf("%d processes use %s after the restarts, want 5", n, c.Dir)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := localcluster.ProcessesUsing(c.Dir); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
}
