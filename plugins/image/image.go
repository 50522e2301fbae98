// Package image is kubectl gitops image set and promote: CI commits a new
// image to the config repository, correct under concurrency, and the sync
// (or the agent) rolls it out.
package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/gitpush"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/imageset"
	pkgrender "github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/exitcode"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
)

// Options are what image set and promote share: where the config
// repository is, and how a change is committed and pushed.
type Options struct {
	// Repo and Revision name a remote repository and branch (remote mode);
	// without Repo the current directory's work tree is edited.
	Repo, Revision string
	Git            source.Flags
	Commit, Push   bool
	// Branch pushes to a new branch (a pull request flow).
	Branch     string
	Message    string
	AllowDirty bool
	Retries    int
	SignKey    string
	// Author and committer, from flags or GIT_AUTHOR_* / GIT_COMMITTER_*.
	AuthorName, AuthorEmail, CommitterName, CommitterEmail string
	PathTemplate                                           string
	Output                                                 string
	Getenv                                                 func(string) string
	// revisionSet says --revision was given.
	revisionSet bool

	genericiooptions.IOStreams
}

// DefaultPathTemplate is where a service's overlay for an environment is.
const DefaultPathTemplate = "apps/{{.Service}}/overlays/{{.Env}}"

// DefaultMessage is image set's commit message template; PromoteMessage
// promote's.
const (
	DefaultMessage = "chore({{.Service}}): update {{.Env}} image to {{.Tag}}"
	PromoteMessage = "chore({{.Service}}): promote images to {{.Env}}"
)

func (o *Options) addFlags(f *pflag.FlagSet, message string) {
	f.StringVar(&o.Repo, "repo", "", "Edit this remote repository (https or ssh URL) instead of the current work tree: cloned into the cache, no work tree needed")
	f.StringVar(&o.Revision, "revision", "main", "With --repo: the branch to edit")
	f.StringVar(&o.Git.TokenFile, "git-token-file", "", "File holding the https token (default: $"+source.EnvToken+"); never put a token in a URL")
	f.StringVar(&o.Git.Username, "git-username", "git", "Username sent with the https token")
	f.StringVar(&o.Git.SSHKeyFile, "ssh-key-file", "", "Private key for ssh repositories (default: the ssh agent)")
	f.StringSliceVar(&o.Git.KnownHostsFiles, "known-hosts-file", nil, "known_hosts file(s) that verify ssh host keys (default: ~/.ssh/known_hosts)")
	f.BoolVar(&o.Commit, "commit", false, "Commit the change (with --repo it is always committed)")
	f.BoolVar(&o.Push, "push", false, "Push the commit; on a non-fast-forward rejection the edit is made again on the new tip and pushed again")
	f.StringVar(&o.Branch, "branch", "", "Push to this new branch instead (for a pull request; opening it is the hosting's job)")
	f.StringVarP(&o.Message, "message", "m", message, "Commit message, a Go template of .Service and .Env (and, for image set, .Tag and .Images)")
	f.BoolVar(&o.AllowDirty, "allow-dirty", false, "Edit a work tree with uncommitted changes")
	f.IntVar(&o.Retries, "push-retries", 10, "Attempts after a non-fast-forward rejection")
	f.StringVar(&o.SignKey, "sign-key", "", "Sign the commit with this armored OpenPGP private key file")
	f.StringVar(&o.AuthorName, "author-name", "", "Commit author (default: $GIT_AUTHOR_NAME, else kubectl-gitops)")
	f.StringVar(&o.AuthorEmail, "author-email", "", "Commit author's email (default: $GIT_AUTHOR_EMAIL)")
	f.StringVar(&o.CommitterName, "committer-name", "", "Committer (default: $GIT_COMMITTER_NAME, else the author)")
	f.StringVar(&o.CommitterEmail, "committer-email", "", "Committer's email (default: $GIT_COMMITTER_EMAIL, else the author's)")
	f.StringVar(&o.PathTemplate, "path-template", DefaultPathTemplate, "Where a service's overlay for an environment is, a Go template of .Service and .Env")
	f.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: a line per change)")
}

func (o *Options) validate() error {
	if o.Push && !o.Commit && o.Repo == "" {
		return errors.New("--push needs --commit")
	}
	if o.Branch != "" && !o.Push {
		return errors.New("--branch names the branch to push to: it needs --push")
	}
	if o.Retries < 0 {
		return errors.New("--push-retries must be 0 or more")
	}
	// Run once on sample fields: an unknown field is a usage error now,
	// not a failure after the edit.
	if _, err := render(o.Message, fields{Service: "s", Env: "e", Tag: "t"}); err != nil {
		return fmt.Errorf("--message: %w", err)
	}
	if _, err := render(o.PathTemplate, fields{Service: "s", Env: "e"}); err != nil {
		return fmt.Errorf("--path-template: %w", err)
	}
	if o.Repo == "" && o.revisionSet {
		return errors.New("--revision names the branch of --repo; in a work tree the current branch is used")
	}
	return output.Check(o.Output, "a line per change")
}

// Result is what image set and promote report (-o json).
type Result struct {
	Commit string `json:"commit,omitempty"`
	// Pushed says the commit is on the remote (false: only made locally,
	// or, with --repo and no --push, in a clone that is gone).
	Pushed   bool             `json:"pushed"`
	Branch   string           `json:"branch,omitempty"`
	Files    []string         `json:"files"`
	Images   []imageset.Entry `json:"images"`
	Attempts int              `json:"attempts"`
}

// fields are what the message template reads.
type fields struct {
	Service, Env, Tag string
	Images            []string
}

// run edits (through edit, which returns the changed files and entries),
// commits and pushes as the flags say, and prints the result.
func (o *Options) run(ctx context.Context, edit func(root string) ([]string, []imageset.Entry, error), msg fields) error {
	auth, err := o.Git.Auth()
	if err != nil {
		return err
	}
	author, committer := o.signatures()
	message, err := render(o.Message, msg)
	if err != nil {
		return fmt.Errorf("--message: %w", err)
	}
	var key *openpgp.Entity
	if o.SignKey != "" {
		if key, err = readKey(o.SignKey); err != nil {
			return err
		}
	}
	var entries []imageset.Entry
	gopts := gitpush.Options{
		Repo: o.Repo, Branch: o.Revision, PushBranch: o.Branch, Auth: auth, Message: message,
		Author: author, Committer: committer, Commit: o.Commit || o.Repo != "", Push: o.Push,
		AllowDirty: o.AllowDirty, Retries: o.Retries, Backoff: 200 * time.Millisecond, SignKey: key,
	}
	if o.Repo == "" {
		gopts.Dir, gopts.Branch = ".", ""
	}
	res, err := gitpush.Run(ctx, gopts, func(root string) ([]string, error) {
		files, changed, err := edit(root)
		entries = changed
		return files, err
	})
	if err != nil {
		return err
	}
	out := Result{Commit: res.Commit, Branch: res.Branch, Files: res.Files, Images: entries, Attempts: res.Attempts, Pushed: res.Commit != "" && o.Push}
	if out.Files == nil {
		out.Files = []string{}
	}
	if out.Images == nil {
		out.Images = []imageset.Entry{}
	}
	printed, err := output.Print(o.Out, o.Output, out)
	if err != nil || printed {
		return err
	}
	if len(out.Files) == 0 {
		fmt.Fprintln(o.Out, "nothing to change: the images are set already")
		return nil
	}
	for _, e := range out.Images {
		fmt.Fprintf(o.Out, "image %s\n", describe(e))
	}
	switch {
	case out.Commit != "" && o.Repo != "" && !o.Push:
		fmt.Fprintf(o.Out, "not pushed (no --push): commit %s was made in a temporary clone of %s only: %s\n", short(out.Commit), gsource.RedactURL(o.Repo), strings.Join(out.Files, ", "))
	case out.Commit != "" && o.Push:
		fmt.Fprintf(o.Out, "pushed %s to %s (%d attempt(s)): %s\n", short(out.Commit), out.Branch, out.Attempts, strings.Join(out.Files, ", "))
	case out.Commit != "":
		fmt.Fprintf(o.Out, "committed %s: %s\n", short(out.Commit), strings.Join(out.Files, ", "))
	default:
		fmt.Fprintf(o.Out, "edited %s (not committed)\n", strings.Join(out.Files, ", "))
	}
	return nil
}

func (o *Options) signatures() (author, committer object.Signature) {
	env := o.Getenv
	if env == nil {
		env = os.Getenv
	}
	pick := func(flag, variable, fallback string) string {
		if flag != "" {
			return flag
		}
		if v := env(variable); v != "" {
			return v
		}
		return fallback
	}
	now := time.Now()
	author = object.Signature{Name: pick(o.AuthorName, "GIT_AUTHOR_NAME", "kubectl-gitops"), Email: pick(o.AuthorEmail, "GIT_AUTHOR_EMAIL", "kubectl-gitops@localhost"), When: now}
	committer = object.Signature{Name: pick(o.CommitterName, "GIT_COMMITTER_NAME", author.Name), Email: pick(o.CommitterEmail, "GIT_COMMITTER_EMAIL", author.Email), When: now}
	return author, committer
}

func readKey(file string) (*openpgp.Entity, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	defer f.Close()
	list, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("--sign-key %s: not an armored OpenPGP private key: %w", file, err)
	}
	if len(list) == 0 || list[0].PrivateKey == nil {
		return nil, fmt.Errorf("--sign-key %s: holds no private key", file)
	}
	if list[0].PrivateKey.Encrypted {
		return nil, fmt.Errorf("--sign-key %s: the key is protected by a passphrase; give one without (kept in a CI secret)", file)
	}
	return list[0], nil
}

func render(text string, v any) (string, error) {
	t, err := template.New("t").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

func describe(e imageset.Entry) string {
	s := e.Name
	if e.NewName != "" {
		s += " → " + e.NewName
	}
	if e.NewTag != "" {
		s += ":" + e.NewTag
	}
	if e.Digest != "" {
		s += "@" + e.Digest
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// kustomizationIn is the kustomization file of dir (kustomization.yaml,
// .yml or Kustomization, as kustomize looks for them).
func kustomizationIn(dir string) (string, error) {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no kustomization (kustomization.yaml, kustomization.yml or Kustomization): give the overlay's directory, its kustomization file, or an Application manifest", dir)
}

// NewCommand returns image (set).
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Change the images of the config repository (image set), for CI",
	}
	cmd.AddCommand(newSetCommand(streams))
	return cmd
}

func newSetCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "set [PATH] NAME[=NEWNAME][:TAG][@DIGEST]...",
		Short: "Set images in an overlay's kustomization (as kustomize edit set image) or an Application; commit and push",
		Long: `image set edits the images: of an overlay's kustomization.yaml exactly as
kustomize edit set image does (the same argument forms, entries and bytes;
docs/image.md says what of the file is kept); or, when PATH is an Argo CD
Application manifest, its spec.source.kustomize.images. PATH is a
directory with a kustomization, a kustomization file or an Application
manifest, relative to the work tree (or to the root of --repo); it
defaults to the current directory.

--commit commits the change (message: --message, a template); --push pushes
it with go-git. When the push is rejected because another pipeline pushed
first (non-fast-forward), the branch is fetched again, the same edit is
made on the new tip (not a textual rebase), committed and pushed again, up
to --push-retries times with backoff. Any other rejection (authentication,
a hook) fails at once. --repo URL --revision BRANCH edits a remote
repository without a work tree (always committed). --branch pushes to a new
branch for a pull request. The token comes from $GIT_TOKEN or
--git-token-file and is never put in a URL, a log or an error.

Nothing is committed on bad input: an image argument kustomize would
reject, a PATH without a kustomization, a dirty work tree (unless
--allow-dirty).

See docs/image.md and docs/ci.md.`,
		Example: `  # In CI, in a checkout of the config repository:
  kubectl gitops image set apps/web/overlays/staging registry.example/web:1.4.2 --commit --push

  # Without a checkout:
  GIT_TOKEN=... kubectl gitops image set apps/web/overlays/staging web=registry.example/web@sha256:... \
    --repo https://git.example/config.git --revision main --push -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.revisionSet = cmd.Flags().Changed("revision")
			if err := o.validate(); err != nil {
				return exitcode.UsageError(err)
			}
			path, args := splitPath(args, o.Repo == "")
			var images []imageset.Image
			for _, a := range args {
				img, err := imageset.Parse(a)
				if err != nil {
					return exitcode.UsageError(err)
				}
				images = append(images, img)
			}
			if len(images) == 0 {
				return exitcode.UsageError(errors.New("no image given: NAME[=NEWNAME][:TAG][@DIGEST]"))
			}
			dir := path
			if ext := filepath.Ext(dir); ext == ".yaml" || ext == ".yml" || ext == ".json" || isKustomization(filepath.Base(dir)) {
				dir = filepath.Dir(dir) // a kustomization or an Application file
			}
			msg := fields{Service: filepath.Base(dir), Env: filepath.Base(dir), Tag: images[0].NewTag}
			if service, env, ok := matchTemplate(o.PathTemplate, dir); ok {
				msg.Service, msg.Env = service, env
			}
			for _, a := range args {
				msg.Images = append(msg.Images, a)
			}
			if msg.Tag == "" {
				msg.Tag = images[0].Digest
			}
			if msg.Tag == "" {
				msg.Tag = images[0].NewName
			}
			return o.run(cmd.Context(), func(root string) ([]string, []imageset.Entry, error) {
				return setImages(root, path, o.Repo == "", images)
			}, msg)
		},
	}
	o.addFlags(cmd.Flags(), DefaultMessage)
	return cmd
}

// splitPath takes PATH off args: the first argument when it exists on disk
// (local mode) or is not an image (no tag, digest or new name).
func splitPath(args []string, local bool) (string, []string) {
	first := args[0]
	if local {
		if _, err := os.Stat(first); err == nil {
			return first, args[1:]
		}
	}
	if !strings.ContainsAny(first, ":@=") {
		return first, args[1:]
	}
	return ".", args
}

// setImages edits the file at path: relative to the current directory in
// a work tree (local), to the repository's root with --repo.
func setImages(root, path string, local bool, images []imageset.Image) ([]string, []imageset.Entry, error) {
	full := path
	if !filepath.IsAbs(full) {
		if local {
			abs, err := filepath.Abs(full)
			if err != nil {
				return nil, nil, err
			}
			full = abs
		} else {
			full = filepath.Join(root, path)
		}
	}
	if err := inside(root, full); err != nil {
		return nil, nil, fmt.Errorf("PATH %s: %w", path, err)
	}
	info, err := os.Stat(full)
	if err != nil {
		return nil, nil, fmt.Errorf("PATH %s: %w", path, err)
	}
	file := full
	kustomization := true
	if info.IsDir() {
		if file, err = kustomizationIn(full); err != nil {
			return nil, nil, err
		}
	} else if !isKustomization(filepath.Base(full)) {
		kustomization = false // an Application manifest
	}
	if err := inside(root, file); err != nil {
		return nil, nil, fmt.Errorf("PATH %s: %w", path, err)
	}
	data, err := readBounded(root, file)
	if err != nil {
		return nil, nil, err
	}
	var out []byte
	var changed []imageset.Entry
	if kustomization {
		out, changed, err = imageset.SetKustomization(data, images)
	} else {
		out, changed, err = imageset.SetApplication(data, images)
	}
	rel, _ := filepath.Rel(root, file)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.ToSlash(rel), err)
	}
	if bytes.Equal(out, data) {
		return nil, nil, nil
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		return nil, nil, err
	}
	return []string{filepath.ToSlash(rel)}, changed, nil
}

// inside checks that p, its symlinks followed, is in the repository root.
func inside(root, p string) error {
	r, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	if r, err = filepath.Abs(r); err != nil {
		return err
	}
	q, err := filepath.EvalSymlinks(p)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		q = p // reported by the caller's stat
	}
	if q, err = filepath.Abs(q); err != nil {
		return err
	}
	rel, err := filepath.Rel(r, q)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return errors.New("is outside the repository")
	}
	return nil
}

func isKustomization(name string) bool {
	return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization"
}

// matchTemplate reads the service and environment of path by the path
// template (apps/{{.Service}}/overlays/{{.Env}}).
func matchTemplate(tmpl, path string) (service, env string, ok bool) {
	const s, e = "\x00S\x00", "\x00E\x00"
	pattern, err := render(tmpl, fields{Service: s, Env: e})
	if err != nil {
		return "", "", false
	}
	want := strings.Split(strings.Trim(filepath.ToSlash(pattern), "/"), "/")
	got := strings.Split(strings.Trim(filepath.ToSlash(filepath.Clean(path)), "/"), "/")
	if len(want) != len(got) {
		return "", "", false
	}
	for i, w := range want {
		switch w {
		case s:
			service = got[i]
		case e:
			env = got[i]
		default:
			if w != got[i] {
				return "", "", false
			}
		}
	}
	return service, env, service != "" && env != ""
}

// NewPromoteCommand returns promote.
func NewPromoteCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &Options{IOStreams: streams}
	var from, to string
	var all bool
	cmd := &cobra.Command{
		Use:   "promote SERVICE... --from ENV --to ENV | --all --from ENV --to ENV",
		Short: "Copy a service's images (tag and digest) from one environment's overlay to another's; commit and push",
		Long: `promote copies the images: entries of a service's overlay for --from to its
overlay for --to (new name, tag and digest; entries --to has and --from has
not are kept), with --all for every service that has both overlays.
Overlays are found by --path-template (default
apps/{{.Service}}/overlays/{{.Env}}). Committing and pushing work as in
image set: --commit, --push, --repo/--revision, --branch, retries on a
non-fast-forward rejection with the edit made again on the new tip.

An unknown service or environment is an error naming the path looked for,
and nothing is committed. See docs/image.md and docs/ci.md.`,
		Example: `  kubectl gitops promote web --from staging --to production --commit --push
  kubectl gitops promote --all --from staging --to production --repo https://git.example/config.git --push --branch promote-$(date +%F)`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.revisionSet = cmd.Flags().Changed("revision")
			if err := o.validate(); err != nil {
				return exitcode.UsageError(err)
			}
			for _, name := range append([]string{from, to}, args...) {
				if name != "" && (strings.ContainsAny(name, `/\`) || name == "." || name == "..") {
					return exitcode.UsageError(fmt.Errorf("%q is not a service or environment name (no path separators)", name))
				}
			}
			switch {
			case from == "" || to == "":
				return exitcode.UsageError(errors.New("--from and --to name the environments"))
			case from == to:
				return exitcode.UsageError(errors.New("--from and --to are the same environment"))
			case all && len(args) > 0:
				return exitcode.UsageError(errors.New("--all promotes every service: give no SERVICE"))
			case !all && len(args) == 0:
				return exitcode.UsageError(errors.New("name a SERVICE, or pass --all"))
			}
			msg := fields{Service: strings.Join(args, ","), Env: to}
			if all {
				msg.Service = "all"
			}
			return o.run(cmd.Context(), func(root string) ([]string, []imageset.Entry, error) {
				services := args
				if all {
					var err error
					if services, err = servicesWith(root, o.PathTemplate, from, to); err != nil {
						return nil, nil, err
					}
				}
				// Every overlay is resolved and edited in memory first:
				// an unknown service writes nothing.
				type write struct {
					file string
					data []byte
				}
				var writes []write
				var files []string
				var entries []imageset.Entry
				for _, svc := range services {
					file, data, e, err := promote(root, o.PathTemplate, svc, from, to)
					if err != nil {
						return nil, nil, err
					}
					if data != nil {
						writes = append(writes, write{file, data})
						files, entries = append(files, rel(root, file)), append(entries, e...)
					}
				}
				for _, w := range writes {
					if err := os.WriteFile(w.file, w.data, 0o644); err != nil {
						return nil, nil, err
					}
				}
				return files, entries, nil
			}, msg)
		},
	}
	o.addFlags(cmd.Flags(), PromoteMessage)
	cmd.Flags().StringVar(&from, "from", "", "Environment to copy the images from")
	cmd.Flags().StringVar(&to, "to", "", "Environment to copy them to")
	cmd.Flags().BoolVar(&all, "all", false, "Every service with overlays for both environments")
	return cmd
}

// promote is svc's --to overlay file with the entries of its --from
// overlay copied in: the file and its new data (nil data when nothing
// changes), and the entries changed.
func promote(root, tmpl, svc, from, to string) (string, []byte, []imageset.Entry, error) {
	src, err := overlay(root, tmpl, svc, from)
	if err != nil {
		return "", nil, nil, err
	}
	dst, err := overlay(root, tmpl, svc, to)
	if err != nil {
		return "", nil, nil, err
	}
	data, err := readBounded(root, src)
	if err != nil {
		return "", nil, nil, err
	}
	entries, err := imageset.Entries(data)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", rel(root, src), err)
	}
	if len(entries) == 0 {
		return "", nil, nil, fmt.Errorf("%s has no images: entries to promote", rel(root, src))
	}
	var images []imageset.Image
	for _, e := range entries {
		images = append(images, imageset.Image(e))
	}
	dstData, err := readBounded(root, dst)
	if err != nil {
		return "", nil, nil, err
	}
	out, changed, err := imageset.SetKustomization(dstData, images)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", rel(root, dst), err)
	}
	if bytes.Equal(out, dstData) {
		return dst, nil, nil, nil
	}
	return dst, out, changed, nil
}

// readBounded reads a kustomization or Application manifest of at most
// render.MaxFileSize bytes, the bound of every file a render reads.
func readBounded(root, file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, pkgrender.MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > pkgrender.MaxFileSize {
		return nil, fmt.Errorf("%s: file is larger than %d MiB, which no render reads; is this the right file?", rel(root, file), pkgrender.MaxFileSize>>20)
	}
	return data, nil
}

func rel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(r)
}

// overlay is the kustomization of svc's overlay for env.
func overlay(root, tmpl, svc, env string) (string, error) {
	p, err := render(tmpl, fields{Service: svc, Env: env})
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, filepath.FromSlash(p))
	if err := inside(root, dir); err != nil {
		return "", fmt.Errorf("--path-template %s gives %s, which %w", tmpl, p, err)
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("service %s has no overlay for environment %s: %s does not exist (--path-template %s)", svc, env, p, tmpl)
	}
	return kustomizationIn(dir)
}

// servicesWith are the services with overlays for both environments: the
// directories at the template's service level.
func servicesWith(root, tmpl, from, to string) ([]string, error) {
	const marker = "\x00S\x00"
	p, err := render(tmpl, fields{Service: marker, Env: from})
	if err != nil {
		return nil, err
	}
	parent := strings.SplitN(filepath.ToSlash(p), marker, 2)[0]
	if parent != "" && !strings.HasSuffix(parent, "/") {
		return nil, fmt.Errorf("--all needs {{.Service}} to be a whole directory name in --path-template %s; name the services instead", tmpl)
	}
	dirs, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(parent)))
	if err != nil {
		return nil, fmt.Errorf("--all: %w", err)
	}
	var out []string
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		_, errFrom := overlay(root, tmpl, d.Name(), from)
		_, errTo := overlay(root, tmpl, d.Name(), to)
		if errFrom == nil && errTo == nil {
			out = append(out, d.Name())
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("--all: no service under %s has overlays for both %s and %s", parent, from, to)
	}
	return out, nil
}
