package plugins

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args       []string
		wantCode   int
		wantOut    string
		wantErrOut string
	}{
		{args: nil, wantCode: 0, wantOut: "Sync Commands:\n  sync "},
		{args: nil, wantCode: 0, wantOut: `Use "kubectl gitops <command> --help" for more information about a given command.`},
		{args: []string{"sync", "--help"}, wantCode: 0, wantOut: "\n\n    --allow-empty=false:\n\tAllow an empty render to prune every member\n"},
		{args: []string{"sync", "--help"}, wantCode: 0, wantOut: "Options:\n    --age-key-file=[]:"},
		{args: []string{"sync", "--help"}, wantCode: 0, wantOut: `Use "kubectl gitops options" for a list of global command-line options (applies to all commands).`},
		{args: []string{"options"}, wantCode: 0, wantOut: "The following options can be passed to any command:\n\n    --as='':"},
		{args: []string{"version"}, wantCode: 0, wantOut: "kubectl-gitops v0.0.0-dev\n"},
		{args: []string{"version", "-o", "yaml"}, wantCode: 0, wantOut: "version: v0.0.0-dev\n"},
		{args: []string{"version", "-o", "xml"}, wantCode: 2, wantErrOut: `error: --output "xml" is not supported; use json or yaml, or omit it for text` + "\n"},
		{args: []string{"version", "extra"}, wantCode: 2, wantErrOut: `error: unknown command "extra" for "kubectl gitops version"` + "\n"},
		{args: []string{"nonsense"}, wantCode: 2, wantErrOut: `error: unknown command "nonsense"; see 'kubectl gitops --help'` + "\n"},
		{args: []string{"synk", "--repo", "."}, wantCode: 2, wantErrOut: `error: unknown command "synk"; did you mean "sync"? See 'kubectl gitops --help'` + "\n"},
		{args: []string{"--bogus"}, wantCode: 2, wantErrOut: "error: unknown flag: --bogus; see 'kubectl gitops --help'\n"},
		{args: []string{"completion", "tcsh"}, wantCode: 2, wantErrOut: `error: unsupported shell "tcsh"; use one of bash, zsh, fish, powershell` + "\n"},
		{args: []string{"completion", "bash"}, wantCode: 0, wantOut: "# bash completion V2 for kubectl-gitops"},
		{args: []string{"completion", "zsh"}, wantCode: 0, wantOut: "#compdef kubectl-gitops"},
		{args: []string{"completion", "fish"}, wantCode: 0, wantOut: "# fish completion for kubectl-gitops"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
			root := NewRootCommand(streams)
			root.SetArgs(tt.args)
			if got := Execute(root, streams); got != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", got, tt.wantCode, errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.wantOut)
			}
			if errOut.String() != tt.wantErrOut {
				t.Errorf("stderr %q, want %q", errOut.String(), tt.wantErrOut)
			}
		})
	}
}

func TestKubeFlagsOnRoot(t *testing.T) {
	root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard())
	for _, name := range []string{"kubeconfig", "context", "namespace", "request-timeout", "cluster", "user", "server"} {
		if root.PersistentFlags().Lookup(name) == nil {
			t.Errorf("root command lacks --%s", name)
		}
	}
	if f := root.PersistentFlags().ShorthandLookup("n"); f == nil || f.Name != "namespace" {
		t.Errorf("-n is not --namespace")
	}
}
