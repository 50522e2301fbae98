package render

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// Kustomize are an Argo CD Application's spec.source.kustomize overrides.
// They change the kustomization of the rendered path as Argo CD's
// `kustomize edit` commands do before its build, in the same order:
// namePrefix, nameSuffix, images, replicas, commonLabels,
// commonAnnotations, namespace, patches, components. The repository is not
// touched: the build reads the changed kustomization.
type Kustomize struct {
	NamePrefix string `json:"namePrefix,omitempty"`
	NameSuffix string `json:"nameSuffix,omitempty"`
	// Images are kustomize edit set image arguments: NAME[=NEWNAME][:TAG][@DIGEST],
	// "*" keeping the kustomization's NEWNAME, TAG or DIGEST.
	Images   []string  `json:"images,omitempty"`
	Replicas []Replica `json:"replicas,omitempty"`
	// CommonLabels and CommonAnnotations are added; a key the
	// kustomization already has is an error unless forced.
	CommonLabels              map[string]string `json:"commonLabels,omitempty"`
	CommonAnnotations         map[string]string `json:"commonAnnotations,omitempty"`
	ForceCommonLabels         bool              `json:"forceCommonLabels,omitempty"`
	ForceCommonAnnotations    bool              `json:"forceCommonAnnotations,omitempty"`
	LabelWithoutSelector      bool              `json:"labelWithoutSelector,omitempty"`
	LabelIncludeTemplates     bool              `json:"labelIncludeTemplates,omitempty"`
	CommonAnnotationsEnvsubst bool              `json:"commonAnnotationsEnvsubst,omitempty"`
	Namespace                 string            `json:"namespace,omitempty"`
	// Patches are appended to the kustomization's patches, as written.
	Patches []any `json:"patches,omitempty"`
	// Components are added (once each); IgnoreMissingComponents leaves
	// out those that do not exist.
	Components              []string `json:"components,omitempty"`
	IgnoreMissingComponents bool     `json:"ignoreMissingComponents,omitempty"`
	// Env are the build environment variables ${NAME} in images and labels
	// (and annotations with CommonAnnotationsEnvsubst) are replaced by, as
	// Argo CD does (ARGOCD_APP_NAME, ARGOCD_APP_REVISION, ...); an unknown
	// name is empty, $$ is $.
	Env map[string]string `json:"env,omitempty"`
}

// Replica is one replicas override.
type Replica struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

func (k *Kustomize) envsubst(s string) string {
	return os.Expand(s, func(name string) string {
		if name == "$" {
			return "$"
		}
		return k.Env[name]
	})
}

// overridesFS gives the build the kustomization of dir with the overrides
// applied.
type overridesFS struct {
	filesys.FileSystem
	// dirs are the path's directory as given and with its symbolic links
	// followed (kustomize reads it through either).
	dirs []string
	k    *Kustomize
	// applied says the kustomization was read with the overrides.
	applied bool
	// err is why the overrides could not be applied: kustomize reads a
	// kustomization it cannot read as missing, so build reports it.
	err error
}

func (o *overridesFS) ReadFile(path string) ([]byte, error) {
	data, err := o.FileSystem.ReadFile(path)
	if err != nil || !slices.Contains(o.dirs, filepath.Dir(path)) || !isKustomizationFile(filepath.Base(path)) {
		return data, err
	}
	out, err := o.k.apply(data, filepath.Dir(path), o.FileSystem)
	if err != nil {
		o.err = fmt.Errorf("spec.source.kustomize: %w", err)
		return nil, o.err
	}
	o.applied = true
	return out, nil
}

func isKustomizationFile(name string) bool {
	return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization"
}

// apply changes a kustomization as the overrides say.
func (k *Kustomize) apply(data []byte, dir string, fSys filesys.FileSystem) ([]byte, error) {
	m := map[string]any{}
	if err := sigsyaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("reading the kustomization: %w", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	if k.NamePrefix != "" {
		m["namePrefix"] = k.NamePrefix
	}
	if k.NameSuffix != "" {
		m["nameSuffix"] = k.NameSuffix
	}
	if len(k.Images) > 0 {
		if err := k.setImages(m); err != nil {
			return nil, err
		}
	}
	if len(k.Replicas) > 0 {
		setByName(m, "replicas", func(i int) (string, map[string]any) {
			return k.Replicas[i].Name, map[string]any{"name": k.Replicas[i].Name, "count": k.Replicas[i].Count}
		}, len(k.Replicas))
	}
	if len(k.CommonLabels) > 0 {
		labels := map[string]string{}
		for key, v := range k.CommonLabels {
			labels[key] = k.envsubst(v)
		}
		if err := k.addLabels(m, labels); err != nil {
			return nil, err
		}
	}
	if len(k.CommonAnnotations) > 0 {
		ann := map[string]string{}
		for key, v := range k.CommonAnnotations {
			if k.CommonAnnotationsEnvsubst {
				v = k.envsubst(v)
			}
			ann[key] = v
		}
		if err := addToMap(m, "commonAnnotations", ann, k.ForceCommonAnnotations, "commonAnnotations", "forceCommonAnnotations"); err != nil {
			return nil, err
		}
	}
	if k.Namespace != "" {
		m["namespace"] = k.Namespace
	}
	if len(k.Patches) > 0 {
		existing, ok := m["patches"].([]any)
		if m["patches"] != nil && !ok {
			return nil, fmt.Errorf("patches: the kustomization's patches are not a list")
		}
		m["patches"] = append(existing, k.Patches...)
	}
	for _, c := range k.Components {
		if k.IgnoreMissingComponents && !fSys.Exists(filepath.Join(dir, c)) {
			continue
		}
		list, _ := m["components"].([]any)
		if !slices.Contains(list, any(c)) {
			m["components"] = append(list, c)
		}
	}
	return sigsyaml.Marshal(m)
}

// setImages is kustomize edit set image: each argument replaces the entry
// of its name, "*" keeping a value of the entry it replaces.
func (k *Kustomize) setImages(m map[string]any) error {
	list, _ := m["images"].([]any)
	for _, arg := range k.Images {
		arg = k.envsubst(arg)
		img, err := parseImageArg(arg)
		if err != nil {
			return err
		}
		found := false
		for i, e := range list {
			old, _ := e.(map[string]any)
			if old == nil || old["name"] != img["name"] {
				continue
			}
			for _, f := range []string{"newName", "newTag", "digest"} {
				if img[f] == "*" {
					if v, ok := old[f]; ok {
						img[f] = v
					} else {
						delete(img, f)
					}
				}
			}
			list[i], found = img, true
		}
		if !found {
			for _, f := range []string{"newName", "newTag", "digest"} {
				if img[f] == "*" {
					delete(img, f)
				}
			}
			list = append(list, img)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, _ := list[i].(map[string]any)
		b, _ := list[j].(map[string]any)
		an, _ := a["name"].(string)
		bn, _ := b["name"].(string)
		return an < bn
	})
	m["images"] = list
	return nil
}

// parseImageArg reads NAME[=NEWNAME][:TAG][@DIGEST] (a NAME with only a tag
// or digest changes those; with =, NEWNAME replaces the name).
func parseImageArg(arg string) (map[string]any, error) {
	key, value, renamed := strings.Cut(arg, "=")
	if !renamed {
		value = key
	}
	name, tag, digest := splitImage(value)
	if name == "" || (!renamed && tag == "" && digest == "") {
		return nil, fmt.Errorf("images: %q: want NAME=NEWNAME, NAME:TAG, NAME@DIGEST or NAME=NEWNAME:TAG", arg)
	}
	img := map[string]any{"name": name}
	if renamed {
		img["name"], img["newName"] = key, name
	}
	if tag != "" {
		img["newTag"] = tag
	}
	if digest != "" {
		img["digest"] = digest
	}
	return img, nil
}

// splitImage splits an image reference into name, tag and digest; a port
// of the registry ("host:5000/app") is part of the name.
func splitImage(s string) (name, tag, digest string) {
	if i := strings.Index(s, "@"); i >= 0 {
		s, digest = s[:i], s[i+1:]
	}
	if i := strings.LastIndex(s, ":"); i >= 0 && !strings.Contains(s[i+1:], "/") {
		s, tag = s[:i], s[i+1:]
	}
	return s, tag, digest
}

// setByName puts n entries into the list m[field], each replacing the
// entry of its name.
func setByName(m map[string]any, field string, entry func(int) (string, map[string]any), n int) {
	list, _ := m[field].([]any)
	for i := 0; i < n; i++ {
		name, e := entry(i)
		replaced := false
		for j, old := range list {
			if o, ok := old.(map[string]any); ok && o["name"] == name {
				list[j], replaced = e, true
			}
		}
		if !replaced {
			list = append(list, e)
		}
	}
	m[field] = list
}

// addLabels is kustomize edit add label: into commonLabels, or, without
// selectors, into a labels entry that does not touch selectors.
func (k *Kustomize) addLabels(m map[string]any, labels map[string]string) error {
	if !k.LabelWithoutSelector {
		return addToMap(m, "commonLabels", labels, k.ForceCommonLabels, "commonLabels", "forceCommonLabels")
	}
	list, _ := m["labels"].([]any)
	var entry map[string]any
	for _, e := range list {
		if l, ok := e.(map[string]any); ok && l["includeSelectors"] != true && (l["includeTemplates"] == true) == k.LabelIncludeTemplates {
			entry = l
			break
		}
	}
	if entry == nil {
		entry = map[string]any{"pairs": map[string]any{}}
		if k.LabelIncludeTemplates {
			entry["includeTemplates"] = true
		}
		m["labels"] = append(list, entry)
	}
	return addToMap(entry, "pairs", labels, k.ForceCommonLabels, "commonLabels", "forceCommonLabels")
}

// addToMap adds kv to the map m[field]; a key already there is an error
// unless force.
func addToMap(m map[string]any, field string, kv map[string]string, force bool, what, forceField string) error {
	to, _ := m[field].(map[string]any)
	if to == nil {
		to = map[string]any{}
	}
	keys := make([]string, 0, len(kv))
	for key := range kv {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if _, ok := to[key]; ok && !force {
			return fmt.Errorf("%s: %s is already in the kustomization's %s; set %s: true to replace it", what, key, field, forceField)
		}
		to[key] = kv[key]
	}
	m[field] = to
	return nil
}
