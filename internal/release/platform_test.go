package release

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePlatforms(t *testing.T) {
	const all = "linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64"
	for _, tc := range []struct {
		in      string
		want    []Platform
		wantErr string
	}{
		{in: all, want: Platforms},
		{in: " darwin/arm64 , linux/amd64,darwin/arm64", want: []Platform{{"darwin", "arm64"}, {"linux", "amd64"}}},
		{in: "linux/386", wantErr: `platform "linux/386" is not one a release ships; use a comma-separated list of ` + all},
		{in: "linux", wantErr: `platform "linux" is not one a release ships; use a comma-separated list of ` + all},
		{in: " , ", wantErr: "no platforms given; use a comma-separated list of " + all},
	} {
		got, err := ParsePlatforms(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParsePlatforms(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParsePlatforms(%q): %v", tc.in, err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParsePlatforms(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestNames(t *testing.T) {
	var got []string
	for _, p := range Platforms {
		got = append(got, ArchiveName("v1.2.3", p)+" "+BinaryName(p))
	}
	want := []string{
		"kubectl-gitops_v1.2.3_linux_amd64.tar.gz kubectl-gitops",
		"kubectl-gitops_v1.2.3_linux_arm64.tar.gz kubectl-gitops",
		"kubectl-gitops_v1.2.3_darwin_amd64.tar.gz kubectl-gitops",
		"kubectl-gitops_v1.2.3_darwin_arm64.tar.gz kubectl-gitops",
		"kubectl-gitops_v1.2.3_windows_amd64.zip kubectl-gitops.exe",
		"kubectl-gitops_v1.2.3_windows_arm64.zip kubectl-gitops.exe",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive and binary names (-want +got):\n%s", diff)
	}
}

func TestCheckVersion(t *testing.T) {
	const hint = "must be a semantic version with a leading v, such as v0.1.0"
	for _, tc := range []struct{ in, wantErr string }{
		{"v0.1.0", ""},
		{"v1.2.3-rc.1", ""},
		{"v0.1.0-3-gabc1234-dirty", ""}, // git describe between tags
		{"v0.0.0-dev", ""},
		{"", "no version given; pass a semantic version with a leading v, such as v0.1.0"},
		{"1.2.3", `version "1.2.3" ` + hint},
		{" v1.2.3", `version " v1.2.3" ` + hint},
		{"v1.2", `version "v1.2" ` + hint + `: illegal version string "v1.2"`},
		{"vX.Y.Z", `version "vX.Y.Z" ` + hint + `: could not parse "vX.Y.Z" as version`},
		{"v1.2.3 -X main.x=1", `version "v1.2.3 -X main.x=1" ` + hint + `: could not parse pre-release/metadata ( -X main.x=1) in version "v1.2.3 -X main.x=1"`},
	} {
		err := CheckVersion(tc.in)
		if got := errText(err); got != tc.wantErr {
			t.Errorf("CheckVersion(%q) = %q, want %q", tc.in, got, tc.wantErr)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	ok := Options{Version: "v0.1.0", Commit: "0123abc", SourceDateEpoch: 1700000000, OutDir: "dist"}
	for _, tc := range []struct {
		name    string
		mutate  func(*Options)
		wantErr string
	}{
		{"ok", func(*Options) {}, ""},
		{"version", func(o *Options) { o.Version = "0.1.0" }, `version "0.1.0" must be a semantic version with a leading v, such as v0.1.0`},
		{"no commit", func(o *Options) { o.Commit = "" }, `commit "": want the commit hash (git rev-parse HEAD)`},
		{"commit with space", func(o *Options) { o.Commit = "abc -X x=y" }, `commit "abc -X x=y": want the commit hash (git rev-parse HEAD)`},
		{"epoch", func(o *Options) { o.SourceDateEpoch = 0 }, "source date epoch 0 is before 1980, which zip archives cannot record; use the commit time (git log -1 --format=%ct) or set SOURCE_DATE_EPOCH"},
		{"out", func(o *Options) { o.OutDir = "" }, "no output directory given"},
	} {
		o := ok
		tc.mutate(&o)
		if got := errText(o.Validate()); got != tc.wantErr {
			t.Errorf("%s: Validate() = %q, want %q", tc.name, got, tc.wantErr)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
