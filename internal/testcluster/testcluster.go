// Package testcluster gives a test package one real local control plane,
// shared by all of its tests, and a namespace per test.
//
//	var cluster *localcluster.Cluster
//
//	func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, &cluster)) }
//
//	func TestSomething(t *testing.T) {
//		ns := testcluster.Namespace(t, cluster)
//		...
//	}
//
// The tools are built first when the cache lacks them, so a plain `go test`
// works on a fresh machine (slowly, once). The tests never skip for want of a
// cluster: a failure to start one fails the package.
//
// Every test that gets a namespace is swept for leaked secrets (see
// internal/leaksweep): the Events of its namespace are captured when it
// ends, with whatever the package's runners captured, and Main prints how
// many captures were swept. A full run (no -run) of a package whose tests
// used a namespace but captured no output fails: its runners are not wired.
package testcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// namespaces counts the namespaces Namespace made in this process.
var namespaces atomic.Int64

// stateOnly is why the package's tests have no output to sweep; see
// StateOnly.
var stateOnly string

// StateOnly declares, before Main, that the package's tests call the engine
// directly and print nothing: the sweep covers only what they leave in the
// cluster (Events, inventories, Leases), and a full run that captured no
// output does not fail. why says so; keep this for packages like pkg/lock.
func StateOnly(why string) { stateOnly = why }

// Main starts a cluster into *cluster, runs the tests, stops the cluster and
// returns the exit code for os.Exit. SIGINT and SIGTERM stop the cluster
// before the process exits.
func Main(m *testing.M, cluster **localcluster.Cluster) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := tools.Ensure(ctx, tools.Options{Log: os.Stderr})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		return 1
	}
	c, err := localcluster.Start(ctx, localcluster.Options{ToolsDir: dir})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: %v\n", err)
		return 1
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "testcluster: %v: stopping the control plane\n", sig)
		_ = c.Stop()
		os.Exit(130)
	}()
	*cluster = c
	registerCredentials(c)
	code := m.Run()
	signal.Stop(signals)
	if sweepCode := sweepSummary(); code == 0 {
		code = sweepCode
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testcluster: stop: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// ToolsDir returns the complete tools directory, failing t when there is none.
func ToolsDir(t testing.TB) string {
	t.Helper()
	dir, err := tools.Ensure(context.Background(), tools.Options{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Namespace creates a namespace named after the test and deletes it when the
// test ends.
func Namespace(t testing.TB, c *localcluster.Cluster) string {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(c.Config)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("%s-%d", strings.Trim(name, "-"), time.Now().UnixNano()%100000)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Namespace/%s: %v", name, err)
	}
	namespaces.Add(1)
	// The sweep runs after both cleanups below (cleanups run last first):
	// the Events are read before the namespace goes.
	leaksweep.Begin(t)
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	t.Cleanup(func() {
		CaptureEvents(t, c, name)
		captureInventories(t, cs, name)
	})
	return name
}

// captureInventories captures the inventory ConfigMaps (ApplySet parents)
// of namespace ns, history included, and its Leases (the sync lock, leader
// election): what the tool leaves in the cluster.
func captureInventories(t testing.TB, cs kubernetes.Interface, ns string) {
	t.Helper()
	cms, err := cs.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "applyset.kubernetes.io/id"})
	if err != nil {
		t.Errorf("leaksweep: list the inventories of namespace %s: %v", ns, err)
		return
	}
	for _, cm := range cms.Items {
		b, _ := json.Marshal(map[string]any{"labels": cm.Labels, "annotations": cm.Annotations, "data": cm.Data})
		leaksweep.CaptureState(t, "inventory ConfigMap/"+ns+"/"+cm.Name, string(b))
	}
	leases, err := cs.CoordinationV1().Leases(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Errorf("leaksweep: list the Leases of namespace %s: %v", ns, err)
		return
	}
	for _, l := range leases.Items {
		b, _ := json.Marshal(map[string]any{"labels": l.Labels, "annotations": l.Annotations, "spec": l.Spec})
		leaksweep.CaptureState(t, "Lease/"+ns+"/"+l.Name, string(b))
	}
}

// CaptureEvents captures for the leak sweep every Event of namespace ns,
// by name and involved object. Namespace does it for the test's namespace;
// a test calls it for another namespace its commands write Events to (the
// agent's Application namespace), before the sweep.
func CaptureEvents(t testing.TB, c *localcluster.Cluster, ns string) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(c.Config)
	events, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Errorf("leaksweep: list the Events of namespace %s: %v", ns, err)
		return
	}
	for _, e := range events.Items {
		o := e.InvolvedObject
		what := fmt.Sprintf("Event %s/%s (%s on %s/%s, from %s%s)", ns, e.Name, e.Reason, o.Kind, o.Name, e.Source.Component, e.ReportingController)
		text := e.Reason + "\n" + e.Message + "\n" + e.Action + "\n" + o.FieldPath
		for k, v := range e.Annotations {
			text += "\n" + k + "=" + v
		}
		leaksweep.CaptureState(t, what, text)
	}
}

// registerCredentials registers the control plane's client key and token
// as secrets: no test output may show them.
func registerCredentials(c *localcluster.Cluster) {
	register := func(label, value string) {
		if len(value) >= leaksweep.MinLen {
			_ = leaksweep.Register(label, value)
		}
	}
	register("test cluster bearer token", c.Config.BearerToken)
	key := string(c.Config.KeyData)
	if key == "" && c.Config.KeyFile != "" {
		b, _ := os.ReadFile(c.Config.KeyFile)
		key = string(b)
	}
	register("test cluster client key", strings.TrimSpace(key))
	// Each line of the PEM body too, for a key printed in part.
	for _, line := range strings.Split(key, "\n") {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "-----") {
			register("test cluster client key (a line)", line)
		}
	}
}

// sweepSummary prints what the leak sweep saw and fails a full run whose
// tests used a namespace but captured no output.
func sweepSummary() int {
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	if stateOnly != "" {
		fmt.Fprintf(os.Stderr, "leaksweep: %s: cluster state only: %s\n", pkg, stateOnly)
	}
	return leaksweep.Finish(os.Stderr, pkg, namespaces.Load() > 0 && stateOnly == "")
}
