package release

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// fakeDist writes a stand-in archive per platform and their checksums.txt:
// rendering only reads the bytes and their sums.
func fakeDist(t *testing.T, version string) string {
	t.Helper()
	dir := t.TempDir()
	var arts []Artifact
	for _, p := range Platforms {
		name := ArchiveName(version, p)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("archive for "+p.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		sum, err := FileSHA256(path)
		if err != nil {
			t.Fatal(err)
		}
		arts = append(arts, Artifact{Name: name, SHA256: sum})
	}
	if err := os.WriteFile(filepath.Join(dir, ChecksumsFile), FormatChecksums(arts), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func repoTemplate(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", ".krew.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The repository's .krew.yaml renders, for every platform a release ships,
// an entry with the release URL of that platform's archive, the archive's
// sum, and the right binary; everything else is the template as written.
func TestRenderRepoKrewTemplate(t *testing.T) {
	const version = "v1.2.3"
	tmpl := repoTemplate(t)
	dir := fakeDist(t, version)
	out, err := RenderKrewManifest(tmpl, version, dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "{{") {
		t.Errorf("template actions left in the manifest:\n%s", out)
	}

	var m krewPlugin
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if m.Metadata.Name != "gitops" || m.Spec.Version != version {
		t.Errorf("name %q version %q, want gitops %s", m.Metadata.Name, m.Spec.Version, version)
	}
	if !strings.Contains(m.Spec.Caveats, "--enable-alpha-plugins --enable-exec") ||
		!strings.Contains(m.Spec.Caveats, "args: [fn, set-image]") {
		t.Errorf("caveats do not say how to run the KRM functions in kustomize:\n%s", m.Spec.Caveats)
	}
	if len(m.Spec.Platforms) != len(Platforms) {
		t.Fatalf("%d platform entries, want %d", len(m.Spec.Platforms), len(Platforms))
	}
	for i, p := range Platforms {
		pl := m.Spec.Platforms[i]
		sum, _ := FileSHA256(filepath.Join(dir, ArchiveName(version, p)))
		wantURI := "https://github.com/kubectl-gitops/kubectl-gitops/releases/download/" + version + "/" + ArchiveName(version, p)
		got := Platform{pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]}
		if got != p || pl.URI != wantURI || pl.Sha256 != sum || pl.Bin != BinaryName(p) || pl.Files != nil {
			t.Errorf("platform %d = %s %s %s bin %s files %v; want %s %s %s bin %s, no files",
				i, got, pl.URI, pl.Sha256, pl.Bin, pl.Files, p, wantURI, sum, BinaryName(p))
		}
	}

	// Apart from the addURIAndSha lines, the manifest is the template with
	// the tag filled in, line for line.
	action := regexp.MustCompile(`(?m)^    \{\{addURIAndSha .*\}\}\n`)
	uriSha := regexp.MustCompile(`(?m)^    uri: \S+\n    sha256: [0-9a-f]{64}\n`)
	wantRest := strings.ReplaceAll(action.ReplaceAllString(string(tmpl), ""), "{{ .TagName }}", version)
	if gotRest := uriSha.ReplaceAllString(string(out), ""); gotRest != wantRest {
		t.Errorf("manifest differs from the template beyond uri and sha256:\n--- want\n%s\n--- got\n%s", wantRest, gotRest)
	}
}

func TestRenderKrewManifestErrors(t *testing.T) {
	const version = "v1.2.3"
	tmpl := repoTemplate(t)

	if _, err := RenderKrewManifest(tmpl, "1.2.3", fakeDist(t, version)); err == nil ||
		err.Error() != `version "1.2.3" must be a semantic version with a leading v, such as v0.1.0` {
		t.Errorf("version without v: %v", err)
	}

	empty := t.TempDir()
	_, err := RenderKrewManifest(tmpl, version, empty)
	if want := filepath.Join(empty, "checksums.txt") + ": no checksum list; run 'make dist VERSION=v1.2.3' (every platform) first"; errText(err) != want {
		t.Errorf("no checksums.txt: %v, want %q", err, want)
	}

	// Archives built for another version are not these.
	_, err = RenderKrewManifest(tmpl, "v1.2.4", fakeDist(t, version))
	var ae *ArchiveError
	if !errors.As(err, &ae) || !strings.HasSuffix(err.Error(), "kubectl-gitops_v1.2.4_linux_amd64.tar.gz: no such archive; run 'make dist VERSION=v1.2.4' (every platform) first") {
		t.Errorf("archives of another version: %v", err)
	}

	dir := fakeDist(t, version)
	darwin := filepath.Join(dir, ArchiveName(version, Platform{"darwin", "arm64"}))
	if err := os.Remove(darwin); err != nil {
		t.Fatal(err)
	}
	if _, err := RenderKrewManifest(tmpl, version, dir); errText(err) != darwin+": no such archive; run 'make dist VERSION=v1.2.3' (every platform) first" {
		t.Errorf("one archive missing: %v", err)
	}

	// An archive rebuilt after checksums.txt was written.
	if err := os.WriteFile(darwin, []byte("rebuilt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RenderKrewManifest(tmpl, version, dir); errText(err) != darwin+": not the archive "+filepath.Join(dir, "checksums.txt")+" lists (left from another build?); run 'make dist VERSION=v1.2.3' (every platform) first" {
		t.Errorf("archive not in checksums.txt: %v", err)
	}

	// A template mistake surfaces as a validation error of the result.
	broken := strings.Replace(string(tmpl), "bin: kubectl-gitops.exe", "bin: kubectl-gitops", 1)
	if _, err := RenderKrewManifest([]byte(broken), version, fakeDist(t, version)); errText(err) != `rendered krew manifest: spec.platforms[4] (windows/amd64): bin is "kubectl-gitops", want "kubectl-gitops.exe"` {
		t.Errorf("wrong bin: %v", err)
	}
	if _, err := RenderKrewManifest([]byte("{{ .Tag }}"), version, fakeDist(t, version)); err == nil || !strings.HasPrefix(err.Error(), "krew manifest template: ") {
		t.Errorf("unknown template field: %v", err)
	}
}

// Each Krew rule, broken once in an otherwise valid manifest.
func TestValidateKrewManifest(t *testing.T) {
	const version = "v1.2.3"
	good, err := RenderKrewManifest(repoTemplate(t), version, fakeDist(t, version))
	if err != nil {
		t.Fatal(err)
	}
	sum := regexp.MustCompile(`sha256: ([0-9a-f]{64})`).FindStringSubmatch(string(good))[1]
	for _, tc := range []struct{ name, old, new, want string }{
		{"apiVersion", "krew.googlecontainertools.github.com/v1alpha2", "krew.googlecontainertools.github.com/v1alpha1",
			`apiVersion is "krew.googlecontainertools.github.com/v1alpha1", want krew.googlecontainertools.github.com/v1alpha2`},
		{"kind", "kind: Plugin", "kind: Plugins", `kind is "Plugins", want Plugin`},
		{"name", "name: gitops", "name: git/ops", `metadata.name "git/ops" must match ^[\w-]+$`},
		{"version v", "version: v1.2.3", "version: 1.2.3", `spec.version: version "1.2.3" must be a semantic version with a leading v, such as v0.1.0`},
		{"version other", "version: v1.2.3", "version: v1.2.4", "spec.version is v1.2.4, want v1.2.3"},
		{"short description", "shortDescription: Sync", "shortDescription: |\n    Two\n    lines\n  x: Sync", "spec.shortDescription must be one non-empty line"},
		{"uppercase sha256", "sha256: " + sum, "sha256: " + strings.ToUpper(sum), `spec.platforms[0]: sha256 "` + strings.ToUpper(sum) + `" is not 64 lowercase hex digits`},
		{"selector key", "os: linux\n        arch: amd64", "os: linux\n        arch: amd64\n        distro: debian", `spec.platforms[0]: selector key "distro" is not supported; use os and arch`},
		{"unshipped platform", "arch: arm64\n    uri: https://github.com/kubectl-gitops/kubectl-gitops/releases/download/v1.2.3/kubectl-gitops_v1.2.3_linux_arm64", "arch: s390x\n    uri: https://github.com/kubectl-gitops/kubectl-gitops/releases/download/v1.2.3/kubectl-gitops_v1.2.3_linux_arm64",
			"spec.platforms[1]: selector picks linux/s390x, not a platform a release ships (linux/amd64,linux/arm64,darwin/amd64,darwin/arm64,windows/amd64,windows/arm64)\nspec.platforms: no entry for linux/arm64"},
		{"uri of another platform", "kubectl-gitops_v1.2.3_darwin_amd64.tar.gz", "kubectl-gitops_v1.2.3_linux_amd64.tar.gz",
			"spec.platforms[2] (darwin/amd64): uri https://github.com/kubectl-gitops/kubectl-gitops/releases/download/v1.2.3/kubectl-gitops_v1.2.3_linux_amd64.tar.gz does not end in .../v1.2.3/kubectl-gitops_v1.2.3_darwin_amd64.tar.gz (this version's archive for this platform)"},
		{"uri of another release", "download/v1.2.3/kubectl-gitops_v1.2.3_linux_amd64.tar.gz", "download/v1.2.2/kubectl-gitops_v1.2.3_linux_amd64.tar.gz",
			"spec.platforms[0] (linux/amd64): uri https://github.com/kubectl-gitops/kubectl-gitops/releases/download/v1.2.2/kubectl-gitops_v1.2.3_linux_amd64.tar.gz does not end in .../v1.2.3/kubectl-gitops_v1.2.3_linux_amd64.tar.gz (this version's archive for this platform)"},
		{"files", "    bin: kubectl-gitops\n", "    files: [{from: kubectl-gitops}]\n    bin: kubectl-gitops\n", "spec.platforms[0]: files[0] needs from and to"},
	} {
		bad := strings.Replace(string(good), tc.old, tc.new, 1)
		if bad == string(good) {
			t.Fatalf("%s: %q not in the manifest", tc.name, tc.old)
		}
		if got := errText(ValidateKrewManifest([]byte(bad), version)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
