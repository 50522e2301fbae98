package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

var readyLine = regexp.MustCompile(`control plane ready in (\S+) `)

// startLocalcluster runs the built command and returns it once the cluster
// is ready, with the cluster directory and the kubeconfig it wrote.
func startLocalcluster(t *testing.T, bin string) (cmd *exec.Cmd, dir, kubeconfig string) {
	t.Helper()
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	cmd = exec.Command(bin, "--kubeconfig", kubeconfig)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errLog strings.Builder
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	dirCh, eof := make(chan string, 1), make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errLog.WriteString(sc.Text() + "\n")
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				dirCh <- m[1]
			}
		}
	}()
	select {
	case dir = <-dirCh:
	case <-eof:
		_ = cmd.Wait()
		t.Fatalf("localcluster exited before it was ready:\n%s", errLog.String())
	case <-time.After(3 * time.Minute):
		t.Fatal("localcluster did not report ready within 3m")
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if want := "export KUBECONFIG=" + kubeconfig + "\n"; line != want {
		t.Fatalf("stdout %q, want %q", line, want)
	}
	return cmd, dir, kubeconfig
}

func waitGone(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		left := localcluster.ProcessesUsing(dir)
		_, statErr := os.Stat(dir)
		if len(left) == 0 && os.IsNotExist(statErr) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: processes still using %s: %v; directory stat: %v", dir, left, statErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestLocalclusterCleansUp(t *testing.T) {
	toolsDir := testcluster.ToolsDir(t)
	bin := filepath.Join(t.TempDir(), "localcluster")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("SIGINT stops and removes everything", func(t *testing.T) {
		cmd, dir, kubeconfig := startLocalcluster(t, bin)
		if n := len(localcluster.ProcessesUsing(dir)); n != 5 {
			t.Errorf("%d component processes running, want 5", n)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, filepath.Join(toolsDir, tools.Kubectl), "--kubeconfig", kubeconfig, "get", "nodes", "-o", "name").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "node/kwok-node-0" {
			t.Fatalf("kubectl get nodes with the written kubeconfig: %v: %q", err, out)
		}

		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("localcluster exited with %v after SIGINT, want success", err)
		}
		waitGone(t, dir)
		if _, err := os.Stat(kubeconfig); !os.IsNotExist(err) {
			t.Errorf("kubeconfig %s left behind (stat: %v)", kubeconfig, err)
		}
	})

	t.Run("SIGKILL of the parent still removes everything", func(t *testing.T) {
		cmd, dir, _ := startLocalcluster(t, bin)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		waitGone(t, dir)
	})
}
