package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
)

// commandLine names a command for the leak sweep's findings: the program's
// base name and its arguments, cut at 160 bytes.
func commandLine(program string, args []string) string {
	s := filepath.Base(program)
	for _, a := range args {
		if a == "--kubeconfig" || strings.HasSuffix(a, "kubeconfig") {
			continue
		}
		s += " " + a
	}
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

// sweepOutput captures what a command printed for the leak sweep.
func sweepOutput(t testing.TB, program string, args []string, stdout, stderr string) {
	t.Helper()
	name := commandLine(program, args)
	leaksweep.Capture(t, "stdout of `"+name+"`", stdout)
	leaksweep.Capture(t, "stderr of `"+name+"`", stderr)
}

// captureOutput captures one text for the leak sweep.
func captureOutput(t testing.TB, what, text string) {
	t.Helper()
	leaksweep.Capture(t, what, text)
}

// sweepAgeKeys registers the age identities in a key file as secrets.
func sweepAgeKeys(t testing.TB, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			leaksweep.Secret(t, strings.TrimSpace(line))
		}
	}
}

// allowOutput records a text that holds a secret on purpose; why says why.
func allowOutput(t testing.TB, what, text, why string) {
	t.Helper()
	leaksweep.Allow(t, what, text, why)
}

// sweepKeygen registers the identities `secret keygen -o FILE` wrote, so
// every later capture is swept for them.
func sweepKeygen(t testing.TB, dir string, args []string, code int) {
	t.Helper()
	if code != 0 || len(args) < 2 || args[0] != "secret" || args[1] != "keygen" {
		return
	}
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			file := args[i+1]
			if !filepath.IsAbs(file) {
				file = filepath.Join(dir, file)
			}
			sweepAgeKeys(t, file)
		}
	}
}
