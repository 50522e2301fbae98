package sync

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/lock"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func TestValidate(t *testing.T) {
	valid := func() *Options {
		o := &Options{Sync: gsync.DefaultOptions(), Retry: gsync.DefaultRetryOptions(), IOStreams: genericiooptions.NewTestIOStreamsDiscard()}
		o.App.Source.Repo, o.App.Source.Path = ".", "."
		o.App.InventoryNamespace = "kubectl-gitops"
		return o
	}
	tests := []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"valid", func(*Options) {}, ""},
		{"no repo", func(o *Options) { o.App.Source.Repo = "" }, "--repo is required: a local path or a URL of the config repository"},
		{"bad output", func(o *Options) { o.Output = "wide" }, `--output "wide" is not supported; use json or yaml, or omit it`},
		{"zero concurrency", func(o *Options) { o.Sync.Concurrency = 0 }, "--concurrency must be at least 1"},
		{"zero timeout", func(o *Options) { o.Sync.Timeout = 0 }, "--timeout must be positive"},
		{"retry factor", func(o *Options) { o.Retry.Factor = 0.5 }, "--retry-limit must be 0 or more and --retry-factor at least 1"},
		{"unknown option", func(o *Options) { o.App.SyncOptions = []string{"Prune=maybe"} }, `--sync-option: sync option "Prune=maybe" has an unsupported value; use Prune=false or Prune=true`},
		{"empty inventory namespace", func(o *Options) { o.App.InventoryNamespace = "" }, "--inventory-namespace must not be empty"},
	}
	for _, tt := range tests {
		o := valid()
		tt.mutate(o)
		got := ""
		if err := o.Validate(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// The engine's lock error is neutral; the command adds its flag, unless it
// was passed.
func TestLockHint(t *testing.T) {
	since := time.Now().Add(-time.Minute)
	held := fmt.Errorf("sync: %w", &lock.HeldError{Lease: "kubectl-gitops/gitops-web", Holder: "alice@laptop:42", Since: since})
	got := lockHint(held, false)
	var he *lock.HeldError
	if !errors.As(got, &he) {
		t.Errorf("lockHint lost the HeldError: %v", got)
	}
	if want := held.Error() + ", or pass --wait-for-lock"; got.Error() != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := lockHint(held, true); got != held {
		t.Errorf("with --wait-for-lock: got %q, want it unchanged", got)
	}
	other := errors.New("apply failed")
	if got := lockHint(other, false); got != other {
		t.Errorf("other error: got %q, want it unchanged", got)
	}
}

func TestNamespaceFlagIsTheDefaultDestination(t *testing.T) {
	for _, tt := range []struct{ namespace, dest, want string }{
		{"shop", "", "shop"},
		{"shop", "billing", "billing"},
		{"", "", ""},
		{"", "billing", "billing"},
	} {
		flags := genericclioptions.NewConfigFlags(false)
		flags.Namespace = &tt.namespace
		o := &Options{kubeFlags: flags}
		o.App.DestNamespace = tt.dest
		if err := o.Complete(nil); err != nil {
			t.Fatal(err)
		}
		if o.Sync.DestNamespace != tt.want {
			t.Errorf("-n %q --dest-namespace %q: destination %q, want %q", tt.namespace, tt.dest, o.Sync.DestNamespace, tt.want)
		}
	}
}
