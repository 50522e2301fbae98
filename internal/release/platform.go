package release

import (
	"fmt"
	"strings"

	k8sversion "k8s.io/apimachinery/pkg/util/version"
)

// Platform is a GOOS/GOARCH pair a release ships an archive for.
type Platform struct {
	OS   string
	Arch string
}

// String returns os/arch.
func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Platforms lists every platform a release ships, in the order `make dist`
// builds them.
var Platforms = []Platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

// BinaryName is the plugin's file name on p: kubectl-gitops, or
// kubectl-gitops.exe on Windows.
func BinaryName(p Platform) string {
	if p.OS == "windows" {
		return "kubectl-gitops.exe"
	}
	return "kubectl-gitops"
}

// ArchiveName is the release archive for version on p:
// kubectl-gitops_<version>_<os>_<arch>.tar.gz, or .zip on Windows.
func ArchiveName(version string, p Platform) string {
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("kubectl-gitops_%s_%s_%s%s", version, p.OS, p.Arch, ext)
}

// ParsePlatforms reads a comma-separated list of os/arch pairs, each one of
// Platforms. The result keeps the order given and drops repeats.
func ParsePlatforms(list string) ([]Platform, error) {
	var out []Platform
	seen := map[Platform]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		os, arch, ok := strings.Cut(item, "/")
		p := Platform{os, arch}
		if !ok || !supported(p) {
			return nil, fmt.Errorf("platform %q is not one a release ships; use a comma-separated list of %s", item, platformList())
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no platforms given; use a comma-separated list of %s", platformList())
	}
	return out, nil
}

func supported(p Platform) bool {
	for _, s := range Platforms {
		if s == p {
			return true
		}
	}
	return false
}

func platformList() string {
	names := make([]string, len(Platforms))
	for i, p := range Platforms {
		names[i] = p.String()
	}
	return strings.Join(names, ",")
}

// CheckVersion accepts a release version the way Krew does: a semantic
// version with a leading v, such as v0.1.0 or v0.2.0-rc.1.
func CheckVersion(v string) error {
	if v == "" {
		return fmt.Errorf("no version given; pass a semantic version with a leading v, such as v0.1.0")
	}
	if !strings.HasPrefix(v, "v") || strings.TrimSpace(v) != v {
		return fmt.Errorf("version %q must be a semantic version with a leading v, such as v0.1.0", v)
	}
	if _, err := k8sversion.ParseSemantic(v); err != nil {
		return fmt.Errorf("version %q must be a semantic version with a leading v, such as v0.1.0: %w", v, err)
	}
	return nil
}
