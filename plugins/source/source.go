// Package source holds the flags that name what to render, shared by
// render, sync and the commands that follow them, turns them into a
// pkg/app Source, and renders it.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/agekeys"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/fn"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/interrupt"
)

// EnvToken names the environment variable read for an https token.
const EnvToken = "GIT_TOKEN"

// Flags name a Git path and how to reach it.
type Flags struct {
	Repo, Revision, Path     string
	TokenFile, Username      string
	SSHKeyFile               string
	KnownHostsFiles          []string
	InsecureSkipHostKeyCheck bool
	EnableExec               bool
	EnableContainerFunctions bool
	// Keys say where age keys for SOPS-encrypted resources come from.
	Keys agekeys.Flags
	// Local is a directory rendered as it is on disk, without Git
	// (--local; only on commands that register it with AddLocalFlag).
	Local string
	// Directory is an Application's spec.source.directory (no flag).
	Directory *render.Directory
	// Kustomize are an Application's spec.source.kustomize (no flag).
	Kustomize *render.Kustomize
	// Checkouts shares the checkouts of the apps of one run (no flag).
	Checkouts *source.Checkouts
	// Cache keeps renders by commit, path and inputs across runs (the
	// agent's; no flag).
	Cache *app.RenderCache
	// OnFetch is told of each remote fetch (the agent's metrics; no flag).
	OnFetch func(repo string, d time.Duration, err error)
	// OnPrivateDir, when set, replaces the default, which removes the
	// decrypt function's key directory on SIGINT/SIGTERM and then lets the
	// signal end the process: a long-running caller (the agent) handles
	// its signals itself (no flag).
	OnPrivateDir func(dir string) (removed func())
	// RefreshCache renders anew and replaces the cached render (a hard
	// refresh; no flag).
	RefreshCache bool
	// Anonymous sends no credentials (a repository named by Git content,
	// on a host the command line did not name).
	Anonymous bool
	// Credentials, when set, are the only ones sent (a tenant's, from a
	// repository Secret of its namespace; no flag).
	Credentials *source.Auth

	fs *pflag.FlagSet
}

// AddLocalFlag registers --local, which renders a directory from disk
// instead of a Git commit and conflicts with --repo, --revision and --path.
func (f *Flags) AddLocalFlag(fs *pflag.FlagSet) {
	f.fs = fs
	fs.StringVar(&f.Local, "local", "", "Render this directory as it is on disk, uncommitted changes included, instead of a Git commit (conflicts with --repo, --revision, --path)")
}

// AddFlags registers the flags.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Repo, "repo", "", "Git repository: a local path (a directory inside a work tree renders --path below it), file://, https://, ssh:// or user@host:path URL (required); credentials in a URL are used, never shown")
	fs.StringVar(&f.Revision, "revision", "HEAD", "Branch, tag, commit SHA (full or short) or HEAD")
	fs.StringVar(&f.Path, "path", ".", "Directory to render, relative to --repo: a kustomization, or plain YAML/JSON manifests (recursive)")
	fs.StringVar(&f.TokenFile, "git-token-file", "", "File holding an https token or password (default: $"+EnvToken+")")
	fs.StringVar(&f.Username, "git-username", "git", "Username sent with the https token")
	fs.StringVar(&f.SSHKeyFile, "ssh-key-file", "", "Private key for ssh repositories (default: the ssh agent)")
	fs.StringSliceVar(&f.KnownHostsFiles, "known-hosts-file", nil, "known_hosts file(s) that verify ssh host keys (default: ~/.ssh/known_hosts)")
	fs.BoolVar(&f.InsecureSkipHostKeyCheck, "insecure-skip-host-key-check", false, "Accept any ssh host key (insecure)")
	fs.BoolVar(&f.EnableExec, "enable-exec", false, "Allow exec KRM functions named by the repository to run (they execute its programs)")
	fs.BoolVar(&f.EnableContainerFunctions, "enable-container-functions", false, "Allow container KRM functions named by the repository to run (kustomize runs their images with docker and hands them the host environment variables they name)")
}

// AddKeyFlags registers the age key flags (--age-key-secret when
// withSecret: commands that reach a cluster).
func (f *Flags) AddKeyFlags(fs *pflag.FlagSet, withSecret bool) {
	f.Keys.AddFlags(fs, withSecret)
}

// Validate checks the flags.
func (f *Flags) Validate() error {
	if f.Local != "" {
		var given []string
		if f.Repo != "" {
			given = append(given, "--repo")
		}
		for _, name := range []string{"revision", "path"} {
			if f.fs != nil && f.fs.Changed(name) {
				given = append(given, "--"+name)
			}
		}
		if len(given) > 0 {
			return fmt.Errorf("--local renders a directory from disk, without Git: it conflicts with %s; give --local DIR alone, or --repo with --revision and --path", strings.Join(given, " and "))
		}
		return f.Keys.Validate()
	}
	if f.Repo == "" {
		if f.fs != nil {
			return fmt.Errorf("--repo or --local is required: a local path or a URL of the config repository, or a directory to render from disk")
		}
		return fmt.Errorf("--repo is required: a local path or a URL of the config repository")
	}
	if f.Path == "" {
		return fmt.Errorf("--path must not be empty; use . for the repository root")
	}
	return f.Keys.Validate()
}

// Render reads the flags into an app.Source (token, age keys; kube, which
// may be nil, reads --age-key-secret) and renders it with pkg/app. Fetch
// progress goes to progress, warnings to warnings. The private key file of
// the decrypt function is removed on return and when the process gets
// SIGINT, SIGTERM or SIGHUP. Errors carry the flags that fix them.
func (f *Flags) Render(ctx context.Context, progress io.Writer, kube kubernetes.Interface, warnings io.Writer) (*app.Rendered, error) {
	src, err := f.Source(ctx, kube)
	if err != nil {
		return nil, err
	}
	var cleaner interrupt.Cleaner
	opts := app.Options{Progress: progress, OnPrivateDir: cleaner.Track, Checkouts: f.Checkouts, Cache: f.Cache, OnFetch: f.OnFetch, RefreshCache: f.RefreshCache}
	if f.OnPrivateDir != nil {
		opts.OnPrivateDir = f.OnPrivateDir
	}
	if warnings != nil {
		opts.Warn = func(msg string) { fmt.Fprintf(warnings, "warning: %s\n", msg) }
	}
	// Our own functions run with this very binary, whatever PATH holds.
	if self, err := os.Executable(); err == nil {
		opts.Self = self
		opts.OwnFunctions = map[string]bool{}
		for name := range fn.Functions {
			opts.OwnFunctions[name] = true
		}
	}
	r, err := app.Render(ctx, src, opts)
	if err != nil {
		return nil, f.Hint(err)
	}
	return r, nil
}

// Source turns the flags into what pkg/app renders: the token read, the
// age keys loaded.
func (f *Flags) Source(ctx context.Context, kube kubernetes.Interface) (app.Source, error) {
	auth, err := f.Auth()
	if err != nil {
		return app.Source{}, err
	}
	keys, err := f.Keys.Load(ctx, kube)
	if err != nil {
		return app.Source{}, err
	}
	return app.Source{
		Repo: f.Repo, Revision: f.Revision, Path: f.Path,
		Auth:       auth,
		EnableExec: f.EnableExec, EnableContainerFunctions: f.EnableContainerFunctions,
		Keys: keys, Local: f.Local, Directory: f.Directory, Kustomize: f.Kustomize,
	}, nil
}

// Hint is the package's Hint, except that the keys of a tenant (the Secret
// of its namespace alone) are named as what to give.
func (f *Flags) Hint(err error) error {
	ns, name, _ := strings.Cut(f.Keys.Secret, "/")
	if f.Keys.SecretOnly && (errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)) {
		return fmt.Errorf("%w: give the credentials in an Argo CD repository Secret of namespace %s (label argocd.argoproj.io/secret-type=repository; url, username, password); the agent's own credentials are not used for the Applications of other namespaces", err, ns)
	}
	var untrusted *render.UntrustedFunctionsError
	if f.Keys.SecretOnly && errors.As(err, &untrusted) {
		return fmt.Errorf("%w; exec and container functions never run for the Applications of other namespaces than the agent's own (they would run with the agent's identity): render with the built-in functions, or run the app from the control plane's namespace", err)
	}
	var encrypted *app.EncryptedError
	if f.Keys.SecretOnly && errors.As(err, &encrypted) {
		return fmt.Errorf("%w: put the age key file of namespace %s in Secret %s/%s (kubectl create secret generic %s -n %s --from-file=keys.agekey=keys.txt); the agent's own keys are not used for the Applications of other namespaces; nothing was applied", err, ns, ns, name, name, ns)
	}
	return Hint(err)
}

// Hint adds to an engine error the flags that fix it.
func Hint(err error) error {
	var untrusted *render.UntrustedFunctionsError
	if errors.As(err, &untrusted) {
		var flags []string
		if len(untrusted.Exec) > 0 {
			flags = append(flags, "--enable-exec")
		}
		if len(untrusted.Container) > 0 {
			flags = append(flags, "--enable-container-functions")
		}
		return fmt.Errorf("%w; pass %s if you trust this repository", err, strings.Join(flags, " and "))
	}
	if errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed) {
		return fmt.Errorf("%w: set $"+EnvToken+" or pass --git-token-file (https), or --ssh-key-file (ssh)", err)
	}
	var encrypted *app.EncryptedError
	if errors.As(err, &encrypted) {
		return fmt.Errorf("%w: give one with --age-key-file, --age-key-secret NAMESPACE/NAME, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY; nothing was applied", err)
	}
	return err
}

// Auth is the Git authentication the flags give.
func (f *Flags) Auth() (source.Auth, error) {
	if c := f.Credentials; c != nil {
		return source.Auth{Username: c.Username, Token: c.Token, KnownHostsFiles: f.KnownHostsFiles, InsecureSkipHostKeyCheck: f.InsecureSkipHostKeyCheck}, nil
	}
	if f.Anonymous {
		return source.Auth{KnownHostsFiles: f.KnownHostsFiles, InsecureSkipHostKeyCheck: f.InsecureSkipHostKeyCheck}, nil
	}
	token, err := f.token()
	if err != nil {
		return source.Auth{}, err
	}
	return source.Auth{
		Username: f.Username, Token: token, SSHKeyFile: f.SSHKeyFile,
		KnownHostsFiles: f.KnownHostsFiles, InsecureSkipHostKeyCheck: f.InsecureSkipHostKeyCheck,
	}, nil
}

func (f *Flags) token() (string, error) {
	if f.TokenFile != "" {
		b, err := os.ReadFile(f.TokenFile)
		if err != nil {
			return "", fmt.Errorf("--git-token-file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return os.Getenv(EnvToken), nil
}
