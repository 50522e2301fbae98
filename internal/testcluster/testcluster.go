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
package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

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
	code := m.Run()
	signal.Stop(signals)
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
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}
