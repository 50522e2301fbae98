// Command kubectl-gitops is the kubectl gitops plugin. With the binary on
// PATH, kubectl finds it: `kubectl gitops --help`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/plugins"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(plugins.Execute(plugins.NewRootCommand(streams), streams))
}
