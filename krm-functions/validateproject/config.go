package validateproject

import (
	"errors"
	"fmt"
	"os"

	"sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
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

// AppProject is the part of Argo CD's AppProject this function reads. A nil
// list was absent in the manifest; an empty one was written as [].
type AppProject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Destinations               []Destination    `json:"destinations"`
		ClusterResourceWhitelist   *[]ResourceEntry `json:"clusterResourceWhitelist"`
		ClusterResourceBlacklist   *[]ResourceEntry `json:"clusterResourceBlacklist"`
		NamespaceResourceWhitelist *[]ResourceEntry `json:"namespaceResourceWhitelist"`
		NamespaceResourceBlacklist *[]ResourceEntry `json:"namespaceResourceBlacklist"`
	} `json:"spec"`
}

// Config is the function config.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
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

// Parse reads and validates the function config, loading ProjectFile.
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
	if cfg.Project == nil && cfg.ProjectFile != "" {
		data, err := os.ReadFile(cfg.ProjectFile)
		if err != nil {
			return nil, fmt.Errorf("projectFile: %w", err)
		}
		cfg.Project = &AppProject{}
		if err := sigsyaml.Unmarshal(data, cfg.Project); err != nil {
			return nil, fmt.Errorf("projectFile %s: %w", cfg.ProjectFile, err)
		}
	}
	return cfg, cfg.Validate()
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
