// Package version reports the build's version, commit and Go version.
//
// The release build stamps version and commit with the linker:
//
//	go build -ldflags "-X github.com/kubectl-gitops/kubectl-gitops/pkg/version.version=v0.1.0 \
//	  -X github.com/kubectl-gitops/kubectl-gitops/pkg/version.commit=$(git rev-parse HEAD)"
//
// An unstamped build reports v0.0.0-dev and, when the Go toolchain recorded
// it, the VCS revision.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set with -ldflags -X; see the package comment.
var (
	version = "v0.0.0-dev"
	commit  = ""
)

// Info describes a build.
type Info struct {
	// Version is the release, a semver with a leading v.
	Version string `json:"version"`
	// Commit is the Git commit the binary was built from.
	Commit string `json:"commit"`
	// GoVersion is the Go toolchain that built it.
	GoVersion string `json:"goVersion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Get returns the running binary's build information.
func Get() Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if info.Commit == "" {
		info.Commit = vcsRevision()
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// UserAgent is the HTTP user agent for API calls: kubectl-gitops/<version>.
func UserAgent() string { return "kubectl-gitops/" + version }

func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			return s.Value
		}
	}
	return ""
}
