package secret

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

type rotateOptions struct {
	fileFlags
	Add, Remove []string
	genericiooptions.IOStreams
}

func newRotate(streams genericiooptions.IOStreams) *cobra.Command {
	o := &rotateOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "rotate FILE [--add-recipient AGE1...] [--rm-recipient AGE1...]",
		Short: "Re-encrypt a file under a new data key, optionally changing its recipients",
		Long: `Decrypt FILE, generate a new data key, and encrypt it again for the file's
age recipients plus --add-recipient and minus --rm-recipient, in place. After
removing a recipient, rotate so the removed key cannot open new versions;
what Git already holds stays readable to it.`,
		Example: `  kubectl gitops secret rotate secret.enc.yaml
  kubectl gitops secret rotate secret.enc.yaml --add-recipient age1new... --rm-recipient age1old...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(args[0])
		},
	}
	o.add(cmd.Flags())
	cmd.Flags().StringArrayVar(&o.Add, "add-recipient", nil, "age recipient to add; repeatable or comma-separated")
	cmd.Flags().StringArrayVar(&o.Remove, "rm-recipient", nil, "age recipient to remove; repeatable or comma-separated")
	return cmd
}

func (o *rotateOptions) run(path string) error {
	add := sops.SplitRecipients(o.Add...)
	for _, r := range add {
		if _, err := sops.ParseRecipient(r); err != nil {
			return err
		}
	}
	file, _, err := o.openEncrypted(path)
	if err != nil {
		return err
	}
	if err := file.Rotate(add, sops.SplitRecipients(o.Remove...)); err != nil {
		return err
	}
	out, err := file.Bytes()
	if err != nil {
		return err
	}
	if err := writeAtomic(path, out); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "%s: new data key, recipients: %v\n", path, file.Meta.Recipients())
	return nil
}
