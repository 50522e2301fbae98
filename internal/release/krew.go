package release

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// KrewTemplateData is what a .krew.yaml template sees, as krew-release-bot
// gives it: {{ .TagName }} is the release tag.
type KrewTemplateData struct {
	TagName string
}

// ArchiveError reports an archive a manifest names that is missing or does
// not match the checksum list.
type ArchiveError struct {
	Path    string
	Version string
	Problem string
}

func (e *ArchiveError) Error() string {
	return fmt.Sprintf("%s: %s; run 'make dist VERSION=%s' (every platform) first", e.Path, e.Problem, e.Version)
}

// RenderKrewManifest renders a .krew.yaml template in krew-release-bot's form
// for version, with the archives in archiveDir, and checks the result the way
// Krew does (ValidateKrewManifest).
//
// The template's data is KrewTemplateData. Its one function,
//
//	{{addURIAndSha "https://.../download/{{ .TagName }}/<archive>" .TagName }}
//
// renders the URL (itself a template over TagName) and prints
// "uri: <url>" and, on the next line indented by four spaces,
// "sha256: <sum>", where the sum is that of archiveDir/<archive>. Every
// archive must also be listed, with the same sum, in archiveDir/checksums.txt,
// so a manifest never mixes archives from different builds.
func RenderKrewManifest(tmpl []byte, version, archiveDir string) ([]byte, error) {
	if err := CheckVersion(version); err != nil {
		return nil, err
	}
	sumsPath := filepath.Join(archiveDir, ChecksumsFile)
	f, err := os.Open(sumsPath)
	if err != nil {
		return nil, &ArchiveError{Path: sumsPath, Version: version, Problem: "no checksum list"}
	}
	listed, err := ParseChecksums(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sumsPath, err)
	}

	addURIAndSha := func(rawURL, tag string) (string, error) {
		u, err := template.New("url").Option("missingkey=error").Parse(rawURL)
		if err != nil {
			return "", err
		}
		var b strings.Builder
		if err := u.Execute(&b, KrewTemplateData{TagName: tag}); err != nil {
			return "", err
		}
		url := b.String()
		archive := filepath.Join(archiveDir, path.Base(url))
		sum, err := FileSHA256(archive)
		if errors.Is(err, os.ErrNotExist) {
			return "", &ArchiveError{Path: archive, Version: version, Problem: "no such archive"}
		}
		if err != nil {
			return "", err
		}
		if want, ok := listed[path.Base(url)]; !ok || want != sum {
			return "", &ArchiveError{Path: archive, Version: version, Problem: "not the archive " + sumsPath + " lists (left from another build?)"}
		}
		return fmt.Sprintf("uri: %s\n    sha256: %s", url, sum), nil
	}
	t, err := template.New(".krew.yaml").Option("missingkey=error").
		Funcs(template.FuncMap{"addURIAndSha": addURIAndSha}).Parse(string(tmpl))
	if err != nil {
		return nil, fmt.Errorf("krew manifest template: %w", err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, KrewTemplateData{TagName: version}); err != nil {
		var ae *ArchiveError
		if errors.As(err, &ae) {
			return nil, ae
		}
		return nil, fmt.Errorf("krew manifest template: %w", err)
	}
	if err := ValidateKrewManifest(out.Bytes(), version); err != nil {
		return nil, fmt.Errorf("rendered krew manifest: %w", err)
	}
	return out.Bytes(), nil
}

// krewPlugin is the part of Krew's index.Plugin (v1alpha2) that is checked.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string         `json:"version"`
		Homepage         string         `json:"homepage"`
		ShortDescription string         `json:"shortDescription"`
		Description      string         `json:"description"`
		Caveats          string         `json:"caveats"`
		Platforms        []krewPlatform `json:"platforms"`
	} `json:"spec"`
}

type krewPlatform struct {
	URI      string `json:"uri"`
	Sha256   string `json:"sha256"`
	Bin      string `json:"bin"`
	Selector *struct {
		MatchLabels      map[string]string `json:"matchLabels"`
		MatchExpressions []any             `json:"matchExpressions"`
	} `json:"selector"`
	Files []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files"`
}

// The rules of sigs.k8s.io/krew v0.4.3 internal/index/validation.
const krewAPIVersion = "krew.googlecontainertools.github.com/v1alpha2"

var (
	krewSafeName = regexp.MustCompile(`^[\w-]+$`)
	krewSHA256   = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// ValidateKrewManifest checks a rendered manifest against Krew's own rules
// (apiVersion, kind, a safe name, a one-line shortDescription, a semantic
// spec.version with a leading v, and per platform a uri, a lowercase sha256,
// a bin and an os/arch selector), and against this project's release: the
// version is the one given, there is a homepage, a description and caveats,
// every platform of Platforms has exactly one entry, and each entry names the
// archive and binary `make dist` builds for the platform its selector picks.
func ValidateKrewManifest(manifest []byte, version string) error {
	var p krewPlugin
	if err := yaml.Unmarshal(manifest, &p); err != nil {
		return fmt.Errorf("not YAML: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.APIVersion != krewAPIVersion {
		bad("apiVersion is %q, want %s", p.APIVersion, krewAPIVersion)
	}
	if p.Kind != "Plugin" {
		bad("kind is %q, want Plugin", p.Kind)
	}
	if !krewSafeName.MatchString(p.Metadata.Name) {
		bad("metadata.name %q must match %s", p.Metadata.Name, krewSafeName)
	}
	s := p.Spec
	if err := CheckVersion(s.Version); err != nil {
		bad("spec.version: %w", err)
	} else if s.Version != version {
		bad("spec.version is %s, want %s", s.Version, version)
	}
	if s.Homepage == "" {
		bad("spec.homepage is empty")
	}
	if s.ShortDescription == "" || strings.ContainsAny(s.ShortDescription, "\r\n") {
		bad("spec.shortDescription must be one non-empty line")
	}
	if strings.TrimSpace(s.Description) == "" {
		bad("spec.description is empty")
	}
	if strings.TrimSpace(s.Caveats) == "" {
		bad("spec.caveats is empty")
	}
	if len(s.Platforms) == 0 {
		bad("spec.platforms is empty")
	}
	seen := map[Platform]bool{}
	for i, pl := range s.Platforms {
		where := fmt.Sprintf("spec.platforms[%d]", i)
		if pl.URI == "" {
			bad("%s: uri is empty", where)
		}
		if !krewSHA256.MatchString(pl.Sha256) {
			bad("%s: sha256 %q is not 64 lowercase hex digits", where, pl.Sha256)
		}
		if pl.Bin == "" {
			bad("%s: bin is empty", where)
		}
		for j, op := range pl.Files {
			if op.From == "" || op.To == "" {
				bad("%s: files[%d] needs from and to", where, j)
			}
		}
		if pl.Selector == nil || len(pl.Selector.MatchLabels) == 0 || len(pl.Selector.MatchExpressions) > 0 {
			bad("%s: selector must be matchLabels with os and arch", where)
			continue
		}
		for k := range pl.Selector.MatchLabels {
			if k != "os" && k != "arch" {
				bad("%s: selector key %q is not supported; use os and arch", where, k)
			}
		}
		plat := Platform{pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]}
		if !supported(plat) {
			bad("%s: selector picks %s, not a platform a release ships (%s)", where, plat, platformList())
			continue
		}
		if seen[plat] {
			bad("%s: a second entry for %s", where, plat)
		}
		seen[plat] = true
		if want := version + "/" + ArchiveName(version, plat); !strings.HasSuffix(pl.URI, "/"+want) {
			bad("%s (%s): uri %s does not end in .../%s (this version's archive for this platform)", where, plat, pl.URI, want)
		}
		if want := BinaryName(plat); pl.Bin != want {
			bad("%s (%s): bin is %q, want %q", where, plat, pl.Bin, want)
		}
	}
	for _, plat := range Platforms {
		if len(s.Platforms) > 0 && !seen[plat] {
			bad("spec.platforms: no entry for %s", plat)
		}
	}
	return errors.Join(errs...)
}
