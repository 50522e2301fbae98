// Command decrypt is the decrypt KRM function as a binary of its own, for
// kustomize exec functions and KRM function pipelines. It is the same
// function as `kubectl-gitops fn decrypt`.
package main

import (
	"os"

	"github.com/kubectl-gitops/kubectl-gitops/plugins/fn"
)

func main() {
	c := fn.DecryptCommand()
	c.Use = "decrypt"
	if err := c.Execute(); err != nil {
		os.Exit(1)
	}
}
