package setimage

import (
	"flag"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fntest"
)

// Regenerate the expected files with: go test ./krm-functions/setimage -update
var update = flag.Bool("update", false, "rewrite expected.yaml, results.txt and errors.txt from the current output")

func TestGolden(t *testing.T) { fntest.Golden(t, Processor{}, "testdata", *update) }
