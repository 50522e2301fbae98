// Package faults_test puts the sync under control-plane faults, end to end:
// the API server killed in the middle of a wave and started again, the sync
// process killed while it holds its lock, and storms of 409, 429 and 5xx
// from a proxy in front of the real API server.
//
// The package starts a control plane of its own (these tests stop its API
// server, which must not disturb other packages' tests) and runs the plugin
// binary built in TestMain.
package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

var (
	lc  *localcluster.Cluster
	bin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kubectl-gitops-faults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "kubectl-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-gitops").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testcluster.Main(m, &lc)
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncProc is one run of the plugin.
type syncProc struct {
	args        []string
	cmd         *exec.Cmd
	out, errOut lockedBuffer
	done        chan struct{}
	code        int
}

// lockedBuffer is a bytes.Buffer that may be read while the process writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startGitops runs the plugin with kubeconfig and args, in the background.
func startGitops(t *testing.T, kubeconfig string, args ...string) *syncProc {
	t.Helper()
	p := &syncProc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	p.cmd.Env = append(os.Environ(), "GIT_TOKEN=", "XDG_CACHE_HOME="+t.TempDir())
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -1
		}
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the run to end, at most limit, and returns its exit code.
func (p *syncProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		p.capture(t)
		return p.code
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("the sync did not end within %s; killed it\n%s%s", limit, p.out.String(), p.errOut.String())
		return -1
	}
}

// capture hands the run's output to the leak sweep.
func (p *syncProc) capture(t *testing.T) {
	t.Helper()
	cmdline := "kubectl-gitops " + strings.Join(p.args, " ")
	leaksweep.Capture(t, "stdout of `"+cmdline+"`", p.out.String())
	leaksweep.Capture(t, "stderr of `"+cmdline+"`", p.errOut.String())
}

func (p *syncProc) output() string { return p.out.String() + p.errOut.String() }

// gitops runs the plugin to its end.
func gitops(t *testing.T, kubeconfig string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := startGitops(t, kubeconfig, args...)
	code = p.wait(t, 4*time.Minute)
	return p.out.String(), p.errOut.String(), code
}

// result is the part of sync -o json the tests read.
type result struct {
	App, Phase, Message string
	Counts              map[string]int
	Objects             []struct {
		Group, Kind, Namespace, Name string
		Action, Health, Message      string
	}
}

func parseResult(t *testing.T, stdout string) result {
	t.Helper()
	var r result
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("sync -o json printed no JSON document: %v\n%s", err, stdout)
	}
	return r
}

// actions maps Kind/name to the action the result reports.
func (r result) actions() map[string]string {
	out := map[string]string{}
	for _, o := range r.Objects {
		out[o.Kind+"/"+o.Name] = o.Action
	}
	return out
}

// pruned is the Kind/name of each object the result reports pruned, sorted.
func (r result) pruned() []string {
	var out []string
	for ref, action := range r.actions() {
		if action == "pruned" {
			out = append(out, ref)
		}
	}
	slices.Sort(out)
	return out
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func kube(t *testing.T) kubernetes.Interface {
	t.Helper()
	return kubernetes.NewForConfigOrDie(lc.Config)
}

// configMap is a ConfigMap manifest, in wave.
func configMap(name string, wave int) string {
	return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s\n  annotations: {argocd.argoproj.io/sync-wave: \"%d\"}\ndata: {name: %s}\n", name, wave, name)
}

// gateLabel is the node label a gated Deployment's pods select: until
// openGate sets it on the kwok node they are unschedulable, so the
// Deployment stays Progressing and holds its wave on the health gate.
func gateLabel(ns string) string { return "gate.faults.test/" + ns }

// gatedDeployment is a Deployment in wave whose pods run only once the
// gate of ns is open.
func gatedDeployment(name, ns string, wave int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  annotations: {argocd.argoproj.io/sync-wave: "%[3]d"}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      nodeSelector: {%[2]s: open}
      containers: [{name: main, image: registry.example/%[1]s:1.0}]
`, name, gateLabel(ns), wave)
}

// openGate lets the gated Deployments of ns schedule; the label goes when
// the test ends.
func openGate(t *testing.T, ns string) {
	t.Helper()
	setNodeLabel(t, gateLabel(ns), "open")
	t.Cleanup(func() { setNodeLabel(t, gateLabel(ns), "") })
}

var nodeMu sync.Mutex

func setNodeLabel(t *testing.T, key, value string) {
	t.Helper()
	nodeMu.Lock()
	defer nodeMu.Unlock()
	var v any = value
	if value == "" {
		v = nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
	for _, node := range lc.NodeNames {
		if _, err := kube(t).CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Errorf("label Node/%s: %v", node, err)
		}
	}
}

// waitExists waits until the app's sync has written Kind/name in ns.
func waitExists(t *testing.T, ns, kind, name string) {
	t.Helper()
	waitUntil(t, 2*time.Minute, kind+"/"+ns+"/"+name+" to be written by the sync", func(ctx context.Context) (bool, error) {
		obj, err := get(ctx, ns, kind, name)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && obj.GetLabels()[inventory.LabelPartOf] != "", err
	})
}

var resources = map[string]schema.GroupVersionResource{
	"ConfigMap":  {Version: "v1", Resource: "configmaps"},
	"Secret":     {Version: "v1", Resource: "secrets"},
	"Service":    {Version: "v1", Resource: "services"},
	"Deployment": {Group: "apps", Version: "v1", Resource: "deployments"},
}

func get(ctx context.Context, ns, kind, name string) (*unstructured.Unstructured, error) {
	c, err := cluster.New(lc.Config)
	if err != nil {
		return nil, err
	}
	return c.Dynamic.Resource(resources[kind]).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
}

// uids returns the UID of each Kind/name in ns ("" when missing).
func uids(t *testing.T, ns string, refs ...string) map[string]types.UID {
	t.Helper()
	out := map[string]types.UID{}
	for _, ref := range refs {
		kind, name, _ := strings.Cut(ref, "/")
		obj, err := get(context.Background(), ns, kind, name)
		switch {
		case apierrors.IsNotFound(err):
			out[ref] = ""
		case err != nil:
			t.Fatalf("get %s: %v", ref, err)
		default:
			out[ref] = obj.GetUID()
		}
	}
	return out
}

// checkInventory checks that the app's inventory (its ApplySet parent in
// ns) covers every object in ns that carries the app's part-of label:
// inventory.ListMembers, bounded by the parent's group-kinds and
// namespaces, finds each of them (those being deleted too); and it returns
// the Kind/name of those not being deleted.
func checkInventory(t *testing.T, ns, app string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := cluster.New(lc.Config)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory.Inventory{App: app, Namespace: ns}
	st, err := inventory.Load(ctx, c, inv)
	if err != nil || !st.Exists {
		t.Fatalf("inventory of %s in %s: exists %v, %v", app, ns, st != nil && st.Exists, err)
	}
	members, err := inventory.ListMembers(ctx, c, inv, st.GroupKinds, st.Namespaces, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, m := range members {
		found[m.Object.GetKind()+"/"+m.Object.GetName()] = true
	}
	var labelled []string
	for kind, gvr := range resources {
		list, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: inventory.LabelPartOf + "=" + inv.ID()})
		if err != nil {
			t.Fatal(err)
		}
		for _, obj := range list.Items {
			ref := kind + "/" + obj.GetName()
			if obj.GetDeletionTimestamp() == nil {
				labelled = append(labelled, ref) // a pruned object may take a moment to go
			}
			if !found[ref] {
				t.Errorf("%s carries the part-of label of %s, but the inventory (group-kinds %v, namespaces %v) does not cover it", ref, app, st.GroupKinds, st.Namespaces)
			}
		}
	}
	slices.Sort(labelled)
	return labelled
}

// deploymentAvailable says whether Deployment ns/name has all its replicas
// available.
func deploymentAvailable(t *testing.T, ns, name string) bool {
	t.Helper()
	d, err := kube(t).AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Deployment/%s/%s: %v", ns, name, err)
	}
	for _, c := range d.Status.Conditions {
		if c.Type == "Available" && c.Status == corev1.ConditionTrue {
			return d.Status.AvailableReplicas == *d.Spec.Replicas
		}
	}
	return false
}
