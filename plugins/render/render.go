// Package render is the `kubectl gitops render` command.
package render

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
)

// Options are the inputs of render.
type Options struct {
	Source source.Flags
	// Output is yaml (a multi-document stream) or json (a v1 List).
	Output string
	// ShowSecrets prints Secret values instead of masking them.
	ShowSecrets bool

	genericiooptions.IOStreams
}

// NewCommand returns the render command.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "render (--repo URL|PATH [--revision REV] [--path DIR] | --local DIR)",
		Short: "Print the manifests a Git path renders to, touching no cluster",
		Long: `Fetch a revision of a Git repository and render a path in it, exactly as
sync would: a kustomize build (with KRM functions) or a directory of plain
manifests. Nothing is sent to a cluster.

Exec KRM functions named by the repository run only with --enable-exec,
container KRM functions only with --enable-container-functions; without them
the render fails, naming each one, before anything runs. A --repo that names
a directory inside a work tree renders --path below it (a warning names the
repository root); uncommitted changes under the path are named in a warning,
as they are not rendered. Credentials in a --repo URL are never printed.

--local DIR renders a directory as it is on disk, uncommitted changes
included, without Git (no commit is read); inside a Git work tree it may
read anything below the work tree's root, as an overlay's ../base.

SOPS-encrypted files (age) are decrypted as kustomize reads them, with the
keys from --age-key-file, $SOPS_AGE_KEY, $SOPS_AGE_KEY_FILE or sops' keys.txt;
one no key opens stays encrypted, with a warning. The decrypt KRM function
gets the same keys. Secret values, and every value decrypted from a SOPS file
wherever it ends up, are masked unless --show-secrets is given.`,
		Example: `  kubectl gitops render --repo . --path apps/web/overlays/prod
  kubectl gitops render --repo https://git.example/config.git --revision v1.4.0 --path apps/web -o json

  # The work tree as it is, before committing.
  kubectl gitops render --local apps/web/overlays/prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return exitcode.UsageError(err)
			}
			return o.Run(cmd.Context())
		},
	}
	o.Source.AddFlags(cmd.Flags())
	o.Source.AddKeyFlags(cmd.Flags(), false)
	o.Source.AddLocalFlag(cmd.Flags())
	cmd.Flags().StringVarP(&o.Output, "output", "o", "yaml", "Output format: yaml or json")
	cmd.Flags().BoolVar(&o.ShowSecrets, "show-secrets", false, "Print Secret data and stringData values instead of masking them")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := o.Source.Validate(); err != nil {
		return err
	}
	if o.Output != "yaml" && o.Output != "json" {
		return fmt.Errorf("--output %q is not supported; use yaml or json", o.Output)
	}
	return nil
}

// Run renders and prints.
func (o *Options) Run(ctx context.Context) error {
	r, err := o.Source.Render(ctx, nil, nil, o.ErrOut)
	if err != nil {
		return err
	}
	objs := r.Objects
	if !o.ShowSecrets {
		objs = redact.Secrets(objs)
		// Values decrypted from SOPS files, in whatever object they are.
		red := &redact.Redactor{}
		red.Add(r.Decrypted...)
		objs = red.Objects(objs)
	}
	if o.Output == "json" {
		list := map[string]any{"apiVersion": "v1", "kind": "List", "items": objects(objs)}
		b, err := json.MarshalIndent(list, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(o.Out, "%s\n", b)
		return err
	}
	for i, obj := range objs {
		b, err := yaml.Marshal(obj.Object)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(o.Out, "---")
		}
		if _, err := o.Out.Write(b); err != nil {
			return err
		}
	}
	return nil
}

func objects(objs []*unstructured.Unstructured) []map[string]any {
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		out[i] = o.Object
	}
	return out
}
