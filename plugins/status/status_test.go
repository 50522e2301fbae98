package status

import (
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"web"}, ""},
		{[]string{}, ""},
		{[]string{"web", "--watch", "--interval", "2s"}, ""},
		{[]string{"web", "-o", "wide"}, `--output "wide" is not supported; use json or yaml, or omit it`},
		{[]string{"web", "--watch", "-o", "json"}, "--watch prints lines; it cannot be combined with --output"},
		{[]string{"web", "--watch", "--exit-code"}, "--watch runs until interrupted; it cannot be combined with --exit-code (run status --exit-code without --watch)"},
		{[]string{"--repo", "."}, "--repo needs an APP: without one, each app is compared with its own recorded source"},
		{[]string{"--ignore-differences", "rules.yaml"}, "--ignore-differences needs an APP: without one, each app is compared with its own recorded source"},
		{[]string{"web", "-A"}, "--all-namespaces lists apps; it cannot be combined with APP (use --inventory-namespace)"},
		{[]string{"web", "--interval", "0s"}, "--interval and --timeout must be positive and --concurrency at least 1"},
	}
	for _, tt := range tests {
		o := &Options{Interval: time.Second, Timeout: time.Minute, Concurrency: 4, kubeFlags: genericclioptions.NewConfigFlags(false), IOStreams: genericiooptions.NewTestIOStreamsDiscard()}
		cmd := newCommand(o)
		var got string
		if err := cmd.ParseFlags(tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		o.flags = cmd.Flags()
		if err := o.Complete(cmd.Flags().Args()); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%v: %q, want %q", tt.args, got, tt.want)
		}
	}
}
