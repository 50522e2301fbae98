// Package fntest runs golden tests of KRM functions: each case directory
// testdata/<case>/ holds config.yaml (the function config), input.yaml (the
// items), and the expected output: expected.yaml (items out), results.txt
// (every result) and errors.txt (the messages of error results, which fail
// the function).
//
//	var update = flag.Bool("update", false, "rewrite the expected files")
//	func TestGolden(t *testing.T) { fntest.Golden(t, Processor{}, "testdata", *update) }
package fntest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Golden runs every case under dir; with update it rewrites the expected
// files from what the processor produced.
func Golden(t *testing.T, p framework.ResourceListProcessor, dir string, update bool) {
	cases, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases in %s: %v", dir, err)
	}
	for _, c := range cases {
		t.Run(filepath.Base(c), func(t *testing.T) {
			rl := &framework.ResourceList{Items: read(t, filepath.Join(c, "input.yaml"))}
			if configs := read(t, filepath.Join(c, "config.yaml")); len(configs) > 0 {
				rl.FunctionConfig = configs[0]
			}
			procErr := p.Process(rl)

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
			compare(t, filepath.Join(c, "expected.yaml"), out.String(), update)
			compare(t, filepath.Join(c, "results.txt"), results.String(), update)
			compare(t, filepath.Join(c, "errors.txt"), errs.String(), update)
		})
	}
}

func read(t *testing.T, path string) []*yaml.RNode {
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

func compare(t *testing.T, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
