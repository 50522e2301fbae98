package secret

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
)

type keygenOptions struct {
	Output string
	Force  bool
	genericiooptions.IOStreams
}

func newKeygen(streams genericiooptions.IOStreams) *cobra.Command {
	o := &keygenOptions{IOStreams: streams}
	def, _ := sops.DefaultKeyFile()
	cmd := &cobra.Command{
		Use:   "keygen [-o FILE]",
		Short: "Write a new age identity (mode 0600) and print its recipient",
		Long: `Generate an age X25519 identity and write it, with mode 0600, to --output
(default: sops' keys.txt, where sops and kubectl gitops find it). The recipient
(public key) is printed on stdout: put it in .sops.yaml or pass it to
'secret encrypt --age-recipient'. An existing file is never overwritten, and a
key is not written inside a Git work tree unless --force.`,
		Example: `  kubectl gitops secret keygen
  kubectl gitops secret keygen -o ~/.config/team-prod.agekey`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Output == "" {
				return exitcode.Usagef("--output must not be empty")
			}
			return o.run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", def, "Key file to create")
	cmd.Flags().BoolVar(&o.Force, "force", false, "Write the key even inside a Git work tree")
	return cmd
}

func (o *keygenOptions) run() error {
	if err := refuseInWorkTree(o.Output, "a private key", o.Force); err != nil {
		return err
	}
	key, recipient, err := sops.GenerateIdentity(time.Now().UTC().Format(time.RFC3339))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Output), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(o.Output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists; it is never overwritten (it may hold keys you need): choose another --output", o.Output)
		}
		return err
	}
	if _, err := f.Write(key); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "wrote a new age identity to %s (mode 0600); its recipient:\n", o.Output)
	_, err = fmt.Fprintln(o.Out, recipient)
	return err
}
