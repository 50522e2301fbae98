package secret

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/cmd/util/editor"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

type editOptions struct {
	fileFlags
	genericiooptions.IOStreams
}

func newEdit(streams genericiooptions.IOStreams) *cobra.Command {
	o := &editOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "edit FILE",
		Short: "Edit an encrypted file in $KUBE_EDITOR or $EDITOR and encrypt it again",
		Long: `Decrypt FILE into a private temporary file (mode 0600 in a 0700 directory),
open it in $KUBE_EDITOR or $EDITOR (default vi; read as kubectl edit reads
them, with kubectl's own code), then encrypt the result again with
the same data key, recipients and rules, in place. Values left alone keep
their ciphertext, so Git diffs show only what changed; if nothing changed,
FILE is left byte for byte as it was. The temporary file is removed on every
exit path, including Ctrl-C and a failing editor.`,
		Example: `  EDITOR="code --wait" kubectl gitops secret edit apps/web/prod/secret.enc.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(args[0])
		},
	}
	o.add(cmd.Flags())
	return cmd
}

// editorEnvs are read in order for the editor, as kubectl edit reads them.
var editorEnvs = []string{"KUBE_EDITOR", "EDITOR"}

// editorCommand is the editor kubectl edit would run on file: kubectl's
// own reading of $KUBE_EDITOR, then $EDITOR (default vi; a value with
// quotes or backslashes runs through $SHELL). It is launched here, not by
// kubectl's Editor.Launch, because Launch exits the process on a signal
// (after restoring the terminal) without letting the plaintext file be
// removed.
func editorCommand(file string) *exec.Cmd {
	ed := editor.NewDefaultEditor(editorEnvs)
	args := append([]string(nil), ed.Args...)
	if ed.Shell {
		args[len(args)-1] += " " + strconv.Quote(file) // as Launch quotes it
	} else {
		args = append(args, file)
	}
	return exec.Command(args[0], args[1:]...)
}

func (o *editOptions) run(path string) error {
	file, original, err := o.openEncrypted(path)
	if err != nil {
		return err
	}
	plain, err := file.Plaintext()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kubectl-gitops-edit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// While the editor runs, Ctrl-C and Ctrl-\ belong to it (as git does);
	// otherwise, and for SIGTERM and SIGHUP always, the plaintext is
	// removed and the edit discarded.
	var editing atomic.Bool
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(signals)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-signals:
				if editing.Load() && (s == syscall.SIGINT || s == syscall.SIGQUIT) {
					continue
				}
				os.RemoveAll(dir)
				fmt.Fprintf(o.ErrOut, "error: %v: edit discarded, %s left as it was\n", s, path)
				os.Exit(130)
			case <-done:
				return
			}
		}
	}()
	tmp := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(tmp, plain, 0o600); err != nil {
		return err
	}
	for {
		cmd := editorCommand(tmp)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, o.ErrOut
		editing.Store(true)
		err := cmd.Run()
		editing.Store(false)
		if err != nil {
			return fmt.Errorf("editor %s: %v; %s left as it was", cmd.Args, err, path)
		}
		edited, err := readFile(tmp)
		if err != nil {
			return err
		}
		if bytes.Equal(edited, plain) {
			fmt.Fprintf(o.ErrOut, "%s: no changes\n", path)
			return nil
		}
		next, perr := sops.Parse(path, edited, file.Format)
		if perr == nil && next.Meta != nil {
			perr = fmt.Errorf("%s: the edited content has a sops metadata block; remove it", path)
		}
		if perr == nil {
			file.Docs = next.Docs
			if err := file.Reencrypt(); err != nil {
				return err
			}
			out, err := file.Bytes()
			if err != nil {
				return err
			}
			if bytes.Equal(out, original) {
				return nil
			}
			return writeAtomic(path, out)
		}
		if !isTerminal(os.Stdin) {
			return fmt.Errorf("%w; %s left as it was", perr, path)
		}
		fmt.Fprintf(o.ErrOut, "error: %v\nPress Enter to return to the editor, or Ctrl-C to discard the edit.\n", perr)
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return fmt.Errorf("%w; %s left as it was", perr, path)
		}
	}
}
