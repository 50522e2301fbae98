package setimage

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/resid"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/strict"
)

// APIVersion and Kind of the function config.
const (
	APIVersion = "fn.kubectl-gitops.dev/v1alpha1"
	Kind       = "SetImage"
)

// Image says how to change one image, as an entry of kustomize's `images:`.
type Image struct {
	// Name matches images by name (registry and port included), with or
	// without a tag or digest.
	Name string `json:"name" yaml:"name"`
	// NewName replaces the name.
	NewName string `json:"newName,omitempty" yaml:"newName,omitempty"`
	// NewTag replaces the tag (and drops a digest unless Digest is set).
	NewTag string `json:"newTag,omitempty" yaml:"newTag,omitempty"`
	// Digest replaces the digest (and drops a tag unless NewTag is set).
	Digest string `json:"digest,omitempty" yaml:"digest,omitempty"`
}

// FieldSpec locates an image field in a kind, as kustomize field specs do.
type FieldSpec struct {
	Group   string `json:"group,omitempty" yaml:"group,omitempty"`
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	Kind    string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Path is slash-separated, with [] for list items:
	// spec/template/spec/containers[]/image.
	Path string `json:"path" yaml:"path"`
}

// Config is the function config.
type Config struct {
	APIVersion            string            `json:"apiVersion" yaml:"apiVersion"`
	Kind                  string            `json:"kind" yaml:"kind"`
	Metadata              strict.ObjectMeta `json:"metadata,omitempty" yaml:"metadata,omitempty"`
	Images                []Image           `json:"images" yaml:"images"`
	AdditionalImageFields []FieldSpec       `json:"additionalImageFields,omitempty" yaml:"additionalImageFields,omitempty"`
}

// configMap is the ConfigMap form of the config; data holds the image.
type configMap struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   strict.ObjectMeta `json:"metadata"`
	Data       map[string]string `json:"data"`
	Immutable  any               `json:"immutable,omitempty"`
}

// configMapKeys are the data keys of the ConfigMap form.
var configMapKeys = []string{"name", "newName", "newTag", "digest"}

// Parse reads a config: a SetImage object, or a ConfigMap whose data holds
// one image (name, newName, newTag, digest). A key the config does not
// define, at any level, is an error naming its path.
func Parse(node *yaml.RNode) (*Config, error) {
	if node == nil || node.IsNilOrEmpty() {
		return nil, errors.New("no function config; give a SetImage (apiVersion " + APIVersion + ") listing images")
	}
	meta, err := node.GetMeta()
	if err != nil {
		return nil, fmt.Errorf("function config: %w", err)
	}
	cfg := &Config{}
	var errs []error
	switch {
	case meta.Kind == "ConfigMap" && meta.APIVersion == "v1":
		unknown := strict.UnknownKeys(node, &configMap{}, "")
		data := node.GetDataMap()
		keys := make([]string, 0, len(data))
		for key := range data {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if !slices.Contains(configMapKeys, key) {
				if s := strict.Suggest(key, configMapKeys); s != "" {
					unknown = append(unknown, fmt.Errorf("data.%s: unknown key; did you mean %s?", key, s))
				} else {
					unknown = append(unknown, fmt.Errorf("data.%s: unknown key; use name, newName, newTag and digest", key))
				}
			}
		}
		for _, err := range unknown {
			errs = append(errs, fmt.Errorf("ConfigMap/%s: %w", meta.Name, err))
		}
		cfg.APIVersion, cfg.Kind = APIVersion, Kind
		cfg.Images = []Image{{Name: data["name"], NewName: data["newName"], NewTag: data["newTag"], Digest: data["digest"]}}
	case meta.Kind == Kind && meta.APIVersion == APIVersion:
		if err := yaml.Unmarshal([]byte(node.MustString()), cfg); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", Kind, meta.Name, err)
		}
		errs = strict.UnknownKeys(node, cfg, "")
	default:
		return nil, fmt.Errorf("function config is %s %s; want %s %s (or a v1 ConfigMap)", meta.APIVersion, meta.Kind, APIVersion, Kind)
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// Default trims values and strips a leading "@" or ":" users copy along.
func (c *Config) Default() {
	for i := range c.Images {
		im := &c.Images[i]
		im.Name = strings.TrimSpace(im.Name)
		im.NewName = strings.TrimSpace(im.NewName)
		im.NewTag = strings.TrimPrefix(strings.TrimSpace(im.NewTag), ":")
		im.Digest = strings.TrimPrefix(strings.TrimSpace(im.Digest), "@")
	}
}

// Validate reports every problem, one per line.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Images) == 0 {
		errs = append(errs, errors.New("images: the config sets no image; list at least one with name and newName, newTag or digest"))
	}
	for i, im := range c.Images {
		switch {
		case im.Name == "":
			errs = append(errs, fmt.Errorf("images[%d]: name is required", i))
		case im.NewName == "" && im.NewTag == "" && im.Digest == "":
			errs = append(errs, fmt.Errorf("images[%d] (%s): sets nothing; give newName, newTag or digest", i, im.Name))
		}
		if strings.ContainsAny(im.Name, ":@") && !strings.Contains(im.Name, "/") && !strings.Contains(im.Name, ".") {
			errs = append(errs, fmt.Errorf("images[%d] (%s): name must not include a tag or digest; match by name alone", i, im.Name))
		}
		if im.Digest != "" && !strings.Contains(im.Digest, ":") {
			errs = append(errs, fmt.Errorf("images[%d] (%s): digest %q is not algorithm:hex, e.g. sha256:0123...", i, im.Name, im.Digest))
		}
	}
	for i, fs := range c.AdditionalImageFields {
		if fs.Path == "" || fs.Kind == "" {
			errs = append(errs, fmt.Errorf("additionalImageFields[%d]: kind and path are required", i))
		}
	}
	return errors.Join(errs...)
}

// defaultFields are the image fields of the built-in workload kinds: Pods,
// everything with a pod template (Deployment, StatefulSet, DaemonSet,
// ReplicaSet, ReplicationController, Job), CronJob's job template, and image
// volumes.
var defaultFields = func() types.FsSlice {
	var fs types.FsSlice
	for _, prefix := range []string{"spec", "spec/template/spec", "spec/jobTemplate/spec/template/spec", "template/spec"} {
		for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
			fs = append(fs, types.FieldSpec{Path: prefix + "/" + list + "[]/image"})
		}
		fs = append(fs, types.FieldSpec{Path: prefix + "/volumes[]/image/reference"})
	}
	return fs
}()

func (c *Config) fieldSpecs() types.FsSlice {
	fs := append(types.FsSlice{}, defaultFields...)
	for _, f := range c.AdditionalImageFields {
		fs = append(fs, types.FieldSpec{Gvk: resid.Gvk{Group: f.Group, Version: f.Version, Kind: f.Kind}, Path: f.Path})
	}
	return fs
}
