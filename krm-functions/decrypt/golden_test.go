package decrypt

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fntest"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

var update = flag.Bool("update", false, "rewrite the expected files of the golden tests")

// testProcessor reads the fixtures under testdata/files with the test key
// in testdata/keys.txt, and no key from the environment.
func testProcessor() Processor {
	return Processor{
		Dir:      "testdata/files",
		KeyFiles: []string{"testdata/keys.txt"},
		Sources:  &sops.KeySources{Getenv: func(string) string { return "" }, DefaultFile: "testdata/no-such-keys.txt"},
	}
}

func TestGolden(t *testing.T) { fntest.Golden(t, testProcessor(), "testdata/golden", *update) }

// No result, error or stream text holds a plaintext value of the fixtures
// (stream values are base64 in data).
func TestNoPlaintextInOutput(t *testing.T) {
	cases, _ := filepath.Glob("testdata/golden/*")
	for _, c := range cases {
		rl := &framework.ResourceList{}
		if b, err := os.ReadFile(filepath.Join(c, "input.yaml")); err == nil && len(b) > 0 {
			if rl.Items, err = kio.FromBytes(b); err != nil {
				t.Fatal(err)
			}
		}
		cfg, _ := os.ReadFile(filepath.Join(c, "config.yaml"))
		rl.FunctionConfig = yaml.MustParse(string(cfg))
		_ = testProcessor().Process(rl)
		var out bytes.Buffer
		_ = kio.ByteWriter{Writer: &out}.Write(rl.Items)
		for _, r := range rl.Results {
			out.WriteString(r.String() + "\n")
		}
		for _, secret := range []string{"s3cr3t-p4ss", "k3y", "MIIfake"} {
			if strings.Contains(out.String(), secret) {
				t.Errorf("%s: output holds %q:\n%s", c, secret, out.String())
			}
		}
	}
}
