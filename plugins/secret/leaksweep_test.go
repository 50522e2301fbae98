package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
)

// TestMain reports what the leak sweep saw and fails a full run that
// captured nothing.
func TestMain(m *testing.M) {
	code := m.Run()
	if sweep := leaksweep.Finish(os.Stderr, "plugins/secret", true); code == 0 {
		code = sweep
	}
	os.Exit(code)
}

// sweepResult captures a command's stdout (allowed when why is set) and
// stderr, and registers the identities keygen wrote.
func sweepResult(t *testing.T, args []string, r result, why string) {
	t.Helper()
	name := "secret " + strings.Join(args, " ")
	if why != "" {
		leaksweep.Allow(t, "stdout of `"+name+"`", r.stdout, why)
	} else {
		leaksweep.Capture(t, "stdout of `"+name+"`", r.stdout)
	}
	leaksweep.Capture(t, "stderr of `"+name+"`", r.stderr)
	if len(args) > 0 && args[0] == "keygen" && r.code == 0 {
		for i, a := range args {
			if a == "-o" && i+1 < len(args) {
				registerIdentities(t, args[i+1])
			}
		}
	}
}

// registerIdentities registers the age identities of a key file.
func registerIdentities(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Clean(file))
	if err != nil {
		t.Fatalf("leaksweep: read the key file keygen wrote: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			leaksweep.Secret(t, strings.TrimSpace(line))
		}
	}
}

// allowOutput records a text that holds a secret on purpose.
func allowOutput(t *testing.T, what, text, why string) {
	t.Helper()
	leaksweep.Allow(t, what, text, why)
}
