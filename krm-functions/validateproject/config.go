package validateproject

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/strict"
)

// APIVersion and Kind of the function config.
const (
	APIVersion = "fn.kubectl-gitops.dev/v1alpha1"
	Kind       = "ValidateProject"
)

// ResourceEntry is an entry of an AppProject resource list: group and kind
// globs, and for cluster-scoped lists an optional name glob.
type ResourceEntry struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
}

// Destination is an AppProject destination, or the app's.
type Destination struct {
	Server    string `json:"server,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// AppProject is Argo CD's AppProject as written. This function reads the
// destinations and the four resource lists; the other fields of Argo CD's
// AppProjectSpec are accepted as written and not read (no rule here depends
// on them). A nil list was absent in the manifest; an empty one was written
// as [].
type AppProject struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   strict.ObjectMeta `json:"metadata"`
	Spec       struct {
		Destinations               []Destination    `json:"destinations"`
		ClusterResourceWhitelist   *[]ResourceEntry `json:"clusterResourceWhitelist"`
		ClusterResourceBlacklist   *[]ResourceEntry `json:"clusterResourceBlacklist"`
		NamespaceResourceWhitelist *[]ResourceEntry `json:"namespaceResourceWhitelist"`
		NamespaceResourceBlacklist *[]ResourceEntry `json:"namespaceResourceBlacklist"`

		// Not read: Argo CD's other AppProjectSpec fields.
		SourceRepos                     any `json:"sourceRepos,omitempty"`
		Description                     any `json:"description,omitempty"`
		Roles                           any `json:"roles,omitempty"`
		OrphanedResources               any `json:"orphanedResources,omitempty"`
		SyncWindows                     any `json:"syncWindows,omitempty"`
		SignatureKeys                   any `json:"signatureKeys,omitempty"`
		SourceNamespaces                any `json:"sourceNamespaces,omitempty"`
		PermitOnlyProjectScopedClusters any `json:"permitOnlyProjectScopedClusters,omitempty"`
		DestinationServiceAccounts      any `json:"destinationServiceAccounts,omitempty"`
		SourceIntegrity                 any `json:"sourceIntegrity,omitempty"`
	} `json:"spec"`
	// Status is what Argo CD writes (kubectl get -o yaml); not read.
	Status any `json:"status,omitempty"`
}

// Config is the function config.
type Config struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   strict.ObjectMeta `json:"metadata"`
	// Project is the AppProject as written; ProjectFile reads it from a
	// file instead (relative to the working directory kustomize gives).
	Project     *AppProject `json:"project,omitempty"`
	ProjectFile string      `json:"projectFile,omitempty"`
	// Destination is where the app deploys: server or name, and the
	// namespace of namespaced items that have none.
	Destination Destination `json:"destination"`
	// ClusterScopedKinds and NamespacedKinds declare the scope of kinds that
	// are neither built in nor defined by a CRD in the build.
	ClusterScopedKinds []GroupKind `json:"clusterScopedKinds,omitempty"`
	NamespacedKinds    []GroupKind `json:"namespacedKinds,omitempty"`
}

// Parse reads and validates the function config, loading ProjectFile. A
// key the config or the AppProject does not define, at any level, is an
// error: ignoring a misspelled rule would let through what it forbids.
func Parse(node *yaml.RNode) (*Config, error) {
	if node == nil || node.IsNilOrEmpty() {
		return nil, errors.New("no function config; give a ValidateProject (apiVersion " + APIVersion + ") with the project and the destination")
	}
	cfg := &Config{}
	if err := sigsyaml.Unmarshal([]byte(node.MustString()), cfg); err != nil {
		return nil, fmt.Errorf("function config: %w", err)
	}
	if cfg.APIVersion != APIVersion || cfg.Kind != Kind {
		return nil, fmt.Errorf("function config is %s %s; want %s %s", cfg.APIVersion, cfg.Kind, APIVersion, Kind)
	}
	errs := strict.UnknownKeys(node, cfg, "")
	if cfg.Project == nil && cfg.ProjectFile != "" {
		data, err := os.ReadFile(cfg.ProjectFile)
		if err != nil {
			return nil, errors.Join(append(errs, fmt.Errorf("projectFile: %w", err))...)
		}
		cfg.Project = &AppProject{}
		if err := sigsyaml.Unmarshal(data, cfg.Project); err != nil {
			return nil, errors.Join(append(errs, fmt.Errorf("projectFile %s: %w", cfg.ProjectFile, err))...)
		}
		project, err := yaml.Parse(string(data))
		if err != nil {
			return nil, errors.Join(append(errs, fmt.Errorf("projectFile %s: %w", cfg.ProjectFile, err))...)
		}
		for _, err := range strict.UnknownKeys(project, cfg.Project, "") {
			errs = append(errs, fmt.Errorf("projectFile %s: %w", cfg.ProjectFile, err))
		}
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// Validate reports every problem of the config.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Project == nil && c.ProjectFile == "":
		errs = append(errs, errors.New("project: give the AppProject inline (project:) or by path (projectFile:)"))
	case c.Project != nil && c.ProjectFile != "" && c.Project.Kind == "":
		errs = append(errs, errors.New("give project or projectFile, not both"))
	case c.Project != nil && (c.Project.Kind != "AppProject" || c.Project.APIVersion != "argoproj.io/v1alpha1"):
		errs = append(errs, fmt.Errorf("project is %s %s; want argoproj.io/v1alpha1 AppProject", c.Project.APIVersion, c.Project.Kind))
	}
	if c.Destination.Server == "" && c.Destination.Name == "" {
		errs = append(errs, errors.New("destination: give server (e.g. https://kubernetes.default.svc) or name"))
	}
	for i, gk := range append(append([]GroupKind{}, c.ClusterScopedKinds...), c.NamespacedKinds...) {
		if gk.Kind == "" {
			errs = append(errs, fmt.Errorf("declared kinds[%d]: kind is required", i))
		}
	}
	return errors.Join(errs...)
}
