package argocd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// ApplicationSet is what this tool reads of an Argo CD ApplicationSet.
type ApplicationSet struct {
	Name, File string
	Generators []map[string]any
	// Template is spec.template, an Application's metadata and spec.
	Template map[string]any
	// GoTemplate and GoTemplateOptions are spec.goTemplate and
	// spec.goTemplateOptions ("missingkey=error", ...).
	GoTemplate        bool
	GoTemplateOptions []string
}

// Git reads what the git generators need: a repository's tree at a
// revision.
type Git interface {
	Tree(repoURL, revision string) (*Tree, error)
}

// Tree is a repository's directories and files at a revision (paths
// relative to its root, with '/', sorted), and a way to read a file.
type Tree struct {
	Dirs, Files []string
	Read        func(path string) ([]byte, error)
}

// ParseAppSets reads the ApplicationSets among the documents of data.
func ParseAppSets(file string, data []byte) ([]*ApplicationSet, error) {
	var out []*ApplicationSet
	var errs []error
	objs, err := decodeAll(file, data)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if o.GetKind() != "ApplicationSet" || o.GetAPIVersion() != APIVersion {
			continue
		}
		s, err := appSetOf(file, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// LoadAppSets reads the ApplicationSets of path (see Load).
func LoadAppSets(path string, stdin io.Reader) ([]*ApplicationSet, error) {
	var out []*ApplicationSet
	var errs []error
	err := eachFile(path, stdin, func(f string, data []byte) error {
		sets, err := ParseAppSets(f, data)
		errs = append(errs, err)
		out = append(out, sets...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, errors.Join(errs...)
}

var appSetFields = map[string]bool{"generators": true, "template": true, "goTemplate": true, "goTemplateOptions": true, "syncPolicy": true}

func appSetOf(file string, o *unstructured.Unstructured) (*ApplicationSet, error) {
	s := &ApplicationSet{Name: o.GetName(), File: file}
	ref := fmt.Sprintf("ApplicationSet %s (%s)", s.Name, file)
	spec, _, _ := unstructured.NestedMap(o.Object, "spec")
	var errs []error
	keys := make([]string, 0, len(spec))
	for k := range spec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case k == "templatePatch":
			errs = append(errs, errors.New("spec.templatePatch is not supported yet"))
		case !appSetFields[k]:
			errs = append(errs, fmt.Errorf("spec.%s: not a field of an ApplicationSet this tool reads (fields: generators, template, goTemplate, goTemplateOptions, syncPolicy)", k))
		}
	}
	if sp, ok := spec["syncPolicy"].(map[string]any); ok {
		for k := range sp {
			if k != "preserveResourcesOnDeletion" {
				errs = append(errs, fmt.Errorf("spec.syncPolicy.%s is not supported yet", k))
			}
		}
	}
	gens, _, _ := unstructured.NestedSlice(o.Object, "spec", "generators")
	for i, g := range gens {
		m, ok := g.(map[string]any)
		if !ok || len(m) != 1 {
			errs = append(errs, fmt.Errorf("spec.generators[%d]: want one generator (list, clusters or git)", i))
			continue
		}
		for kind := range m {
			switch kind {
			case "list", "clusters", "git":
			case "matrix", "merge":
				errs = append(errs, fmt.Errorf("spec.generators[%d].%s: not supported yet", i, kind))
			default:
				errs = append(errs, fmt.Errorf("spec.generators[%d].%s: not a generator this tool knows (list, clusters, git)", i, kind))
			}
		}
		s.Generators = append(s.Generators, m)
	}
	if len(gens) == 0 {
		errs = append(errs, errors.New("spec.generators: at least one generator is required"))
	}
	s.Template, _, _ = unstructured.NestedMap(o.Object, "spec", "template")
	if s.Template == nil {
		errs = append(errs, errors.New("spec.template is required"))
	}
	s.GoTemplate, _, _ = unstructured.NestedBool(o.Object, "spec", "goTemplate")
	s.GoTemplateOptions, _, _ = unstructured.NestedStringSlice(o.Object, "spec", "goTemplateOptions")
	for _, opt := range s.GoTemplateOptions {
		switch opt {
		case "missingkey=default", "missingkey=invalid", "missingkey=zero", "missingkey=error":
		default:
			errs = append(errs, fmt.Errorf("spec.goTemplateOptions: %q is not an option; use missingkey=default, missingkey=zero or missingkey=error", opt))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", ref, indent(err))
	}
	return s, nil
}

// Generate makes the ApplicationSet's Applications: each generator's
// parameter sets, each rendered into the template. Applications come in
// generator order; a duplicate name is an error, as in Argo CD.
func (s *ApplicationSet) Generate(git Git, clusters []Cluster) ([]*Application, error) {
	ref := fmt.Sprintf("ApplicationSet %s (%s)", s.Name, s.File)
	var out []*Application
	seen := map[string]bool{}
	for i, g := range s.Generators {
		params, err := s.params(g, git, clusters)
		if err != nil {
			return nil, fmt.Errorf("%s: spec.generators[%d]: %w", ref, i, err)
		}
		for _, p := range params {
			obj, err := s.render(p)
			if err != nil {
				return nil, fmt.Errorf("%s: template: %w", ref, err)
			}
			u := &unstructured.Unstructured{Object: obj}
			u.SetAPIVersion(APIVersion)
			u.SetKind("Application")
			app, err := FromObject("generated by "+ref, u)
			if err != nil {
				return nil, err
			}
			if seen[app.Name] {
				return nil, fmt.Errorf("%s: generates Application %s twice", ref, app.Name)
			}
			seen[app.Name] = true
			out = append(out, app)
		}
	}
	return out, nil
}

// params are a generator's parameter sets.
func (s *ApplicationSet) params(g map[string]any, git Git, clusters []Cluster) ([]map[string]any, error) {
	if l, ok := g["list"].(map[string]any); ok {
		elems, _ := l["elements"].([]any)
		var out []map[string]any
		for i, e := range elems {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("list.elements[%d]: want a mapping", i)
			}
			out = append(out, s.flat(m))
		}
		return out, nil
	}
	if c, ok := g["clusters"].(map[string]any); ok {
		sel := labels.Everything()
		if ml, ok := c["selector"].(map[string]any); ok {
			set := labels.Set{}
			match, _ := ml["matchLabels"].(map[string]any)
			for k, v := range match {
				set[k] = fmt.Sprint(v)
			}
			if len(ml) > 1 || ml["matchLabels"] == nil && len(ml) > 0 {
				return nil, errors.New("clusters.selector: only matchLabels is supported yet")
			}
			sel = labels.SelectorFromSet(set)
		}
		var out []map[string]any
		for _, cl := range clusters {
			if !sel.Matches(labels.Set(cl.Labels)) {
				continue
			}
			lbl := map[string]any{}
			for k, v := range cl.Labels {
				lbl[k] = v
			}
			out = append(out, s.flat(map[string]any{"name": cl.Name, "nameNormalized": Normalize(cl.Name), "server": cl.Server,
				"metadata": map[string]any{"labels": lbl}}))
		}
		return out, nil
	}
	gm, _ := g["git"].(map[string]any)
	repo, _ := gm["repoURL"].(string)
	rev, _ := gm["revision"].(string)
	if repo == "" {
		return nil, errors.New("git.repoURL is required")
	}
	if rev == "" {
		rev = "HEAD"
	}
	if git == nil {
		return nil, errors.New("git generators need the repository")
	}
	tree, err := git.Tree(repo, rev)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	if ds, ok := gm["directories"].([]any); ok {
		var include, exclude []string
		for _, d := range ds {
			m, _ := d.(map[string]any)
			p, _ := m["path"].(string)
			if ex, _ := m["exclude"].(bool); ex {
				exclude = append(exclude, p)
			} else {
				include = append(include, p)
			}
		}
		for _, d := range tree.Dirs {
			if matchAny(include, d) && !matchAny(exclude, d) {
				out = append(out, s.pathParams(d, nil))
			}
		}
		return out, nil
	}
	if fs, ok := gm["files"].([]any); ok {
		for _, f := range fs {
			m, _ := f.(map[string]any)
			pattern, _ := m["path"].(string)
			for _, file := range tree.Files {
				if ok, _ := path.Match(pattern, file); !ok {
					continue
				}
				data, err := tree.Read(file)
				if err != nil {
					return nil, err
				}
				var v any
				if err := sigsyaml.Unmarshal(data, &v); err != nil {
					return nil, fmt.Errorf("git.files: %s: %w", file, err)
				}
				var docs []map[string]any
				switch t := v.(type) {
				case map[string]any:
					docs = []map[string]any{t}
				case []any:
					for _, e := range t {
						if m, ok := e.(map[string]any); ok {
							docs = append(docs, m)
						}
					}
				default:
					return nil, fmt.Errorf("git.files: %s: want a mapping or a list of them", file)
				}
				for _, doc := range docs {
					out = append(out, s.pathParams(path.Dir(file), doc, file))
				}
			}
		}
		return out, nil
	}
	return nil, errors.New("git: give directories or files")
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// pathParams are the git generator's parameters of a directory (and of a
// file's content): Argo CD's path, path.basename, path.basenameNormalized,
// path[N] (flat), or .path.path, .path.basename, .path.segments, ... (Go
// templates).
func (s *ApplicationSet) pathParams(dir string, doc map[string]any, file ...string) map[string]any {
	segs := strings.Split(dir, "/")
	p := map[string]any{"path": dir, "basename": path.Base(dir), "basenameNormalized": Normalize(path.Base(dir)), "segments": toAny(segs)}
	if len(file) > 0 {
		p["filename"] = path.Base(file[0])
		p["filenameNormalized"] = Normalize(path.Base(file[0]))
	}
	out := map[string]any{}
	for k, v := range doc {
		out[k] = v
	}
	if s.GoTemplate {
		out["path"] = p
		return out
	}
	flat := s.flat(out)
	flat["path"] = dir
	flat["path.basename"] = p["basename"]
	flat["path.basenameNormalized"] = p["basenameNormalized"]
	if len(file) > 0 {
		flat["path.filename"], flat["path.filenameNormalized"] = p["filename"], p["filenameNormalized"]
	}
	for i, seg := range segs {
		flat[fmt.Sprintf("path[%d]", i)] = seg
	}
	return flat
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// flat turns nested parameters into Argo CD's flat names (a.b.c) unless
// the set uses Go templates, which see the nesting.
func (s *ApplicationSet) flat(m map[string]any) map[string]any {
	if s.GoTemplate {
		return m
	}
	out := map[string]any{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if mm, ok := v.(map[string]any); ok {
			for k, e := range mm {
				walk(strings.TrimPrefix(prefix+"."+k, "."), e)
			}
			return
		}
		out[prefix] = fmt.Sprint(v)
	}
	walk("", m)
	return out
}

var flatTag = regexp.MustCompile(`\{\{([^{}]*)\}\}`)

// render fills the template with one parameter set: each string through
// Go's text/template (goTemplate, with sprig's functions as Argo CD gives
// them and its options), else Argo CD's {{name}} substitution, which leaves
// an unknown name as it is.
func (s *ApplicationSet) render(params map[string]any) (map[string]any, error) {
	var fill func(v any) (any, error)
	fill = func(v any) (any, error) {
		switch t := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(t))
			for k, e := range t {
				nk, err := fill(k)
				if err != nil {
					return nil, err
				}
				if out[nk.(string)], err = fill(e); err != nil {
					return nil, err
				}
			}
			return out, nil
		case []any:
			out := make([]any, len(t))
			for i, e := range t {
				var err error
				if out[i], err = fill(e); err != nil {
					return nil, err
				}
			}
			return out, nil
		case string:
			if !strings.Contains(t, "{{") {
				return t, nil
			}
			if s.GoTemplate {
				tpl, err := template.New("").Funcs(funcs).Option(s.GoTemplateOptions...).Parse(t)
				if err != nil {
					return nil, err
				}
				var b bytes.Buffer
				if err := tpl.Execute(&b, params); err != nil {
					return nil, err
				}
				return b.String(), nil
			}
			return flatTag.ReplaceAllStringFunc(t, func(tag string) string {
				name := strings.TrimSpace(tag[2 : len(tag)-2])
				if v, ok := params[name]; ok {
					return fmt.Sprint(v)
				}
				return tag
			}), nil
		}
		return v, nil
	}
	out, err := fill(s.Template)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// funcs are sprig's functions without those that read the environment, and
// Argo CD's normalize, toJson, toYaml and fromYaml.
var funcs = func() template.FuncMap {
	m := sprig.TxtFuncMap()
	delete(m, "env")
	delete(m, "expandenv")
	m["normalize"] = Normalize
	m["toYaml"] = func(v any) (string, error) {
		b, err := sigsyaml.Marshal(v)
		return strings.TrimSuffix(string(b), "\n"), err
	}
	m["fromYaml"] = func(s string) (map[string]any, error) {
		var v map[string]any
		err := sigsyaml.Unmarshal([]byte(s), &v)
		return v, err
	}
	m["toJson"] = func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}
	return m
}()

var invalidDNS = regexp.MustCompile(`[^-a-z0-9.]`)

// Normalize makes a name fit for Kubernetes as Argo CD does: lowercase,
// characters other than a-z, 0-9, '-' and '.' turned into '-', at most 253
// long, no leading or trailing '-' or '.'.
func Normalize(name string) string {
	n := invalidDNS.ReplaceAllString(strings.ToLower(name), "-")
	if len(n) > 253 {
		n = n[:253]
	}
	return strings.Trim(n, "-.")
}

func decodeAll(file string, data []byte) ([]*unstructured.Unstructured, error) {
	objs, err := render.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return objs, nil
}
