package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

const stamped = "v9.8.7-test"

// buildPlugin builds kubectl-gitops with a stamped version into a fresh bin
// directory, next to the kubectl_complete-gitops script, as a release ships
// them.
func buildPlugin() (string, error) {
	bin, err := os.MkdirTemp("", "kubectl-gitops-bin-")
	if err != nil {
		return "", err
	}
	ldflags := "-X github.com/kubectl-gitops/kubectl-gitops/pkg/version.version=" + stamped +
		" -X github.com/kubectl-gitops/kubectl-gitops/pkg/version.commit=0123456789abcdef"
	if out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", filepath.Join(bin, "kubectl-gitops"), ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	script, err := os.ReadFile("kubectl_complete-gitops")
	if err != nil {
		return "", err
	}
	return bin, os.WriteFile(filepath.Join(bin, "kubectl_complete-gitops"), script, 0o755)
}

// plugin is built once for the package, in TestMain.
var plugin string

// kubectl runs the real kubectl with only bin and the system directories on
// PATH, so plugin discovery can find nothing but what we built.
func kubectl(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kubectl), args...)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+"/usr/bin:/bin", "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.Output()
	var stderr []byte
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	sweepOutput(t, "kubectl", args, string(out), string(stderr))
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return string(out)
}

func TestKubectlDiscoversPlugin(t *testing.T) {
	bin := plugin

	list := kubectl(t, bin, "plugin", "list")
	if !strings.Contains(list, filepath.Join(bin, "kubectl-gitops")) {
		t.Errorf("kubectl plugin list does not show %s:\n%s", filepath.Join(bin, "kubectl-gitops"), list)
	}

	var info struct{ Version, Commit, GoVersion, Platform string }
	out := kubectl(t, bin, "gitops", "version", "-o", "json")
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("kubectl gitops version -o json printed invalid JSON: %v\n%s", err, out)
	}
	if info.Version != stamped || info.Commit != "0123456789abcdef" || !strings.HasPrefix(info.GoVersion, "go1.") || info.Platform == "" {
		t.Errorf("version info %+v, want version %s, commit 0123456789abcdef, a Go version and a platform", info, stamped)
	}
}

func TestKubectlCompletesPluginCommands(t *testing.T) {
	bin := plugin
	// What a shell's kubectl completion asks for on "kubectl gitops <TAB>".
	out := kubectl(t, bin, "__complete", "gitops", "")
	for _, want := range []string{"version", "completion"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion of 'kubectl gitops ' lacks %q:\n%s", want, out)
		}
	}
	out = kubectl(t, bin, "__complete", "gitops", "completion", "")
	for _, want := range []string{"bash", "zsh", "fish"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion of 'kubectl gitops completion ' lacks %q:\n%s", want, out)
		}
	}
}
