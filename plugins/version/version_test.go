package version

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

func TestValidate(t *testing.T) {
	for output, want := range map[string]string{
		"":     "",
		"json": "",
		"yaml": "",
		"wide": `--output "wide" is not supported; use json or yaml, or omit it for text`,
	} {
		err := (&Options{Output: output}).Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("Validate(-o %q) = %q, want %q", output, got, want)
		}
	}
}

func TestRunFormats(t *testing.T) {
	info := version.Info{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26.8", Platform: "linux/arm64"}
	run := func(output string) []byte {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		if err := (&Options{Output: output, Info: info, IOStreams: streams}).Run(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	if got, want := string(run("")), "kubectl-gitops v1.2.3\ncommit: abc\ngo: go1.26.8\nplatform: linux/arm64\n"; got != want {
		t.Errorf("text output:\n%s", cmp.Diff(want, got))
	}
	for _, format := range []string{"json", "yaml"} {
		var got version.Info
		var err error
		if format == "json" {
			err = json.Unmarshal(run(format), &got)
		} else {
			err = yaml.UnmarshalStrict(run(format), &got)
		}
		if err != nil {
			t.Fatalf("-o %s: %v", format, err)
		}
		if diff := cmp.Diff(info, got); diff != "" {
			t.Errorf("-o %s round trip (-want +got):\n%s", format, diff)
		}
	}
	if !bytes.Contains(run("json"), []byte(`"goVersion": "go1.26.8"`)) {
		t.Errorf("JSON field names are not camelCase: %s", run("json"))
	}
}
