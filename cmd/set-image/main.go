// Command set-image is the set-image KRM function as a binary of its own,
// for kustomize exec functions and KRM function pipelines. It is the same
// function as `kubectl-gitops fn set-image`.
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/setimage"
)

func main() {
	if err := command.Build(setimage.Processor{}, command.StandaloneDisabled, false).Execute(); err != nil {
		os.Exit(1)
	}
}
