// Command localcluster runs a throwaway local control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok with fake
// nodes) until SIGINT or SIGTERM, then removes every trace of it.
//
//	make localcluster   # or: go build -o bin/localcluster ./hack/localcluster && bin/localcluster [--kubeconfig .localcluster/kubeconfig] [--nodes 1]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run() error {
	// A flag set of our own: controller-runtime registers a global
	// --kubeconfig flag of its own on the default one.
	flags := flag.NewFlagSet("localcluster", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", filepath.Join(".localcluster", "kubeconfig"), "where to write the admin kubeconfig")
	nodes := flags.Int("nodes", 1, "number of fake (kwok) nodes")
	_ = flags.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := tools.Ensure(ctx, tools.Options{Log: os.Stderr})
	if err != nil {
		return err
	}
	c, err := localcluster.Start(ctx, localcluster.Options{ToolsDir: dir, Nodes: *nodes, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer c.Stop()
	path, err := filepath.Abs(*kubeconfig)
	if err != nil {
		return err
	}
	if err := c.WriteKubeconfig(path); err != nil {
		return err
	}
	defer os.Remove(path)
	fmt.Printf("export KUBECONFIG=%s\n", path)
	fmt.Fprintf(os.Stderr, "kubectl is at %s; press Ctrl-C to stop and clean up\n", filepath.Join(dir, tools.Kubectl))
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping")
	return nil
}
