// Package version is the `kubectl gitops version` command.
package version

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
)

// Options are the inputs of the version command.
type Options struct {
	// Output is "" for text, or json or yaml.
	Output string
	// Info is the build to print; Complete fills it from pkg/version.
	Info version.Info

	genericiooptions.IOStreams
}

// NewCommand returns the version command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this build",
		Example: `  kubectl gitops version
  kubectl gitops version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Complete()
			if err := o.Validate(); err != nil {
				return exitcode.UsageError(err)
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: text)")
	return cmd
}

// Complete fills Info from the running binary.
func (o *Options) Complete() { o.Info = version.Get() }

// Validate checks the flags.
func (o *Options) Validate() error { return output.Check(o.Output, "text") }

// Run prints Info.
func (o *Options) Run() error {
	if printed, err := output.Print(o.Out, o.Output, o.Info); printed {
		return err
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-gitops %s\ncommit: %s\ngo: %s\nplatform: %s\n",
		o.Info.Version, o.Info.Commit, o.Info.GoVersion, o.Info.Platform)
	return err
}
