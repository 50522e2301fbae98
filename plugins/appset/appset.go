// Package appset is `kubectl gitops appset`: Argo CD ApplicationSets.
package appset

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/appflags"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
)

// NewCommand returns the appset command.
func NewCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "appset",
		Short: "Argo CD ApplicationSets: the Applications they generate",
	}
	cmd.AddCommand(generateCommand(kubeFlags, streams))
	return cmd
}

func generateCommand(kubeFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	var (
		file   appflags.AppFile
		src    source.Flags
		format string
	)
	cmd := &cobra.Command{
		Use:   "generate -f FILE",
		Short: "Print the Applications an ApplicationSet generates (sync -f syncs them)",
		Long: `Generate reads ApplicationSets (a file, a directory of manifests, or -) and
prints the Applications they generate, as Argo CD's ApplicationSet controller
would make them: generators list, clusters (the cluster Secrets of
--clusters-from or --clusters-namespace, selected by matchLabels) and git
(directories with path.Match globs, exclude entries winning; files, JSON or
YAML); templates with Argo CD's {{param}} names, or goTemplate: true with
goTemplateOptions and sprig's functions. Git generators read their
repository through --repo-map. See docs/applications.md.`,
		Example: `  kubectl gitops appset generate -f production-services.yaml \
    --repo-map https://github.com/acme/config.git=$HOME/src/config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file.File == "" {
				return exitcode.UsageError(fmt.Errorf("give the ApplicationSets with -f"))
			}
			if err := output.Check(format, "YAML documents"); err != nil {
				return exitcode.UsageError(err)
			}
			m, err := argocd.LoadAll(file.File, os.Stdin)
			if err != nil {
				return err
			}
			sets := m.Sets
			if len(sets) == 0 {
				return fmt.Errorf("%s: no ApplicationSet found", file.File)
			}
			mapper, err := file.Mapper(kubeFlags, appflags.DefaultInventoryNamespace)
			if err != nil {
				return err
			}
			auth, err := src.Auth()
			if err != nil {
				return err
			}
			apps, err := mapper.Generate(sets, auth)
			if err != nil {
				return err
			}
			var objs []map[string]any
			for _, a := range apps {
				objs = append(objs, a.Object.Object)
			}
			if format == "json" {
				_, err := output.Print(streams.Out, format, objs)
				return err
			}
			for i, o := range objs {
				b, err := sigsyaml.Marshal(o)
				if err != nil {
					return err
				}
				if i > 0 {
					fmt.Fprintln(streams.Out, "---")
				}
				streams.Out.Write(b)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file.File, "filename", "f", "", "ApplicationSet manifests: a file, a directory of them, or -")
	f.StringArrayVar(&file.RepoMap, "repo-map", nil, "Rewrite repository URLs: FROM=TO replaces the prefix FROM (repeatable)")
	file.AddClusterFlags(f)
	f.StringVar(&src.TokenFile, "git-token-file", "", "File holding an https token or password for the git generators' repositories (default: $"+source.EnvToken+")")
	f.StringVar(&src.Username, "git-username", "git", "Username sent with the https token")
	f.StringVarP(&format, "output", "o", "", "Output format: json (default: YAML documents)")
	return cmd
}
