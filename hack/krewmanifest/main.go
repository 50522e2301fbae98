// Command krewmanifest is what `make krew-manifest` runs: it renders the
// .krew.yaml template for a version with the sha256 sums of the archives in
// dist/ (which must match dist/checksums.txt), checks the result the way Krew
// does, and writes it where `kubectl krew install --manifest` can read it.
//
//	go run ./hack/krewmanifest --version v0.1.0 [--template .krew.yaml] [--dist dist] [--out dist/gitops.yaml]
//
// Krew wants the file named after the plugin, gitops.yaml. The uris stay the
// release download URLs; install from the local archive with
//
//	kubectl krew install --manifest=dist/gitops.yaml --archive=dist/kubectl-gitops_v0.1.0_linux_amd64.tar.gz
//
// Exit codes: 0 written, 1 the archives or template are wrong, 2 the command
// line was wrong.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kubectl-gitops/kubectl-gitops/internal/release"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("krewmanifest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "release version the archives were built for, such as v0.1.0 (required)")
	tmpl := fs.String("template", ".krew.yaml", "krew-release-bot template")
	dist := fs.String("dist", "dist", "directory holding the archives and checksums.txt from make dist")
	out := fs.String("out", "", "where to write the manifest; - for stdout (default <dist>/gitops.yaml)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "krewmanifest: unexpected arguments %q; see --help\n", fs.Args())
		return 2
	}
	if err := release.CheckVersion(*version); err != nil {
		fmt.Fprintf(stderr, "krewmanifest: --version: %v\n", err)
		return 2
	}
	if *out == "" {
		*out = filepath.Join(*dist, "gitops.yaml")
	}
	// A manifest from an earlier render must not outlive a failed one.
	if *out != "-" {
		if err := os.Remove(*out); err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "krewmanifest: %v\n", err)
			return 1
		}
	}
	t, err := os.ReadFile(*tmpl)
	if err != nil {
		fmt.Fprintf(stderr, "krewmanifest: %v; pass --template with the path of .krew.yaml\n", err)
		return 1
	}
	m, err := release.RenderKrewManifest(t, *version, *dist)
	if err != nil {
		fmt.Fprintf(stderr, "krewmanifest: %v\n", err)
		return 1
	}
	if *out == "-" {
		_, err = stdout.Write(m)
	} else {
		err = writeAtomic(*out, m)
	}
	if err != nil {
		fmt.Fprintf(stderr, "krewmanifest: %v\n", err)
		return 1
	}
	if *out != "-" {
		fmt.Fprintf(stderr, "krewmanifest: wrote %s for %s\n", *out, *version)
	}
	return 0
}

// writeAtomic writes data to path through a temporary file in the same
// directory, so path is either absent or whole.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
