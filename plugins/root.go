// Package plugins builds the kubectl-gitops command tree. Each verb lives in
// its own package with an Options type (Complete, Validate, Run); this package
// wires them under the root command and maps errors to exit codes.
package plugins

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
	"k8s.io/kubectl/pkg/util/templates"
	"k8s.io/kubectl/pkg/util/term"

	"github.com/kubectl-gitops/kubectl-gitops/plugins/adopt"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/agent"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appset"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/completion"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/diff"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/fn"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/history"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/image"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/render"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/rollback"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/secret"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/status"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/version"
)

// NewRootCommand returns the kubectl-gitops root command with every verb.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	kubeFlags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:   "kubectl-gitops",
		Short: "GitOps from kubectl: sync a Git path into a cluster, Argo CD-style, with no server",
		Long: `kubectl gitops keeps a cluster equal to a path in a Git config repository.

It renders the path (a Kustomize overlay or plain manifests), applies it with
server-side apply in Argo CD's sync-wave order, waits for health between waves,
prunes what left Git, and records every sync in the cluster. It reads Argo CD's
sync-wave and sync-options annotations as they are. diff shows what a sync
would change; status, history and rollback work from the cluster alone.

Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong.`,
		SilenceUsage:               true,
		SilenceErrors:              true,
		Annotations:                map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl gitops"},
		SuggestionsMinimumDistance: 2,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	kubeFlags.AddFlags(root.PersistentFlags())
	syncCmd, diffCmd := sync.NewCommand(kubeFlags, streams), diff.NewCommand(kubeFlags, streams)
	statusCmd, historyCmd, rollbackCmd := status.NewCommand(kubeFlags, streams), history.NewCommand(kubeFlags, streams), rollback.NewCommand(kubeFlags, streams)
	renderCmd, secretCmd, fnCmd := render.NewCommand(streams), secret.NewCommand(streams), fn.NewCommand()
	appsetCmd, agentCmd, adoptCmd := appset.NewCommand(kubeFlags, streams), agent.NewCommand(kubeFlags, streams), adopt.NewCommand(kubeFlags, streams)
	imageCmd, promoteCmd := image.NewCommand(streams), image.NewPromoteCommand(streams)
	versionCmd, completionCmd, optionsCmd := version.NewCommand(streams), completion.NewCommand(streams), newOptionsCommand(streams)
	root.AddCommand(syncCmd, diffCmd, statusCmd, historyCmd, rollbackCmd, adoptCmd, imageCmd, promoteCmd, agentCmd, renderCmd, secretCmd, fnCmd, appsetCmd, versionCmd, completionCmd, optionsCmd)
	// --help reads like kubectl's: commands in groups, the command's own
	// flags, and the global ones behind 'kubectl gitops options'.
	// The rest (version, completion) are listed as Other Commands.
	templates.ActsAsRootCommand(root, []string{"options", "help"},
		templates.CommandGroup{Message: "Sync Commands:", Commands: []*cobra.Command{syncCmd, diffCmd, statusCmd, historyCmd, rollbackCmd, agentCmd}},
		templates.CommandGroup{Message: "Manifests and Secrets:", Commands: []*cobra.Command{renderCmd, appsetCmd, secretCmd, fnCmd}},
	)
	pluginHelp(root)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// A mistyped command (`synk --repo .`) reaches the root, which
		// then fails on the first flag it lacks: the command is the error.
		if !c.HasParent() && c.Flags().NArg() > 0 {
			return unknownCommand(c, c.Flags().Arg(0))
		}
		return exitcode.Usagef("%w; see '%s --help'", err, c.CommandPath())
	})
	// client-go logs through klog; what matters reaches the user as errors.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	markArgErrorsAsUsage(root)
	return root
}

// pluginHelp makes the help name commands as a kubectl plugin is typed
// ("kubectl gitops sync"), where kubectl's templates name the binary
// ("kubectl-gitops sync").
func pluginHelp(root *cobra.Command) {
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		out := c.OutOrStdout()
		var b bytes.Buffer
		c.SetOut(&b)
		help(c, args)
		c.SetOut(out)
		fmt.Fprint(term.NewResponsiveWriter(out), strings.ReplaceAll(b.String(), `"`+root.Name()+" ", `"`+root.DisplayName()+" "))
	})
}

// newOptionsCommand prints the flags every command takes, as 'kubectl
// options' does.
func newOptionsCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "options",
		Short:   "Print the list of flags inherited by all commands",
		Example: "  kubectl gitops options",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(streams.Out)
			return cmd.Usage()
		},
	}
	templates.UseOptionsTemplates(cmd)
	return cmd
}

// unknownCommand says name is no command of root, suggesting the nearest.
func unknownCommand(root *cobra.Command, name string) error {
	if s := root.SuggestionsFor(name); len(s) > 0 {
		return exitcode.Usagef("unknown command %q; did you mean %q? See '%s --help'", name, s[0], root.CommandPath())
	}
	return exitcode.Usagef("unknown command %q; see '%s --help'", name, root.CommandPath())
}

// Execute runs root and returns the process exit code, printing any error on
// the error stream.
func Execute(root *cobra.Command, streams genericiooptions.IOStreams) int {
	err := root.Execute()
	if err != nil && !exitcode.Silent(err) {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	}
	return exitcode.Code(err)
}

// markArgErrorsAsUsage makes positional-argument errors exit with 2, like
// flag errors, on every command in the tree.
func markArgErrorsAsUsage(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			return exitcode.UsageError(check(cmd, args))
		}
	}
	for _, sub := range c.Commands() {
		markArgErrorsAsUsage(sub)
	}
}
