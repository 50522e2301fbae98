package deploy_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/release"
)

// koConfig is the part of .ko.yaml this repository uses.
type koConfig struct {
	DefaultBaseImage string   `json:"defaultBaseImage"`
	DefaultPlatforms []string `json:"defaultPlatforms"`
	Builds           []struct {
		ID      string   `json:"id"`
		Main    string   `json:"main"`
		Env     []string `json:"env"`
		Flags   []string `json:"flags"`
		Ldflags []string `json:"ldflags"`
	} `json:"builds"`
}

// .ko.yaml builds what the manifests' ko:// reference names, on a distroless
// nonroot base, stamped as `make build` and the release archives stamp it.
func TestKoConfig(t *testing.T) {
	b, err := os.ReadFile("../.ko.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg koConfig
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		t.Fatalf(".ko.yaml: %v", err)
	}
	if !strings.HasPrefix(cfg.DefaultBaseImage, "gcr.io/distroless/static") || !strings.Contains(cfg.DefaultBaseImage, ":nonroot") {
		t.Errorf("defaultBaseImage %q, want distroless static, nonroot", cfg.DefaultBaseImage)
	}
	if len(cfg.Builds) != 1 {
		t.Fatalf("%d builds, want the one of ./cmd/kubectl-gitops", len(cfg.Builds))
	}
	build := cfg.Builds[0]
	if got := "ko://" + release.Module + "/" + strings.TrimPrefix(build.Main, "./"); got != KoImage {
		t.Errorf("build main %q is image %s; the manifests use %s", build.Main, got, KoImage)
	}
	// ko's templating: text/template with missingkey=error over Env (the
	// build's environment) and Git (commit information, empty outside Git).
	for _, tt := range []struct {
		env                     map[string]string
		commit                  string
		wantVersion, wantCommit string
	}{
		{map[string]string{"VERSION": "v1.2.3"}, "0123456789abcdef0123456789abcdef01234567", "v1.2.3", "0123456789abcdef0123456789abcdef01234567"},
		{map[string]string{}, "", "v0.0.0-dev", "unknown"},
	} {
		data := map[string]any{"Env": tt.env, "Git": map[string]any{"FullCommit": tt.commit, "Tag": "", "ShortCommit": ""}}
		var got []string
		for _, f := range build.Ldflags {
			tmpl, err := template.New("ldflags").Option("missingkey=error").Parse(f)
			if err != nil {
				t.Fatalf("ldflag %q: %v", f, err)
			}
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, data); err != nil {
				t.Fatalf("ldflag %q with %v: %v", f, tt.env, err)
			}
			got = append(got, buf.String())
		}
		if want := release.LDFlags(tt.wantVersion, tt.wantCommit); strings.Join(got, " ") != want {
			t.Errorf("ldflags with env %v, commit %q:\n got %s\nwant %s", tt.env, tt.commit, strings.Join(got, " "), want)
		}
	}
}
