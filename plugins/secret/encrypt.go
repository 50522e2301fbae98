package secret

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
)

// DefaultSecretRegex encrypts only the values of a Secret.
const DefaultSecretRegex = "^(data|stringData)$"

type encryptOptions struct {
	Recipients []string
	Config     string
	Format     string
	InPlace    bool
	Rules      sops.Rules
	genericiooptions.IOStreams
}

func newEncrypt(streams genericiooptions.IOStreams) *cobra.Command {
	o := &encryptOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "encrypt FILE [--age-recipient AGE1...] [-i]",
		Short: "Encrypt a Secret manifest (data and stringData) for age recipients, as sops does",
		Long: `Encrypt FILE in the SOPS format and print it (or, with -i, replace FILE).

Recipients and rules come from, in order: the flags; the first creation rule
of the nearest .sops.yaml (searched from FILE's directory upwards, or --config)
whose path_regex matches FILE, as sops matches it (age, encrypted_regex,
unencrypted_regex, encrypted_suffix, unencrypted_suffix, mac_only_encrypted).
Without a rule, only data and stringData of a YAML or JSON manifest are
encrypted (--encrypted-regex '^(data|stringData)$'), so kustomize can still
read the Secret's name and kind; dotenv and other files are encrypted whole.

The output decrypts with 'sops -d'.`,
		Example: `  kubectl gitops secret encrypt secret.yaml --age-recipient age1... > secret.enc.yaml
  kubectl gitops secret encrypt -i apps/web/prod/secret.enc.yaml     # recipients from .sops.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Rules.Validate(); err != nil {
				return exitcode.UsageError(err)
			}
			return o.run(args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&o.Recipients, "age-recipient", nil, "age recipient (age1...) to encrypt for; repeatable or comma-separated (default: .sops.yaml)")
	fs.StringVar(&o.Config, "config", "", "sops config file (default: the nearest .sops.yaml above FILE)")
	fs.StringVar(&o.Format, "format", "", "File format: yaml, json, dotenv or binary (default: from the extension)")
	fs.BoolVarP(&o.InPlace, "in-place", "i", false, "Replace FILE with its encrypted form instead of printing it")
	fs.StringVar(&o.Rules.EncryptedRegex, "encrypted-regex", "", "Encrypt only values under keys matching this regex")
	fs.StringVar(&o.Rules.UnencryptedRegex, "unencrypted-regex", "", "Leave values under keys matching this regex unencrypted")
	fs.StringVar(&o.Rules.EncryptedSuffix, "encrypted-suffix", "", "Encrypt only values under keys with this suffix")
	fs.StringVar(&o.Rules.UnencryptedSuffix, "unencrypted-suffix", "", "Leave values under keys with this suffix unencrypted")
	fs.BoolVar(&o.Rules.MACOnlyEncrypted, "mac-only-encrypted", false, "MAC only the encrypted values, so tools may change the others (names, labels)")
	return cmd
}

// options works out recipients and rules for path: flags first, then the
// matching .sops.yaml rule, then (rules only) the Secret default.
func (o *encryptOptions) options(path string, format sops.Format) (sops.EncryptOptions, error) {
	var opts sops.EncryptOptions
	cfg := o.Config
	if cfg == "" {
		var err error
		if cfg, err = sops.FindConfig(filepath.Dir(path)); err != nil {
			return opts, err
		}
	}
	var rule *sops.EncryptOptions
	var ruleErr error
	if cfg != "" {
		r, err := sops.RuleForFile(cfg, path)
		if err == nil {
			rule = &r
		}
		ruleErr = err
	}
	switch {
	case len(o.Recipients) > 0:
		opts.Recipients = sops.SplitRecipients(o.Recipients...)
	case rule != nil:
		opts.Recipients = rule.Recipients
	case ruleErr != nil:
		return opts, ruleErr
	default:
		return opts, fmt.Errorf("%s: no age recipients: pass --age-recipient, or add a .sops.yaml creation rule with age: recipients", path)
	}
	switch {
	case o.Rules != (sops.Rules{}):
		opts.Rules = o.Rules
	case rule != nil:
		opts.Rules = rule.Rules
	case format == sops.YAML || format == sops.JSON:
		opts.Rules = sops.Rules{EncryptedRegex: DefaultSecretRegex}
	}
	for _, r := range opts.Recipients {
		if _, err := sops.ParseRecipient(r); err != nil {
			return opts, fmt.Errorf("%s: %w", path, err)
		}
	}
	return opts, nil
}

func (o *encryptOptions) run(path string) error {
	format := sops.FormatForPath(path)
	if o.Format != "" {
		var err error
		if format, err = sops.ParseFormat(o.Format); err != nil {
			return exitcode.UsageError(err)
		}
	}
	opts, err := o.options(path, format)
	if err != nil {
		return err
	}
	data, err := readFile(path)
	if err != nil {
		return err
	}
	file, err := sops.Parse(path, data, format)
	if err != nil {
		return err
	}
	if file.Meta != nil {
		return fmt.Errorf("%s is already encrypted; use 'kubectl gitops secret edit' to change it or 'rotate' to change its recipients", path)
	}
	if err := file.Encrypt(opts); err != nil {
		return err
	}
	if n := file.EncryptedValues(); n == 0 {
		return fmt.Errorf("%s: nothing would be encrypted under the rules (%s); check the file has data or stringData, or pass --encrypted-regex", path, describeRules(opts.Rules))
	}
	out, err := file.Bytes()
	if err != nil {
		return err
	}
	if o.InPlace {
		return writeAtomic(path, out)
	}
	_, err = o.Out.Write(out)
	return err
}

func describeRules(r sops.Rules) string {
	switch {
	case r.EncryptedRegex != "":
		return "encrypted_regex " + r.EncryptedRegex
	case r.UnencryptedRegex != "":
		return "unencrypted_regex " + r.UnencryptedRegex
	case r.EncryptedSuffix != "":
		return "encrypted_suffix " + r.EncryptedSuffix
	case r.UnencryptedSuffix != "":
		return "unencrypted_suffix " + r.UnencryptedSuffix
	case r.EncryptedCommentRegex != "":
		return "encrypted_comment_regex " + r.EncryptedCommentRegex
	case r.UnencryptedCommentRegex != "":
		return "unencrypted_comment_regex " + r.UnencryptedCommentRegex
	}
	return "every value"
}
