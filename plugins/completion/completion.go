// Package completion is the `kubectl gitops completion` command.
package completion

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
)

// Shells lists the shells a script can be generated for.
var Shells = []string{"bash", "zsh", "fish", "powershell"}

// Options are the inputs of the completion command.
type Options struct {
	// Shell is one of Shells.
	Shell string

	genericiooptions.IOStreams
}

// NewCommand returns the completion command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "completion SHELL",
		Short: "Print a shell completion script (bash, zsh, fish, powershell)",
		Long: `Print a shell completion script for the kubectl-gitops binary.

Two ways to get completion:

  As a kubectl plugin ("kubectl gitops <TAB>"): put the kubectl_complete-gitops
  script from the release archive on PATH beside kubectl-gitops. kubectl (1.26+)
  runs it to complete plugin arguments, with kubectl's own completion loaded.

  As a standalone binary ("kubectl-gitops <TAB>"): load the script printed here.`,
		Example: `  # bash, current shell
  source <(kubectl-gitops completion bash)
  # zsh
  kubectl-gitops completion zsh > "${fpath[1]}/_kubectl-gitops"
  # fish
  kubectl-gitops completion fish > ~/.config/fish/completions/kubectl-gitops.fish`,
		ValidArgs:             Shells,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return exitcode.UsageError(err)
			}
			if err := o.Validate(); err != nil {
				return exitcode.UsageError(err)
			}
			return o.Run(cmd.Root())
		},
	}
	return cmd
}

// Complete reads the shell from the arguments.
func (o *Options) Complete(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("completion takes exactly one shell, got %d arguments; use one of bash, zsh, fish, powershell", len(args))
	}
	o.Shell = args[0]
	return nil
}

// Validate checks the shell name.
func (o *Options) Validate() error {
	for _, s := range Shells {
		if o.Shell == s {
			return nil
		}
	}
	return fmt.Errorf("unsupported shell %q; use one of bash, zsh, fish, powershell", o.Shell)
}

// Run writes the script for root.
func (o *Options) Run(root *cobra.Command) error {
	switch o.Shell {
	case "bash":
		return root.GenBashCompletionV2(o.Out, true)
	case "zsh":
		return root.GenZshCompletion(o.Out)
	case "fish":
		return root.GenFishCompletion(o.Out, true)
	default:
		return root.GenPowerShellCompletionWithDesc(o.Out)
	}
}
