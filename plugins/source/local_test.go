package source

import (
	"testing"

	"github.com/spf13/pflag"
)

// --local stands alone: it conflicts with the flags that name a commit.
func TestValidateLocal(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--local", "apps/web"}, ""},
		{[]string{"--local", "apps/web", "--repo", "."}, "--local renders a directory from disk, without Git: it conflicts with --repo; give --local DIR alone, or --repo with --revision and --path"},
		{[]string{"--local", "apps/web", "--path", "apps/web", "--revision", "main"}, "--local renders a directory from disk, without Git: it conflicts with --revision and --path; give --local DIR alone, or --repo with --revision and --path"},
		{[]string{"--repo", "."}, ""},
		{nil, "--repo or --local is required: a local path or a URL of the config repository, or a directory to render from disk"},
	} {
		var f Flags
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		f.AddFlags(fs)
		f.AddKeyFlags(fs, false)
		f.AddLocalFlag(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		got := ""
		if err := f.Validate(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%q:\n got %q\nwant %q", tt.args, got, tt.want)
		}
	}
}
