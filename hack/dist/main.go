// Command dist is what `make dist` runs: it builds the release archives for
// every platform (or those given with --platforms) and checksums.txt, the
// same bytes for the same source, Go toolchain, version, commit and
// --source-date-epoch.
//
//	go run ./hack/dist --version v0.1.0 --commit "$(git rev-parse HEAD)" \
//	  --source-date-epoch "$(git log -1 --format=%ct)" [--platforms linux/amd64] [--out dist]
//
// Exit codes: 0 built, 1 the build failed, 2 the command line was wrong.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/release"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "dist:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	arts, err := release.Build(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "dist:", err)
		return 1
	}
	fmt.Fprintf(stderr, "dist: %d archives for %s in %s\n", len(arts), o.Version, time.Since(start).Round(time.Second))
	return 0
}

func parse(args []string, stderr io.Writer) (release.Options, error) {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := release.Options{Log: stderr}
	fs.StringVar(&o.Version, "version", "", "release version, a semantic version with a leading v (required)")
	fs.StringVar(&o.Commit, "commit", "", "commit to stamp, git rev-parse HEAD (required)")
	epoch := fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "time of every archive entry, in seconds since 1970 (default $SOURCE_DATE_EPOCH; make uses the commit time)")
	platforms := fs.String("platforms", "", "comma-separated os/arch list (default: all six)")
	fs.StringVar(&o.OutDir, "out", "dist", "directory for the archives and checksums.txt")
	fs.StringVar(&o.Go, "go", "go", "the go command that builds the binaries (make passes $(GO)); the toolchain is an input of the archive bytes")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q; see --help", fs.Args())
	}
	if *epoch == "" {
		return o, errors.New("no --source-date-epoch and no SOURCE_DATE_EPOCH; pass the commit time: --source-date-epoch \"$(git log -1 --format=%ct)\"")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(*epoch), 10, 64)
	if err != nil {
		return o, fmt.Errorf("--source-date-epoch %q is not a number of seconds since 1970; use git log -1 --format=%%ct", *epoch)
	}
	o.SourceDateEpoch = n
	if *platforms != "" {
		if o.Platforms, err = release.ParsePlatforms(*platforms); err != nil {
			return o, err
		}
	}
	return o, o.Validate()
}
