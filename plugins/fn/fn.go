// Package fn is `kubectl gitops fn`: the KRM functions, runnable by
// kustomize as exec functions from the kubectl-gitops binary alone:
//
//	transformers:
//	- |-
//	  apiVersion: fn.kubectl-gitops.dev/v1alpha1
//	  kind: SetImage
//	  metadata:
//	    name: release
//	    annotations:
//	      config.kubernetes.io/function: |
//	        exec: {path: kubectl-gitops, args: [fn, set-image]}
//	  images: [{name: registry.example/web, newTag: "1.5.0"}]
package fn

import (
	"github.com/spf13/cobra"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/fn/framework/command"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/decrypt"
	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/setimage"
	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/validateproject"
)

// Functions maps each function's name to its processor.
var Functions = map[string]framework.ResourceListProcessor{
	"set-image":        setimage.Processor{},
	"validate-project": validateproject.Processor{},
	"decrypt":          decrypt.Processor{},
}

// NewCommand returns the fn command with one subcommand per function.
func NewCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fn",
		Short: "Run a KRM function (for kustomize: exec path kubectl-gitops, args [fn, NAME])",
		Long: `KRM functions read a ResourceList on stdin and write it to stdout, as
kustomize runs exec functions. They need
  kustomize build --enable-alpha-plugins --enable-exec
(without --enable-exec kustomize skips them silently and exits 0, and
'kubectl kustomize' cannot run them at all). kubectl gitops render and sync
run them without --enable-exec, always with this very binary.

Results go to stderr, one line each; an error result makes the exit code 1.`,
	}
	cmd.AddCommand(
		function("set-image", "Set container image names, tags and digests (kustomize images: semantics)", Functions["set-image"]),
		function("validate-project", "Fail the build when an item breaks an Argo CD AppProject's rules", Functions["validate-project"]),
		DecryptCommand(),
	)
	return cmd
}

// DecryptCommand is the decrypt function, with --age-key-file.
func DecryptCommand() *cobra.Command {
	p := &decrypt.Processor{}
	c := function("decrypt", "Decrypt SOPS-encrypted resources; generate Secrets from encrypted files (age keys)", p)
	c.Flags().StringArrayVar(&p.KeyFiles, "age-key-file", nil, "age key file; repeatable (also read: $SOPS_AGE_KEY, $SOPS_AGE_KEY_FILE, sops' keys.txt, unless --only-age-key-files)")
	c.Flags().BoolVar(&p.OnlyKeyFiles, "only-age-key-files", false, "Read only the --age-key-file files: not $SOPS_AGE_KEY, $SOPS_AGE_KEY_FILE or sops' keys.txt (render and sync pass it, with the keys they chose)")
	return c
}

func function(name, short string, p framework.ResourceListProcessor) *cobra.Command {
	// The framework would print the error itself, with no newline, and
	// then the root command prints it again: only the root prints it.
	c := command.Build(p, command.StandaloneDisabled, true)
	c.Use = name
	c.Short = short
	return c
}
