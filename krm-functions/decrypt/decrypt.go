package decrypt

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/fnresult"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/sops"
)

// Processor is the function.
type Processor struct {
	// KeyFiles are age key files named on the command line; the
	// environment and sops' keys.txt are read too.
	KeyFiles []string
	// Dir resolves the config's paths; "" is the working directory, which
	// kustomize sets to the kustomization's.
	Dir string
	// Sources overrides where keys are read (tests); KeyFiles still apply.
	Sources *sops.KeySources
	// OnlyKeyFiles reads KeyFiles alone, not the environment or sops'
	// keys.txt: render hands the function exactly the keys it chose.
	OnlyKeyFiles bool
}

// Process implements framework.ResourceListProcessor.
func (p Processor) Process(rl *framework.ResourceList) error {
	cfg, err := Parse(rl.FunctionConfig)
	if err != nil {
		rl.Results = append(rl.Results, fnresult.Errors(err)...)
		return rl.Results
	}
	r := &run{p: p}
	var errs []error
	for i, item := range rl.Items {
		if item.Field(sops.MetadataKey) == nil {
			continue
		}
		id := describe(item)
		out, err := r.decryptItem(item, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rl.Items[i] = out
		rl.Results = append(rl.Results, info(id+": decrypted", out))
	}
	for _, f := range cfg.Files {
		items, err := r.decryptManifests(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, it := range items {
			rl.Results = append(rl.Results, info(describe(it)+": decrypted from "+f, it))
		}
		rl.Items = append(rl.Items, items...)
	}
	for _, s := range cfg.Secrets {
		secret, err := r.generate(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rl.Results = append(rl.Results, info(describe(secret)+": generated", secret))
		rl.Items = append(rl.Items, secret)
	}
	if len(errs) > 0 {
		rl.Results = append(rl.Results, fnresult.Errors(errors.Join(errs...))...)
		return rl.Results
	}
	return nil
}

func info(msg string, item *yaml.RNode) *framework.Result {
	r := &framework.Result{Severity: framework.Info, Message: msg}
	if item != nil {
		if m, err := item.GetMeta(); err == nil {
			r.ResourceRef = &yaml.ResourceIdentifier{TypeMeta: m.TypeMeta, NameMeta: m.ObjectMeta.NameMeta}
		}
	}
	return r
}

// describe names an item: Kind/namespace/name, with its file when known.
func describe(item *yaml.RNode) string {
	m, err := item.GetMeta()
	if err != nil {
		return "item"
	}
	s := m.Kind + "/"
	if m.Namespace != "" {
		s += m.Namespace + "/"
	}
	s += m.Name
	for _, a := range []string{"internal.config.kubernetes.io/path", "config.kubernetes.io/path"} {
		if p := m.Annotations[a]; p != "" {
			return s + " (" + p + ")"
		}
	}
	return s
}

type run struct {
	p    Processor
	keys *sops.Keys
}

func (r *run) loadKeys() (*sops.Keys, error) {
	if r.keys != nil {
		return r.keys, nil
	}
	src := sops.KeySources{}
	if r.p.Sources != nil {
		src = *r.p.Sources
	}
	src.Files = append(append([]string{}, r.p.KeyFiles...), src.Files...)
	src.OnlyFiles = src.OnlyFiles || r.p.OnlyKeyFiles
	keys, err := sops.LoadKeys(src)
	if err != nil {
		return nil, err
	}
	if r.p.OnlyKeyFiles {
		// The render that runs the function chose its keys: the fix is
		// there (its flags, or a tenant's Secret), not in this process.
		keys.SetAdvice("the render running this function passes it the keys it was given: give that render the key of one of those recipients")
	}
	r.keys = keys
	return keys, nil
}

// buildAnnotation reports annotations kustomize adds to items it hands to
// functions (they were not there when the file was encrypted).
func buildAnnotation(k string) bool {
	return strings.HasPrefix(k, "config.kubernetes.io/") || strings.HasPrefix(k, "internal.config.kubernetes.io/") ||
		k == "config.k8s.io/id" || k == "kustomize.config.k8s.io/id"
}

// decryptItem decrypts an item of the stream. Kustomize adds its own
// annotations to items; when the MAC does not match with them, it is tried
// without them, and they are put back on the result.
func (r *run) decryptItem(item *yaml.RNode, id string) (*yaml.RNode, error) {
	keys, err := r.loadKeys()
	if err != nil {
		return nil, err
	}
	out, err := decryptYAML(id, item.MustString(), keys)
	var me *sops.MACError
	if errors.As(err, &me) {
		stripped := item.Copy()
		removed := map[string]string{}
		for k, v := range stripped.GetAnnotations() {
			if buildAnnotation(k) {
				removed[k] = v
				if _, err := stripped.Pipe(yaml.ClearAnnotation(k)); err != nil {
					return nil, err
				}
			}
		}
		if len(removed) > 0 {
			if len(stripped.GetAnnotations()) == 0 {
				_ = stripped.PipeE(yaml.Lookup("metadata"), yaml.Clear("annotations"))
			}
			if out, err = decryptYAML(id, stripped.MustString(), keys); err == nil {
				names := make([]string, 0, len(removed))
				for k := range removed {
					names = append(names, k)
				}
				sort.Strings(names)
				for _, k := range names {
					if err := out.PipeE(yaml.SetAnnotation(k, removed[k])); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	if errors.As(err, &me) && len(removedBuildAnnotations(item)) > 0 {
		return nil, fmt.Errorf("%w. Kustomize hands resources to functions with their fields reordered, which no MAC survives: list the file under this function's files: (it then reads it itself, as a generator) instead of under resources:", err)
	}
	if err != nil {
		return nil, err
	}
	return out, foldStringData(out)
}

func removedBuildAnnotations(item *yaml.RNode) []string {
	var out []string
	for k := range item.GetAnnotations() {
		if buildAnnotation(k) {
			out = append(out, k)
		}
	}
	return out
}

func decryptYAML(id, text string, keys *sops.Keys) (*yaml.RNode, error) {
	plain, err := sops.Decrypt(id, []byte(text), sops.YAML, keys)
	if err != nil {
		return nil, err
	}
	return yaml.Parse(string(plain))
}

// foldStringData moves a Secret's stringData into data, base64-encoded, as
// the API server does when it stores the Secret.
func foldStringData(n *yaml.RNode) error {
	if n.GetKind() != "Secret" {
		return nil
	}
	sd := n.Field("stringData")
	if sd == nil || sd.Value.IsNilOrEmpty() {
		return n.PipeE(yaml.Clear("stringData"))
	}
	data, err := n.Pipe(yaml.LookupCreate(yaml.MappingNode, "data"))
	if err != nil {
		return err
	}
	err = sd.Value.VisitFields(func(f *yaml.MapNode) error {
		v := base64.StdEncoding.EncodeToString([]byte(f.Value.YNode().Value))
		return data.PipeE(yaml.SetField(f.Key.YNode().Value, yaml.NewStringRNode(v)))
	})
	if err != nil {
		return err
	}
	return n.PipeE(yaml.Clear("stringData"))
}

// readEncrypted reads a file named by the config, inside the directory,
// and decrypts it.
func (r *run) readEncrypted(rel string) (*sops.File, error) {
	dir := r.p.Dir
	if dir == "" {
		dir = "."
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(filepath.Join(root, rel))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, errors.Unwrap(err))
	}
	if inside, _ := filepath.Rel(root, real); inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is a link that leaves the kustomization directory", rel)
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, sops.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	file, err := sops.Parse(rel, data, sops.FormatForPath(rel))
	if err != nil {
		return nil, err
	}
	if file.Meta == nil {
		return nil, fmt.Errorf("%s is not SOPS-encrypted; plaintext secrets do not belong in Git: encrypt it with 'kubectl gitops secret encrypt -i %s'", rel, rel)
	}
	keys, err := r.loadKeys()
	if err != nil {
		return nil, err
	}
	if err := file.Decrypt(keys); err != nil {
		return nil, err
	}
	return file, nil
}

func (r *run) decryptManifests(rel string) ([]*yaml.RNode, error) {
	file, err := r.readEncrypted(rel)
	if err != nil {
		return nil, err
	}
	if file.Format != sops.YAML && file.Format != sops.JSON {
		return nil, fmt.Errorf("files: %s is not a YAML or JSON manifest; generate a Secret from it with secrets[].files", rel)
	}
	plain, err := file.Plaintext()
	if err != nil {
		return nil, err
	}
	items, err := kio.FromBytes(plain)
	if err != nil {
		return nil, fmt.Errorf("%s: decrypted content is not a manifest: %w", rel, err)
	}
	for _, it := range items {
		if it.GetKind() == "" || it.GetName() == "" {
			return nil, fmt.Errorf("%s: a decrypted document has no kind or metadata.name", rel)
		}
		if err := foldStringData(it); err != nil {
			return nil, err
		}
	}
	return items, nil
}

func (r *run) generate(s SecretSpec) (*yaml.RNode, error) {
	data := map[string]string{}
	add := func(key string, value []byte, from string) error {
		if _, dup := data[key]; dup {
			return fmt.Errorf("secret %s: key %q given twice (again by %s)", s.Name, key, from)
		}
		data[key] = base64.StdEncoding.EncodeToString(value)
		return nil
	}
	for _, entry := range s.Files {
		key, rel := fileKey(entry)
		file, err := r.readEncrypted(rel)
		if err != nil {
			return nil, err
		}
		plain, err := file.Plaintext()
		if err != nil {
			return nil, err
		}
		if err := add(key, plain, rel); err != nil {
			return nil, err
		}
	}
	for _, rel := range s.Envs {
		file, err := r.readEncrypted(rel)
		if err != nil {
			return nil, err
		}
		if file.Format != sops.Dotenv {
			return nil, fmt.Errorf("secret %s: envs: %s is not a dotenv file (.env); use files for it", s.Name, rel)
		}
		for _, it := range file.Docs[0] {
			k, ok := it.Key.(string)
			if !ok {
				continue
			}
			v, _ := it.Value.(string)
			if err := add(k, []byte(v), rel); err != nil {
				return nil, err
			}
		}
	}
	typ := s.Type
	if typ == "" {
		typ = "Opaque"
	}
	meta := map[string]any{"name": s.Name}
	if s.Namespace != "" {
		meta["namespace"] = s.Namespace
	}
	if len(s.Labels) > 0 {
		meta["labels"] = s.Labels
	}
	ann := map[string]string{}
	for k, v := range s.Annotations {
		ann[k] = v
	}
	if !s.DisableNameSuffixHash {
		ann[NeedsHashAnnotation] = "true"
	}
	if s.Behavior != "" && s.Behavior != "create" {
		ann[BehaviorAnnotation] = s.Behavior
	}
	if len(ann) > 0 {
		meta["annotations"] = ann
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out, err := yaml.FromMap(map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": typ})
	if err != nil {
		return nil, err
	}
	d, err := out.Pipe(yaml.LookupCreate(yaml.MappingNode, "data"))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := d.PipeE(yaml.SetField(k, yaml.NewStringRNode(data[k]))); err != nil {
			return nil, err
		}
	}
	return out, nil
}
