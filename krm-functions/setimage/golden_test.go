package setimage

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Regenerate the expected files with: go test ./krm-functions/setimage -update
var update = flag.Bool("update", false, "rewrite expected.yaml, results.txt and errors.txt from the current output")

// TestGolden runs each testdata/<case>: config.yaml is the function config,
// input.yaml the items; expected.yaml holds the items out, results.txt every
// result, errors.txt the error results (what fails the function).
func TestGolden(t *testing.T) {
	cases, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range cases {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			items := readNodes(t, filepath.Join(dir, "input.yaml"))
			configs := readNodes(t, filepath.Join(dir, "config.yaml"))
			rl := &framework.ResourceList{Items: items}
			if len(configs) > 0 {
				rl.FunctionConfig = configs[0]
			}
			procErr := Processor{}.Process(rl)

			var out bytes.Buffer
			if err := (kio.ByteWriter{Writer: &out, KeepReaderAnnotations: true}).Write(rl.Items); err != nil {
				t.Fatal(err)
			}
			var results, errs strings.Builder
			for _, r := range rl.Results {
				results.WriteString(r.String() + "\n")
				if r.Severity == framework.Error {
					errs.WriteString(r.Message + "\n")
				}
			}
			if (procErr != nil) != (errs.Len() > 0) {
				t.Errorf("Process returned %v with error results %q", procErr, errs.String())
			}
			golden(t, filepath.Join(dir, "expected.yaml"), out.String())
			golden(t, filepath.Join(dir, "results.txt"), results.String())
			golden(t, filepath.Join(dir, "errors.txt"), errs.String())
		})
	}
}

func readNodes(t *testing.T, path string) []*yaml.RNode {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(data), OmitReaderAnnotations: true}).Read()
	if err != nil {
		t.Fatal(err)
	}
	return nodes
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
