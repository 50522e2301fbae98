// Package localcluster runs a real, throwaway Kubernetes control plane on
// loopback: etcd and kube-apiserver (through envtest), kube-controller-manager,
// kube-scheduler, and kwok with fake nodes, so that Deployments roll out, pods
// reach Running and the garbage collector deletes dependents, without a
// container runtime.
//
// Every process runs in its own process group and writes its log to a file in
// the cluster's directory. A guard process, started before anything else,
// waits on a pipe from this process: when the pipe closes, because Stop ran or
// because this process died in any way, the guard stops every process whose
// command line names the cluster directory and removes that directory. So a
// test binary killed by a timeout, or a Ctrl-C, leaves nothing behind.
//
//	c, err := localcluster.Start(ctx, localcluster.Options{ToolsDir: dir})
//	if err != nil { ... }
//	defer c.Stop()
//	client := kubernetes.NewForConfigOrDie(c.Config)
package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// FakeNodeAnnotation marks the nodes that kwok manages. Nodes without it are
// left alone, so a real node could join the same cluster.
const FakeNodeAnnotation = "kwok.x-k8s.io/node"

// ServiceIPRange is the Service ClusterIP range of kube-apiserver and
// kube-controller-manager: a /16, room for 65,000 Services. (envtest's
// default, 10.0.0.0/24, is full after about 250.)
const ServiceIPRange = "10.96.0.0/16"

// Options configure Start.
type Options struct {
	// ToolsDir holds the binaries (see package tools). Required.
	ToolsDir string
	// Nodes is the number of fake nodes. Default 1.
	Nodes int
	// NodeCPU, NodeMemory and NodePods are each fake node's allocatable
	// resources. Defaults 32, 256Gi and 250.
	NodeCPU, NodeMemory, NodePods string
	// StartTimeout bounds the whole start. Default 2m.
	StartTimeout time.Duration
	// Log receives one line per start and stop step. Nil discards them.
	Log io.Writer
}

func (o *Options) defaults() {
	if o.Nodes <= 0 {
		o.Nodes = 1
	}
	if o.NodeCPU == "" {
		o.NodeCPU = "32"
	}
	if o.NodeMemory == "" {
		o.NodeMemory = "256Gi"
	}
	if o.NodePods == "" {
		o.NodePods = "250"
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Cluster is a running control plane.
type Cluster struct {
	// Config authenticates as an administrator (group system:masters).
	Config *rest.Config
	// Kubeconfig is the path of an admin kubeconfig file for Config.
	Kubeconfig string
	// Dir holds the kubeconfig, certificates, etcd data and component logs.
	// Stop removes it.
	Dir string
	// NodeNames are the fake nodes, all Ready when Start returns.
	NodeNames []string

	log      io.Writer
	env      *envtest.Environment
	procs    []*proc
	guard    *exec.Cmd
	guardIn  io.WriteCloser
	stopOnce sync.Once
	stopErr  error

	// The API server after StopAPIServer: its command line as envtest
	// started it, the process StartAPIServer started (nil while envtest's
	// runs), and whether it is down.
	apiMu        sync.Mutex
	apiArgv      []string
	apiserver    *proc
	apiDown      bool
	startTimeout time.Duration
}

// quietEnvtest sets controller-runtime's logger once.
var quietEnvtest sync.Once

// Start brings up a control plane and returns once the fake nodes are Ready
// and the controller manager is serving. On error nothing is left running.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	// envtest logs through controller-runtime, which prints a stack trace
	// to stderr when no logger was set 30 s into the process (a second
	// cluster started later by a test). Its messages say nothing this
	// package does not return as errors.
	quietEnvtest.Do(func() { ctrllog.SetLogger(logr.Discard()) })
	opts.defaults()
	if opts.ToolsDir == "" {
		return nil, errors.New("localcluster: ToolsDir is required; run 'make tools' and pass the directory it prints")
	}
	for _, name := range []string{tools.Etcd, tools.KubeAPIServer, tools.KubeControllerManager, tools.KubeScheduler, tools.Kwok, tools.KwokStages} {
		if _, err := os.Stat(filepath.Join(opts.ToolsDir, name)); err != nil {
			return nil, fmt.Errorf("localcluster: %s missing from %s; run 'make tools'", name, opts.ToolsDir)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "kubectl-gitops-cluster-")
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	c := &Cluster{Dir: dir, log: opts.Log, startTimeout: opts.StartTimeout}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if err := c.startGuard(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("localcluster: start guard: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}

	start := time.Now()
	if err := c.startAPIServer(opts); err != nil {
		return nil, err
	}
	c.logf("etcd and kube-apiserver up at %s (%s)", c.Config.Host, time.Since(start).Round(time.Millisecond))

	kcm, err := c.startProc(ctx, "kube-controller-manager", filepath.Join(opts.ToolsDir, tools.KubeControllerManager),
		"--kubeconfig="+c.Kubeconfig,
		"--controllers=*,-serviceaccount-token",
		"--service-cluster-ip-range="+ServiceIPRange,
		"--leader-elect=false",
		"--secure-port=0",
	)
	if err != nil {
		return nil, err
	}
	if _, err := c.startProc(ctx, "kube-scheduler", filepath.Join(opts.ToolsDir, tools.KubeScheduler),
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
	); err != nil {
		return nil, err
	}
	stages := filepath.Join(dir, "kwok-stages.yaml")
	if err := copyFile(filepath.Join(opts.ToolsDir, tools.KwokStages), stages); err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	if _, err := c.startProc(ctx, "kwok", filepath.Join(opts.ToolsDir, tools.Kwok),
		"--kubeconfig="+c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+FakeNodeAnnotation+"=fake",
		"--server-address=127.0.0.1:0",
		// Node leases are the heartbeat the node lifecycle controller
		// watches; without them it marks the node NotReady within a minute
		// and every pod on it unready.
		"--node-lease-duration-seconds=40",
		"--config="+stages,
	); err != nil {
		return nil, err
	}

	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, err
	}
	if err := c.createNodes(ctx, cs, opts); err != nil {
		return nil, err
	}
	// The service account controller (in the controller manager) creates the
	// "default" ServiceAccount that pod admission requires; seeing it proves
	// the controller manager is serving.
	if err := c.waitFor(ctx, "kube-controller-manager to create ServiceAccount/default/default", kcm, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, ignoreNotFound(err)
	}); err != nil {
		return nil, err
	}
	c.logf("control plane ready in %s with %d fake node(s) (%s)", c.Dir, len(c.NodeNames), time.Since(start).Round(time.Millisecond))
	return c, nil
}

func (c *Cluster) startAPIServer(opts Options) error {
	useExisting := false
	env := &envtest.Environment{
		BinaryAssetsDirectory:    opts.ToolsDir,
		UseExistingCluster:       &useExisting,
		ControlPlaneStartTimeout: opts.StartTimeout,
		ControlPlaneStopTimeout:  20 * time.Second,
	}
	etcdLog, err := os.Create(filepath.Join(c.Dir, "logs", "etcd.log"))
	if err != nil {
		return err
	}
	apiLog, err := os.Create(filepath.Join(c.Dir, "logs", "kube-apiserver.log"))
	if err != nil {
		return err
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(c.Dir, "etcd"), Out: etcdLog, Err: etcdLog}
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: filepath.Join(c.Dir, "pki"), Out: apiLog, Err: apiLog}
	env.ControlPlane.APIServer.Configure().Set("service-cluster-ip-range", ServiceIPRange)
	for _, d := range []string{env.ControlPlane.Etcd.DataDir, env.ControlPlane.APIServer.CertDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	c.env = env
	if _, err := env.Start(); err != nil {
		return fmt.Errorf("localcluster: start etcd and kube-apiserver: %w%s", err, c.logTail("kube-apiserver", "etcd"))
	}
	admin, err := env.AddUser(envtest.User{Name: "kubectl-gitops-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("localcluster: add admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("localcluster: admin kubeconfig: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return fmt.Errorf("localcluster: %w", err)
	}
	c.Config = admin.Config()
	c.Config.QPS, c.Config.Burst = 200, 400
	return nil
}

func (c *Cluster) createNodes(ctx context.Context, cs kubernetes.Interface, opts Options) error {
	capacity := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: opts.NodeCPU, corev1.ResourceMemory: opts.NodeMemory, corev1.ResourcePods: opts.NodePods} {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("localcluster: node %s %q: %w", name, v, err)
		}
		capacity[name] = q
	}
	for i := 0; i < opts.Nodes; i++ {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{FakeNodeAnnotation: "fake"},
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
				},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("localcluster: create Node/%s: %w", name, err)
		}
		c.NodeNames = append(c.NodeNames, name)
	}
	kwok := c.procs[len(c.procs)-1]
	for _, name := range c.NodeNames {
		if err := c.waitFor(ctx, "Node/"+name+" to become Ready", kwok, func(ctx context.Context) (bool, error) {
			n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady {
					return cond.Status == corev1.ConditionTrue, nil
				}
			}
			return false, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// waitFor polls cond until it holds, failing early when watched exits.
func (c *Cluster) waitFor(ctx context.Context, what string, watched *proc, cond wait.ConditionWithContextFunc) error {
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if watched.exited() {
			return false, fmt.Errorf("%s exited", watched.name)
		}
		return cond(ctx)
	})
	if err != nil {
		return fmt.Errorf("localcluster: waiting for %s: %w%s", what, err, c.logTail(watched.name))
	}
	return nil
}

// WriteKubeconfig copies the admin kubeconfig to path (mode 0600).
func (c *Cluster) WriteKubeconfig(path string) error {
	b, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// Stop stops every component, newest first, and removes Dir. It is safe to
// call more than once and from several goroutines.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		var errs []error
		for i := len(c.procs) - 1; i >= 0; i-- {
			errs = append(errs, c.procs[i].stop())
		}
		c.apiMu.Lock()
		if c.apiserver != nil {
			errs = append(errs, c.apiserver.stop())
		}
		c.apiMu.Unlock()
		if c.env != nil {
			if err := c.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop etcd and kube-apiserver: %w", err))
			}
		}
		// Closing the pipe lets the guard sweep up anything still running
		// and remove the directory; wait so that Stop returns a clean slate.
		if c.guardIn != nil {
			c.guardIn.Close()
			_ = c.guard.Wait()
		}
		errs = append(errs, os.RemoveAll(c.Dir))
		c.stopErr = errors.Join(errs...)
		c.logf("control plane stopped")
	})
	return c.stopErr
}

// guardScript runs under /bin/sh with the cluster directory as $1. It ignores
// terminal signals (the parent handles those), blocks until its stdin closes,
// then sends SIGTERM to every process whose command line names a path in the
// directory, SIGKILL to any still there five seconds later, and removes the
// directory. Only Linux exposes command lines under /proc; elsewhere it
// removes the directory alone.
const guardScript = `trap '' INT HUP
read -r _ignored
pids=$(grep -laF -- "$1/" /proc/[0-9]*/cmdline 2>/dev/null | sed -e 's|^/proc/||' -e 's|/cmdline$||')
if [ -n "$pids" ]; then
  kill -TERM $pids 2>/dev/null
  i=0
  while [ $i -lt 50 ]; do
    alive=""
    for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
    [ -z "$alive" ] && break
    sleep 0.1
    i=$((i+1))
  done
  [ -n "$alive" ] && kill -KILL $alive 2>/dev/null
fi
rm -rf -- "$1"
`

func (c *Cluster) startGuard() error {
	cmd := exec.Command("/bin/sh", "-c", guardScript, "localcluster-guard", c.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.guard, c.guardIn = cmd, in
	return nil
}

func (c *Cluster) logf(format string, args ...any) {
	fmt.Fprintf(c.log, "localcluster: "+format+"\n", args...)
}

// logTail returns the last lines of the named components' logs, for errors.
func (c *Cluster) logTail(names ...string) string {
	var b strings.Builder
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(c.Dir, "logs", name+".log"))
		if err != nil || len(data) == 0 {
			continue
		}
		lines := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(&b, "\n--- last lines of %s.log ---\n%s", name, bytes.Join(lines, []byte("\n")))
	}
	return b.String()
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
