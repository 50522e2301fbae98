// Package secret is `kubectl gitops secret`: age keys and SOPS-encrypted
// files, readable by sops and written as sops writes them.
package secret

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/agekeys"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
)

// NewCommand returns the secret command and its subcommands.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Keep Secrets encrypted in Git with age and SOPS (keygen, encrypt, decrypt, edit, rotate)",
		Long: `Secrets are kept in Git encrypted in the SOPS format for age recipients: sops
decrypts what these commands write, and they decrypt what sops writes.

Keys are read from --age-key-file, $SOPS_AGE_KEY, $SOPS_AGE_KEY_FILE and sops'
default keys.txt ($XDG_CONFIG_HOME/sops/age/keys.txt). Recipients come from
--age-recipient or the first matching creation rule of .sops.yaml.

render and sync decrypt encrypted resources after the build; the decrypt KRM
function does it inside 'kustomize build'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newKeygen(streams), newEncrypt(streams), newDecrypt(streams), newEdit(streams), newRotate(streams))
	return cmd
}

// fileFlags are shared by the commands that read an encrypted file.
type fileFlags struct {
	Keys   agekeys.Flags
	Format string
}

func (f *fileFlags) add(fs *pflag.FlagSet) {
	f.Keys.AddFlags(fs, false)
	fs.StringVar(&f.Format, "format", "", "File format: yaml, json, dotenv or binary (default: from the file extension, as sops does)")
}

func (f *fileFlags) format(path string) (sops.Format, error) {
	if f.Format == "" {
		return sops.FormatForPath(path), nil
	}
	return sops.ParseFormat(f.Format)
}

// readFile reads a file of at most sops.MaxFileSize bytes.
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, sops.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > sops.MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB, the most a SOPS file may hold; is this the right file?", path, sops.MaxFileSize>>20)
	}
	return data, nil
}

// openEncrypted reads, parses and decrypts a file.
func (f *fileFlags) openEncrypted(path string) (*sops.File, []byte, error) {
	format, err := f.format(path)
	if err != nil {
		return nil, nil, exitcode.UsageError(err)
	}
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	file, err := sops.Parse(path, data, format)
	if err != nil {
		return nil, nil, err
	}
	if file.Meta == nil {
		return nil, nil, fmt.Errorf("%s is not encrypted (it has no sops metadata); encrypt it with 'kubectl gitops secret encrypt'", path)
	}
	keys, err := sops.LoadKeys(sops.KeySources{Files: f.Keys.Files})
	if err != nil {
		return nil, nil, err
	}
	if err := file.Decrypt(keys); err != nil {
		return nil, nil, err
	}
	return file, data, nil
}

// gitWorkTree returns the root of the Git work tree holding path, if any.
func gitWorkTree(path string) (string, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	dir := abs
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		dir = filepath.Dir(abs)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// refuseInWorkTree refuses to write secret material to path inside a Git
// work tree unless forced.
func refuseInWorkTree(path, what string, force bool) error {
	if force {
		return nil
	}
	if root, ok := gitWorkTree(path); ok {
		return fmt.Errorf("refusing to write %s to %s: it is inside the Git work tree %s, where it could be committed; write it elsewhere, or pass --force", what, path, root)
	}
	return nil
}

// stdoutFile returns the path stdout is redirected to, when it is a regular
// file and the system says where (Linux).
func stdoutFile(out io.Writer) (string, bool) {
	f, ok := out.(*os.File)
	if !ok || runtime.GOOS != "linux" {
		return "", false
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		return "", false
	}
	return p, true
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// writeAtomic replaces path with data, keeping its mode.
func writeAtomic(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
