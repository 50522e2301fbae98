package diff

import (
	"errors"
	"io"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
)

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--repo", ".", "--path", "apps/web"}, ""},
		{[]string{"--local", "apps/web", "-o", "json"}, ""},
		{[]string{"--repo", ".", "-o", "wide"}, `--output "wide" is not supported; use json or yaml, or omit it for a unified diff`},
		{[]string{"--local", "apps/web", "--path", "x"}, "--local renders a directory from disk, without Git: it conflicts with --path; give --local DIR alone, or --repo with --revision and --path"},
		{[]string{"--repo", ".", "--concurrency", "0"}, "--concurrency must be at least 1"},
		{[]string{"--repo", ".", "--sync-option", "Turbo=true"}, `--sync-option: unknown sync option "Turbo=true"`},
	} {
		o := newOptions(nil, genericiooptions.NewTestIOStreamsDiscard())
		cmd := newCommand(o)
		if err := cmd.Flags().Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		got := ""
		if err := o.Validate(); err != nil {
			got = err.Error()
		}
		if len(tt.want) > 0 && len(got) > len(tt.want) {
			got = got[:len(tt.want)]
		}
		if got != tt.want {
			t.Errorf("%q:\n got %q\nwant %q", tt.args, got, tt.want)
		}
	}
}

// Colour only on a terminal, and never with NO_COLOR.
func TestColor(t *testing.T) {
	for _, tt := range []struct {
		terminal bool
		noColor  string
		want     bool
	}{
		{true, "", true},
		{true, "1", false},
		{false, "", false},
		{false, "1", false},
	} {
		o := &Options{
			Getenv:     func(k string) string { return map[string]string{"NO_COLOR": tt.noColor}[k] },
			IsTerminal: func(io.Writer) bool { return tt.terminal },
		}
		if got := o.color(); got != tt.want {
			t.Errorf("terminal %v, NO_COLOR %q: colour %v, want %v", tt.terminal, tt.noColor, got, tt.want)
		}
	}
	if isTerminal(io.Discard) {
		t.Error("io.Discard is a terminal")
	}
}

// --exit-code turns failures into 2 and keeps the codes that say
// differences (1) or an external program's status.
func TestExitCodes(t *testing.T) {
	failure := errors.New("boom")
	for _, tt := range []struct {
		exitCode bool
		err      error
		want     int
	}{
		{false, failure, exitcode.Failed},
		{true, failure, exitcode.DiffFailed},
		{true, exitcode.WithCode(exitcode.Differences, nil), exitcode.Differences},
		{false, exitcode.WithCode(1, nil), 1},
		{true, nil, exitcode.OK},
	} {
		o := &Options{ExitCode: tt.exitCode}
		if got := exitcode.Code(o.exitError(tt.err)); got != tt.want {
			t.Errorf("--exit-code=%v, %v: code %d, want %d", tt.exitCode, tt.err, got, tt.want)
		}
	}
}
