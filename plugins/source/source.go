// Package source holds the flags that name what to render, shared by
// render, sync and the commands that follow them, and turns them into
// rendered objects.
package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/agekeys"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/fn"
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
	// Keys say where age keys for SOPS-encrypted resources come from.
	Keys agekeys.Flags
}

// AddFlags registers the flags.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Repo, "repo", "", "Git repository: a local path, file://, https://, ssh:// or user@host:path URL (required)")
	fs.StringVar(&f.Revision, "revision", "HEAD", "Branch, tag, commit SHA (full or short) or HEAD")
	fs.StringVar(&f.Path, "path", ".", "Directory in the repository to render: a kustomization, or plain YAML/JSON manifests (recursive)")
	fs.StringVar(&f.TokenFile, "git-token-file", "", "File holding an https token or password (default: $"+EnvToken+")")
	fs.StringVar(&f.Username, "git-username", "git", "Username sent with the https token")
	fs.StringVar(&f.SSHKeyFile, "ssh-key-file", "", "Private key for ssh repositories (default: the ssh agent)")
	fs.StringSliceVar(&f.KnownHostsFiles, "known-hosts-file", nil, "known_hosts file(s) that verify ssh host keys (default: ~/.ssh/known_hosts)")
	fs.BoolVar(&f.InsecureSkipHostKeyCheck, "insecure-skip-host-key-check", false, "Accept any ssh host key (insecure)")
	fs.BoolVar(&f.EnableExec, "enable-exec", false, "Allow exec KRM functions named by the repository to run (they execute its programs)")
}

// AddKeyFlags registers the age key flags (--age-key-secret when
// withSecret: commands that reach a cluster).
func (f *Flags) AddKeyFlags(fs *pflag.FlagSet, withSecret bool) {
	f.Keys.AddFlags(fs, withSecret)
}

// Validate checks the flags.
func (f *Flags) Validate() error {
	if f.Repo == "" {
		return fmt.Errorf("--repo is required: a local path or a URL of the config repository")
	}
	if f.Path == "" {
		return fmt.Errorf("--path must not be empty; use . for the repository root")
	}
	return f.Keys.Validate()
}

// Rendered is a fetched revision and what it rendered to.
type Rendered struct {
	Checkout *source.Checkout
	Objects  []*unstructured.Unstructured
	// Encrypted lists the SOPS-encrypted files no key opened, with their
	// recipients; what the build made of them must not be applied.
	Encrypted []EncryptedFile
	// Decrypted holds every value decrypted from SOPS files: secrets to
	// mask in whatever is printed, whatever object they ended up in.
	Decrypted []string
}

// EncryptedFile is a file that stayed encrypted.
type EncryptedFile struct {
	File       string
	Recipients []string
}

// RefuseEncrypted returns an error naming every file that stayed
// encrypted, or nil.
func (r *Rendered) RefuseEncrypted() error {
	if len(r.Encrypted) == 0 {
		return nil
	}
	var b strings.Builder
	for i, e := range r.Encrypted {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (for %s)", e.File, strings.Join(e.Recipients, ", "))
	}
	return fmt.Errorf("SOPS-encrypted files that no age key opened: %s; give a key of one of their recipients with --age-key-file, --age-key-secret NAMESPACE/NAME, $SOPS_AGE_KEY_FILE or $SOPS_AGE_KEY; nothing was applied", b.String())
}

// Render fetches the revision and renders the path, decrypting
// SOPS-encrypted resources with the age keys found. Fetch progress goes to
// progress, warnings to warnings; kube (may be nil) reads --age-key-secret.
// The checkout is removed before it returns.
func (f *Flags) Render(ctx context.Context, progress io.Writer, kube kubernetes.Interface, warnings io.Writer) (*Rendered, error) {
	auth := source.Auth{Username: f.Username, SSHKeyFile: f.SSHKeyFile, KnownHostsFiles: f.KnownHostsFiles, InsecureSkipHostKeyCheck: f.InsecureSkipHostKeyCheck}
	token, err := f.token()
	if err != nil {
		return nil, err
	}
	auth.Token = token
	co, err := source.Fetch(ctx, source.Request{Repo: f.Repo, Revision: f.Revision}, source.Options{Auth: auth, Progress: progress})
	if err != nil {
		return nil, err
	}
	defer co.Close()
	keys, err := f.Keys.Load(ctx, kube)
	if err != nil {
		return nil, err
	}
	opts := render.Options{EnableExec: f.EnableExec, OwnFunctions: map[string]bool{}, Keys: keys}
	if warnings != nil {
		opts.Warn = func(msg string) { fmt.Fprintf(warnings, "warning: %s\n", msg) }
	}
	var encrypted []EncryptedFile
	opts.OnEncrypted = func(file string, recipients []string) {
		encrypted = append(encrypted, EncryptedFile{File: file, Recipients: recipients})
	}
	var decrypted []string
	opts.OnDecrypted = func(values []string) { decrypted = append(decrypted, values...) }
	// Our decrypt function, run by kustomize as a process, gets the same
	// keys through a private file, written only if the build runs it.
	keyFile := &privateKeyFile{keys: keys}
	defer keyFile.remove()
	opts.FunctionArgs = func(name string) []string {
		if name != "decrypt" || keys.Len() == 0 {
			return nil
		}
		path, err := keyFile.path()
		if err != nil && warnings != nil {
			fmt.Fprintf(warnings, "warning: cannot hand the age keys to the decrypt function: %v\n", err)
		}
		if err != nil {
			return nil
		}
		return []string{"--age-key-file", path}
	}
	// Our own functions run with this very binary, whatever PATH holds.
	if self, err := os.Executable(); err == nil {
		opts.Self = self
		for name := range fn.Functions {
			opts.OwnFunctions[name] = true
		}
	}
	objs, err := render.Render(co.Dir, f.Path, opts)
	if err != nil {
		return nil, fmt.Errorf("render %s at %s: %w", f.Repo, short(co.Commit), err)
	}
	return &Rendered{Checkout: co, Objects: objs, Encrypted: encrypted, Decrypted: decrypted}, nil
}

// privateKeyFile writes the identities to a 0600 file in a 0700 directory
// on first use, and removes it on remove or when the process is
// interrupted or terminated.
type privateKeyFile struct {
	keys *sops.Keys
	once sync.Once
	dir  string
	file string
	err  error
	stop chan struct{}
}

func (p *privateKeyFile) path() (string, error) {
	p.once.Do(func() {
		if p.dir, p.err = os.MkdirTemp("", "kubectl-gitops-keys-"); p.err != nil {
			return
		}
		p.stop = make(chan struct{})
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			defer signal.Stop(signals)
			select {
			case s := <-signals:
				os.RemoveAll(p.dir)
				// Die of the signal, as without the handler.
				signal.Stop(signals)
				if sys, ok := s.(syscall.Signal); ok {
					_ = syscall.Kill(os.Getpid(), sys)
				}
				os.Exit(1)
			case <-p.stop:
			}
		}()
		p.file = filepath.Join(p.dir, "keys.txt")
		p.err = p.keys.WriteFile(p.file)
	})
	return p.file, p.err
}

func (p *privateKeyFile) remove() {
	if p.dir != "" {
		os.RemoveAll(p.dir)
	}
	if p.stop != nil {
		close(p.stop)
	}
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

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
