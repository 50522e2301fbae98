package appflags

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func TestFromRecord(t *testing.T) {
	here := t.TempDir()
	rec := inventory.Record{Repo: here, Origin: "https://git.example/config.git", Path: "apps/web", Revision: "main",
		DestNamespace: "web", SyncOptions: []string{"CreateNamespace=true"}, Prune: false}
	type got struct {
		Repo, Path, Revision, Dest string
		Options                    []string
		Prune                      bool
		Note                       string
	}
	tests := []struct {
		name string
		args []string
		rec  inventory.Record
		want got
	}{
		{"everything from the record", nil, rec,
			got{here, "apps/web", "main", "web", []string{"CreateNamespace=true"}, false, ""}},
		{"the command line wins", []string{"--repo", "/elsewhere", "--path", "apps/db", "--revision", "v2", "--dest-namespace", "db", "--sync-option", "Prune=false", "--prune=true"}, rec,
			got{"/elsewhere", "apps/db", "v2", "db", []string{"Prune=false"}, true, ""}},
		{"-n names the destination", []string{"-n", "other"}, rec,
			got{here, "apps/web", "main", "", []string{"CreateNamespace=true"}, false, ""}},
		{"a recorded path missing here falls back to the origin", nil, inventory.Record{Repo: "/no/such/repo", Origin: "https://git.example/config.git", Path: "."},
			got{"https://git.example/config.git", ".", "HEAD", "", nil, false, "recorded repository /no/such/repo is not on this machine; using its origin https://git.example/config.git"}},
		{"a missing path without origin stays as recorded", nil, inventory.Record{Repo: "/no/such/repo"},
			got{"/no/such/repo", ".", "HEAD", "", nil, false, ""}},
		{"a remote URL is used as recorded", nil, inventory.Record{Repo: "https://git.example/x.git", Path: "a", Revision: "v1", Prune: true},
			got{"https://git.example/x.git", "a", "v1", "", nil, true, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Flags
			var ns string
			prune := true
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.AddFlags(fs, true)
			fs.BoolVar(&prune, "prune", true, "")
			fs.StringVarP(&ns, "namespace", "n", "", "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			note := f.FromRecord(fs, tt.rec, &prune)
			g := got{f.Source.Repo, f.Source.Path, f.Source.Revision, f.DestNamespace, f.SyncOptions, prune, note}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// The recorded ignoreDifferences rules apply unless --ignore-differences
// names a file.
func TestFromRecordIgnoreDifferences(t *testing.T) {
	rec := inventory.Record{ID: 4, Repo: t.TempDir(), IgnoreDifferences: []ignore.Rule{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, []byte("- {kind: ConfigMap, jsonPointers: [/data]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Deployment"},
		{[]string{"--ignore-differences", file}, "ConfigMap"},
	} {
		var f Flags
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f.AddFlags(fs, true)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		f.FromRecord(fs, rec, nil)
		if err := f.Validate(true); err != nil {
			t.Fatal(err)
		}
		var o gsync.Options
		f.Options(&o)
		if len(o.IgnoreDifferences) != 1 || o.IgnoreDifferences[0].Kind != tt.want {
			t.Errorf("%v: rules %+v, want one for %s", tt.args, o.IgnoreDifferences, tt.want)
		}
	}
	bad := rec
	bad.IgnoreDifferences = []ignore.Rule{{Kind: "Deployment", JQPathExpressions: []string{".spec.[["}}}
	var f Flags
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddFlags(fs, true)
	f.FromRecord(fs, bad, nil)
	if err := f.Validate(true); err == nil || !strings.Contains(err.Error(), "recorded by sync 4") {
		t.Errorf("a bad recorded rule: %v, want an error naming sync 4", err)
	}
}
