package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/internal/fixtures"
	"github.com/kubectl-gitops/kubectl-gitops/internal/release"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// krewManifest renders the repository's .krew.yaml with the krewmanifest
// program, as `make krew-manifest` does, for a dist directory holding this
// machine's real archive. The other platforms' archives are stand-ins: Krew
// checks the form of every platform entry but reads only the archive of the
// machine it runs on, and that one is real.
func krewManifest(t *testing.T) (manifest, archive string) {
	t.Helper()
	built := hostDist(t)
	dir := t.TempDir()
	var arts []release.Artifact
	for _, p := range release.Platforms {
		name := release.ArchiveName(stamped, p)
		path := filepath.Join(dir, name)
		var err error
		if p == host {
			err = os.Link(filepath.Join(built, name), path)
		} else {
			err = os.WriteFile(path, []byte("stand-in for "+p.String()), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
		sum, err := release.FileSHA256(path)
		if err != nil {
			t.Fatal(err)
		}
		arts = append(arts, release.Artifact{Name: name, SHA256: sum})
	}
	if err := os.WriteFile(filepath.Join(dir, release.ChecksumsFile), release.FormatChecksums(arts), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest = filepath.Join(t.TempDir(), "gitops.yaml")
	_, stderr, code := execute(t, repo, os.Environ(), program(t, "krewmanifest"),
		"--version", stamped, "--template", ".krew.yaml", "--dist", dir, "--out", manifest)
	if code != 0 {
		t.Fatalf("krewmanifest: exit %d\n%s", code, stderr)
	}
	return manifest, filepath.Join(dir, release.ArchiveName(stamped, host))
}

// krewEnv is the whole environment of the krew, kubectl and kustomize runs:
// a fresh KREW_ROOT and HOME, only Krew's bin directory on PATH, and a proxy
// that refuses every connection, so any attempt to reach the network fails.
func krewEnv(t *testing.T) (env []string, root string) {
	t.Helper()
	root = filepath.Join(t.TempDir(), "krew")
	env = []string{
		"KREW_ROOT=" + root,
		"HOME=" + t.TempDir(),
		"PATH=" + filepath.Join(root, "bin"),
		"KREW_NO_UPGRADE_CHECK=1",
		"HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=",
		"KUBECONFIG=" + filepath.Join(t.TempDir(), "none"),
		"TMPDIR=" + t.TempDir(),
	}
	return env, root
}

// The real krew v0.4.3 installs the rendered manifest offline from this
// machine's archive; kubectl then finds the plugin, which reports the stamped
// version, and kustomize runs its set-image function with only Krew's bin
// directory on PATH.
func TestKrewInstallsTheRelease(t *testing.T) {
	toolsDir := testcluster.ToolsDir(t)
	manifest, archive := krewManifest(t)
	env, root := krewEnv(t)

	_, stderr, code := execute(t, "", env, filepath.Join(toolsDir, tools.Krew), "install", "--manifest="+manifest, "--archive="+archive)
	if code != 0 || !strings.Contains(stderr, "Installed plugin: gitops") || !strings.Contains(stderr, "--enable-alpha-plugins --enable-exec") {
		t.Fatalf("krew install: exit %d, want 0, the install and the caveats\n%s", code, stderr)
	}
	for _, name := range []string{"kubectl-gitops", "LICENSE", "README.md"} {
		if _, err := os.Stat(filepath.Join(root, "store", "gitops", stamped, name)); err != nil {
			t.Errorf("krew did not install %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "receipts", "gitops.yaml")); err != nil {
		t.Errorf("krew wrote no receipt: %v", err)
	}

	// kubectl from a directory of its own, found the way a shell finds it;
	// the plugin found through kubectl's discovery on PATH.
	kubectlDir := t.TempDir()
	if err := os.Symlink(filepath.Join(toolsDir, tools.Kubectl), filepath.Join(kubectlDir, "kubectl")); err != nil {
		t.Fatal(err)
	}
	kenv := setEnv(env, "PATH", filepath.Join(root, "bin")+string(os.PathListSeparator)+kubectlDir)
	kubectl := filepath.Join(kubectlDir, "kubectl")
	stdout, stderr, code := execute(t, "", kenv, kubectl, "plugin", "list")
	if code != 0 || !strings.Contains(stdout, filepath.Join(root, "bin", "kubectl-gitops")) {
		t.Errorf("kubectl plugin list: exit %d, want %s listed\n%s%s", code, filepath.Join(root, "bin", "kubectl-gitops"), stdout, stderr)
	}
	stdout, stderr, code = execute(t, "", kenv, kubectl, "gitops", "version", "-o", "json")
	var info struct{ Version, Commit, Platform string }
	if code != 0 {
		t.Fatalf("kubectl gitops version -o json: exit %d\n%s%s", code, stdout, stderr)
	}
	if err := json.Unmarshal([]byte(stdout), &info); err != nil {
		t.Fatalf("kubectl gitops version -o json: %v\n%s", err, stdout)
	}
	if info.Version != stamped || info.Commit != commit || info.Platform != host.String() {
		t.Errorf("version %+v, want %s, commit %s, platform %s", info, stamped, commit, host)
	}

	// kustomize by its absolute path; the function by name, from PATH, which
	// holds only Krew's bin directory.
	app := t.TempDir()
	for name, body := range map[string]string{
		"kustomization.yaml": fixtures.SetImageKustomization,
		"deploy.yaml":        fixtures.WebDeployment,
	} {
		if err := os.WriteFile(filepath.Join(app, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code = execute(t, "", env, filepath.Join(toolsDir, tools.Kustomize), "build", "--enable-alpha-plugins", "--enable-exec", app)
	if code != 0 || !strings.Contains(stdout, "image: registry.example/web:1.5.0") {
		t.Errorf("kustomize build with the Krew-installed function: exit %d, want image registry.example/web:1.5.0\n%s%s", code, stdout, stderr)
	}
}

// Krew refuses a manifest whose sha256 does not match the archive, and one
// whose sha256 is not lowercase, and installs nothing.
func TestKrewRefusesWrongChecksum(t *testing.T) {
	toolsDir := testcluster.ToolsDir(t)
	manifest, archive := krewManifest(t)
	good, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := release.FileSHA256(archive)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(good), "sha256: "+sum+"\n") {
		t.Fatalf("the rendered manifest does not carry the archive's sha256 %s:\n%s", sum, good)
	}
	other := strings.Repeat("ab", 32)
	for _, tc := range []struct{ name, sha, want string }{
		{"wrong", other, "checksum does not match, want: " + other + ", got " + sum},
		{"uppercase", strings.ToUpper(sum), "`sha256` value " + strings.ToUpper(sum) + " is not valid, must match pattern ^[a-f0-9]{64}$"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "gitops.yaml")
			if err := os.WriteFile(bad, []byte(strings.Replace(string(good), "sha256: "+sum, "sha256: "+tc.sha, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			env, root := krewEnv(t)
			_, stderr, code := execute(t, "", env, filepath.Join(toolsDir, tools.Krew), "install", "--manifest="+bad, "--archive="+archive)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("krew install: exit %d, want non-zero and %q\n%s", code, tc.want, stderr)
			}
			for _, p := range []string{filepath.Join(root, "bin", "kubectl-gitops"), filepath.Join(root, "store", "gitops"), filepath.Join(root, "receipts", "gitops.yaml")} {
				if _, err := os.Lstat(p); !os.IsNotExist(err) {
					t.Errorf("%s exists after a refused install (%v)", p, err)
				}
			}
		})
	}
}

// setEnv returns env with key set to value.
func setEnv(env []string, key, value string) []string {
	out := []string{key + "=" + value}
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
