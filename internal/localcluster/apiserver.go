package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// StopAPIServer kills kube-apiserver with SIGKILL, as a crash would: no
// graceful shutdown, open connections are cut. etcd and its data, the
// certificates and the other components keep running; StartAPIServer starts
// it again on the same address. It returns once the process is gone.
func (c *Cluster) StopAPIServer() error {
	c.apiMu.Lock()
	defer c.apiMu.Unlock()
	pid, err := c.apiServerPID()
	if err != nil {
		return err
	}
	if c.apiArgv == nil {
		// The first stop reads envtest's command line, so that the restart
		// has exactly its flags: port, certificates, etcd, service range.
		cmdline, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "cmdline"))
		if err != nil {
			return fmt.Errorf("localcluster: read the command line of kube-apiserver (pid %d): %w", pid, err)
		}
		for _, arg := range bytes.Split(bytes.TrimRight(cmdline, "\x00"), []byte{0}) {
			c.apiArgv = append(c.apiArgv, string(arg))
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("localcluster: kill kube-apiserver (pid %d): %w", pid, err)
	}
	if c.apiserver != nil {
		<-c.apiserver.done
		c.apiserver = nil
	} else {
		// envtest's own process: its goroutine reaps it.
		err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH), nil
		})
		if err != nil {
			return fmt.Errorf("localcluster: kube-apiserver (pid %d) still there 10s after SIGKILL", pid)
		}
	}
	c.apiDown = true
	c.logf("killed kube-apiserver (pid %d)", pid)
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, with the
// same flags (same port, certificates and etcd), and returns once it is
// ready (/readyz). Components that exited while it was down are started
// again with their own flags; those still running reconnect by themselves.
// It does nothing while the API server runs.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	c.apiMu.Lock()
	defer c.apiMu.Unlock()
	if !c.apiDown {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.startTimeout)
	defer cancel()
	p, err := c.launch(ctx, "kube-apiserver", c.apiArgv[0], c.apiArgv[1:]...)
	if err != nil {
		return err
	}
	c.apiserver, c.apiDown = p, false
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if err := c.waitFor(ctx, "kube-apiserver to be ready after a restart", p, func(ctx context.Context) (bool, error) {
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil, nil
	}); err != nil {
		return err
	}
	for i, old := range c.procs {
		if !old.exited() {
			continue
		}
		c.logf("%s exited while kube-apiserver was down (%v); starting it again", old.name, old.err)
		fresh, err := c.launch(ctx, old.name, old.cmd.Path, old.cmd.Args[1:]...)
		if err != nil {
			return err
		}
		c.procs[i] = fresh
	}
	c.logf("kube-apiserver restarted (pid %d)", p.cmd.Process.Pid)
	return nil
}

// apiServerPID is the running kube-apiserver's process id: the one
// StartAPIServer started, else envtest's, found by its command line.
func (c *Cluster) apiServerPID() (int, error) {
	if c.apiDown {
		return 0, errors.New("localcluster: kube-apiserver is stopped already")
	}
	if c.apiserver != nil {
		return c.apiserver.cmd.Process.Pid, nil
	}
	for pid, name := range ProcessesUsing(c.Dir) {
		if name == tools.KubeAPIServer {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("localcluster: no kube-apiserver process uses %s", c.Dir)
}

// launch starts a component in its own process group, appending to its
// log (a restart keeps what came before); startProc also keeps it.
func (c *Cluster) launch(ctx context.Context, name, path string, args ...string) (*proc, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localcluster: start %s: %w", name, err)
	}
	logFile, err := os.OpenFile(filepath.Join(c.Dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("localcluster: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	c.logf("started %s (pid %d)", name, cmd.Process.Pid)
	return p, nil
}
