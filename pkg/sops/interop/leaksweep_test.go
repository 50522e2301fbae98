package interop_test

import (
	"os"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
)

// TestMain reports what the leak sweep saw and fails a full run that
// captured nothing.
func TestMain(m *testing.M) {
	code := m.Run()
	if sweep := leaksweep.Finish(os.Stderr, "pkg/sops/interop", true); code == 0 {
		code = sweep
	}
	os.Exit(code)
}
