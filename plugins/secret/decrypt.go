package secret

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

type decryptOptions struct {
	fileFlags
	Force bool
	genericiooptions.IOStreams
}

func newDecrypt(streams genericiooptions.IOStreams) *cobra.Command {
	o := &decryptOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "decrypt FILE",
		Short: "Print the plaintext of an encrypted file on stdout",
		Long: `Decrypt FILE (written by sops or by 'secret encrypt') and print the
plaintext on stdout, as 'sops -d' does. The MAC is verified: a file changed
after it was encrypted is refused.

The plaintext goes to stdout only. A warning is printed when stdout is a
terminal, and stdout redirected into a file inside a Git work tree is refused
unless --force.`,
		Example: `  kubectl gitops secret decrypt apps/web/prod/secret.enc.yaml | kubectl apply -f -`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(args[0])
		},
	}
	o.add(cmd.Flags())
	cmd.Flags().BoolVar(&o.Force, "force", false, "Write plaintext even when stdout is a file inside a Git work tree")
	return cmd
}

func (o *decryptOptions) run(path string) error {
	if p, ok := stdoutFile(o.Out); ok {
		if err := refuseInWorkTree(p, "plaintext", o.Force); err != nil {
			return err
		}
	}
	file, _, err := o.openEncrypted(path)
	if err != nil {
		return err
	}
	plain, err := file.Plaintext()
	if err != nil {
		return err
	}
	if isTerminal(o.Out) {
		fmt.Fprintf(o.ErrOut, "warning: printing the plaintext of %s to a terminal\n", path)
	}
	_, err = o.Out.Write(plain)
	return err
}
