// Package appflags holds what every command that compares an app with the
// cluster shares (sync, diff, status, rollback): the app name, the source
// flags, the destination and inventory namespaces, the app-wide sync
// options, and the connection to the cluster.
package appflags

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/source"
)

// Flags name an app and where it goes.
type Flags struct {
	// App is the app name; empty derives it from the path.
	App    string
	Source source.Flags
	// DestNamespace is set on namespaced objects without one (default:
	// -n/--namespace).
	DestNamespace string
	// InventoryNamespace holds the app's inventory and lock.
	InventoryNamespace string
	// SyncOptions are app-wide sync options (Key=value).
	SyncOptions []string
	// IgnoreDifferences is a file of Argo CD ignoreDifferences rules (a
	// list of rules, or an Application); empty for none.
	IgnoreDifferences string

	ignore ignoreFile
	// namespaceMetadata is an Application's managedNamespaceMetadata.
	namespaceMetadata *gsync.NamespaceMetadata
	// target is the Application of -f these flags were taken from, and
	// projects the AppProjects it is checked against.
	target   *Target
	projects *Projects
}

// ignoreFile holds the rules read from --ignore-differences, read once.
type ignoreFile struct {
	loaded bool
	rules  []ignore.Rule
	err    error
}

// ignoreRules reads --ignore-differences once, whichever of Validate and
// Options asks first.
func (f *Flags) ignoreRules() ([]ignore.Rule, error) {
	if !f.ignore.loaded && f.IgnoreDifferences != "" {
		f.ignore.rules, f.ignore.err = ignore.Load(f.IgnoreDifferences)
		f.ignore.loaded = true
	}
	return f.ignore.rules, f.ignore.err
}

// DefaultInventoryNamespace is where inventories live unless told.
const DefaultInventoryNamespace = "kubectl-gitops"

// AddFlags registers the source flags (withSource), --dest-namespace,
// --inventory-namespace, --sync-option and --ignore-differences.
func (f *Flags) AddFlags(fs *pflag.FlagSet, withSource bool) {
	if withSource {
		f.Source.AddFlags(fs)
		f.Source.AddKeyFlags(fs, true)
	}
	if f.InventoryNamespace == "" {
		f.InventoryNamespace = DefaultInventoryNamespace
	}
	fs.StringVar(&f.DestNamespace, "dest-namespace", "", "Namespace for namespaced objects that name none (default: -n/--namespace when given)")
	fs.StringVar(&f.InventoryNamespace, "inventory-namespace", f.InventoryNamespace, "Namespace of the inventory ConfigMap and the sync lock")
	fs.StringArrayVar(&f.SyncOptions, "sync-option", nil, "App-wide sync option Key=value (repeatable)")
	fs.StringVar(&f.IgnoreDifferences, "ignore-differences", "", "File of Argo CD ignoreDifferences rules (a list, or an Application's spec.ignoreDifferences): fields never compared")
}

// Complete sets the app name from args (or derives it from the path) and
// the destination namespace from -n when --dest-namespace is not given.
func (f *Flags) Complete(args []string, kubeFlags *genericclioptions.ConfigFlags) {
	if len(args) > 0 && args[0] != "" {
		f.App = args[0]
	} else if f.App == "" && f.Source.Local != "" {
		f.App = LocalAppName(f.Source.Local)
	} else if f.App == "" {
		f.App = AppName(f.Source.Path, gsource.RedactURL(f.Source.Repo))
	}
	// As with kubectl apply -n: the namespace given is where namespaced
	// objects without one go; --dest-namespace wins when both are given.
	if f.DestNamespace == "" && kubeFlags != nil && kubeFlags.Namespace != nil {
		f.DestNamespace = *kubeFlags.Namespace
	}
}

// Validate checks the flags (the source flags when withSource), and reads
// and checks the --ignore-differences file.
func (f *Flags) Validate(withSource bool) error {
	if withSource {
		if err := f.Source.Validate(); err != nil {
			return err
		}
	}
	if _, err := (plan.SyncOptions{}).Apply(f.SyncOptions...); err != nil {
		return fmt.Errorf("--sync-option: %w", err)
	}
	if f.InventoryNamespace == "" {
		return fmt.Errorf("--inventory-namespace must not be empty")
	}
	if _, err := f.ignoreRules(); err != nil {
		return fmt.Errorf("--ignore-differences: %w", err)
	}
	return nil
}

// Options copies the flags into engine options.
func (f *Flags) Options(o *gsync.Options) {
	o.DestNamespace = f.DestNamespace
	o.InventoryNamespace = f.InventoryNamespace
	o.SyncOptions = append(o.SyncOptions, f.SyncOptions...)
	o.NamespaceMetadata = f.namespaceMetadata
	// Validate reports a file that cannot be read; Options may run first.
	o.IgnoreDifferences, _ = f.ignoreRules()
}

// Input is what the engine compares for a rendered source.
func (f *Flags) Input(r *app.Rendered) gsync.Input {
	return gsync.Input{
		App: f.App, Objects: r.Objects, Repo: r.Source.Repo, Origin: r.Source.Origin, Path: r.Source.Path,
		Revision: r.Source.Revision, Commit: r.Source.Commit, SecretValues: r.Decrypted,
		Directory: f.Source.Directory, Kustomize: f.Source.Kustomize,
	}
}

// Connect builds a client from the kubeconfig flags and checks that the
// cluster answers.
func Connect(ctx context.Context, kubeFlags *genericclioptions.ConfigFlags) (*cluster.Client, error) {
	restConfig, err := kubeFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w; pass --kubeconfig or --context", err)
	}
	c, err := cluster.New(restConfig)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		return nil, fmt.Errorf("%w; check --kubeconfig and --context", err)
	}
	return c, nil
}

// containerDirs are path segments that name a layout, not an app.
var containerDirs = map[string]bool{"apps": true, "applications": true, "overlays": true, "envs": true, "environments": true, "clusters": true, "base": true, "manifests": true, "deploy": true, ".": true, "": true}

var invalidName = regexp.MustCompile(`[^a-z0-9-]+`)

// LocalAppName derives an app name from a directory on disk: inside a Git
// work tree from its path relative to the work tree's root, as sync derives
// it from --path (so `diff --local apps/web/overlays/prod` compares the app
// that `sync --path apps/web/overlays/prod` synced); elsewhere from the
// directory's own name.
func LocalAppName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return AppName(filepath.Base(dir), "")
	}
	if wt := app.WorkTreeRoot(abs); wt != "" {
		if rel, err := filepath.Rel(wt, abs); err == nil {
			return AppName(filepath.ToSlash(rel), wt)
		}
	}
	return AppName(filepath.Base(abs), abs)
}

// AppName derives an app name from a path in the repository:
// apps/order-service/overlays/production → order-service-production. The
// repository's base name stands in for an empty result.
func AppName(p, repo string) string {
	var parts []string
	for _, seg := range strings.Split(path.Clean("/"+strings.ReplaceAll(p, "\\", "/")), "/") {
		if !containerDirs[strings.ToLower(seg)] {
			parts = append(parts, seg)
		}
	}
	if len(parts) == 0 {
		base := path.Base(strings.TrimSuffix(strings.TrimRight(strings.ReplaceAll(repo, "\\", "/"), "/"), ".git"))
		parts = []string{base}
	}
	name := invalidName.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-")
	name = strings.Trim(name, "-")
	if len(name) > 57 {
		name = strings.Trim(name[:57], "-")
	}
	if name == "" {
		name = "app"
	}
	return name
}
