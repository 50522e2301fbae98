// Command demo is what `make demo` runs: it starts a throwaway local control
// plane, runs kubectl-gitops through kubectl's plugin discovery against it,
// and removes everything again.
//
// Preview: until `kubectl gitops sync` lands, the demo shows the plugin and
// the cluster working together (version, nodes), not a sync.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	flags := flag.NewFlagSet("demo", flag.ExitOnError) // not the default set: controller-runtime adds to it
	bin := flags.String("bin", "bin", "directory holding the kubectl-gitops binary to demonstrate")
	_ = flags.Parse(os.Args[1:])
	binDir, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(binDir, "kubectl-gitops")); err != nil {
		return fmt.Errorf("no kubectl-gitops in %s; run 'make build' first", binDir)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	toolsDir, err := tools.Ensure(ctx, tools.Options{Log: os.Stderr})
	if err != nil {
		return err
	}
	fmt.Println("==> starting a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)")
	c, err := localcluster.Start(ctx, localcluster.Options{ToolsDir: toolsDir, Log: os.Stdout})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("==> stopping the control plane")
		_ = c.Stop()
	}()

	env := append(os.Environ(),
		"KUBECONFIG="+c.Kubeconfig,
		// Only the plugin, the tools and the system: what kubectl discovers
		// is what this repository built.
		"PATH="+strings.Join([]string{binDir, toolsDir, "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator)),
	)
	for _, args := range [][]string{
		{"plugin", "list"},
		{"gitops", "version"},
		{"get", "nodes", "-o", "wide"},
	} {
		fmt.Printf("==> kubectl %s\n", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, filepath.Join(toolsDir, tools.Kubectl), args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
		}
	}
	fmt.Println("==> preview: 'kubectl gitops sync' is not built yet; this demo shows the plugin and a real control plane working together")
	return nil
}
