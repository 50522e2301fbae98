// Command validate-project is the validate-project KRM function as a binary of its own,
// for kustomize exec functions and KRM function pipelines. It is the same
// function as `kubectl-gitops fn validate-project`.
package main

import (
	"os"

	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/validateproject"
)

func main() {
	if err := command.Build(validateproject.Processor{}, command.StandaloneDisabled, false).Execute(); err != nil {
		os.Exit(1)
	}
}
