package decrypt

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	sigsyaml "sigs.k8s.io/yaml"

	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/strict"
)

// APIVersion and Kind of the function config.
const (
	APIVersion = "fn.kubectl-gitops.dev/v1alpha1"
	Kind       = "Decrypt"
)

// Kustomize's annotations on generated resources.
const (
	NeedsHashAnnotation = "kustomize.config.k8s.io/needs-hash"
	BehaviorAnnotation  = "kustomize.config.k8s.io/behavior"
)

// SecretSpec describes one Secret to generate.
type SecretSpec struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Type defaults to Opaque.
	Type string `json:"type,omitempty"`
	// Behavior is create (default), merge or replace, as in kustomize's
	// secretGenerator.
	Behavior string `json:"behavior,omitempty"`
	// DisableNameSuffixHash keeps the name as given; otherwise kustomize
	// appends a hash of the content and rewrites references.
	DisableNameSuffixHash bool              `json:"disableNameSuffixHash,omitempty"`
	Labels                map[string]string `json:"labels,omitempty"`
	Annotations           map[string]string `json:"annotations,omitempty"`
	// Files are KEY=PATH or PATH (key: the file name) of encrypted files;
	// each decrypted file becomes one key.
	Files []string `json:"files,omitempty"`
	// Envs are encrypted dotenv files; each KEY=value becomes one key.
	Envs []string `json:"envs,omitempty"`
}

// Config is the function config.
type Config struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   strict.ObjectMeta `json:"metadata"`
	Files      []string          `json:"files,omitempty"`
	Secrets    []SecretSpec      `json:"secrets,omitempty"`
}

// Parse reads and validates the config. An empty config decrypts the
// stream only. A key the config does not define, at any level, is an error
// naming its path: a misspelled files: would leave its Secrets out.
func Parse(node *yaml.RNode) (*Config, error) {
	cfg := &Config{}
	if node == nil || node.IsNilOrEmpty() {
		return cfg, nil
	}
	if err := sigsyaml.Unmarshal([]byte(node.MustString()), cfg); err != nil {
		return nil, fmt.Errorf("function config: %w", err)
	}
	if cfg.APIVersion != APIVersion || cfg.Kind != Kind {
		return nil, fmt.Errorf("function config is %s %s; want %s %s", cfg.APIVersion, cfg.Kind, APIVersion, Kind)
	}
	errs := strict.UnknownKeys(node, cfg, "")
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// fileKey splits KEY=PATH; the key defaults to the file name.
func fileKey(entry string) (key, path string) {
	if k, p, ok := strings.Cut(entry, "="); ok {
		return k, p
	}
	return filepath.Base(entry), entry
}

func checkPath(where, p string) error {
	switch {
	case p == "":
		return fmt.Errorf("%s: empty path", where)
	case filepath.IsAbs(p):
		return fmt.Errorf("%s: %q is absolute; give a path relative to the kustomization", where, p)
	case p == ".." || strings.HasPrefix(filepath.Clean(p), ".."+string(filepath.Separator)):
		return fmt.Errorf("%s: %q leaves the kustomization directory; keep encrypted files inside it", where, p)
	}
	return nil
}

// Validate reports every problem of the config.
func (c *Config) Validate() error {
	var errs []error
	for i, f := range c.Files {
		if err := checkPath(fmt.Sprintf("files[%d]", i), f); err != nil {
			errs = append(errs, err)
		}
	}
	names := map[string]bool{}
	for i, s := range c.Secrets {
		where := fmt.Sprintf("secrets[%d]", i)
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		} else {
			where = fmt.Sprintf("secrets[%d] (%s)", i, s.Name)
			if msgs := validation.IsDNS1123Subdomain(s.Name); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("%s: name: %s", where, strings.Join(msgs, "; ")))
			}
			id := s.Namespace + "/" + s.Name
			if names[id] {
				errs = append(errs, fmt.Errorf("%s: a Secret of this name is generated twice", where))
			}
			names[id] = true
		}
		switch s.Behavior {
		case "", "create", "merge", "replace":
		default:
			errs = append(errs, fmt.Errorf("%s: behavior %q; use create, merge or replace", where, s.Behavior))
		}
		if len(s.Files) == 0 && len(s.Envs) == 0 {
			errs = append(errs, fmt.Errorf("%s: give files or envs", where))
		}
		for j, f := range s.Files {
			key, p := fileKey(f)
			if msgs := validation.IsConfigMapKey(key); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("%s: files[%d]: key %q: %s", where, j, key, strings.Join(msgs, "; ")))
			}
			if err := checkPath(fmt.Sprintf("%s: files[%d]", where, j), p); err != nil {
				errs = append(errs, err)
			}
		}
		for j, e := range s.Envs {
			if err := checkPath(fmt.Sprintf("%s: envs[%d]", where, j), e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
