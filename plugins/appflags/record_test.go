package appflags

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
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
