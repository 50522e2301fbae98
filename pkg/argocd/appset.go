package argocd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"github.com/bmatcuk/doublestar/v4"
	"github.com/gobwas/glob"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

// ApplicationSet is what this tool reads of an Argo CD ApplicationSet.
type ApplicationSet struct {
	Name, File string
	// Untrusted says the set is not the caller's own file (an object any
	// user allowed to create one wrote): the repositories it names are
	// not given the caller's credentials.
	Untrusted  bool
	Generators []map[string]any
	// Template is spec.template, an Application's metadata and spec.
	Template map[string]any
	// GoTemplate and GoTemplateOptions are spec.goTemplate and
	// spec.goTemplateOptions ("missingkey=error", ...).
	GoTemplate        bool
	GoTemplateOptions []string
	// TemplatePatch is spec.templatePatch (Go templates only).
	TemplatePatch string
	// NewGitFileGlobbing globs git file generators as Argo CD's opt-in
	// --enable-new-git-file-globbing (doublestar: * stays within a
	// directory); false globs as its default (* crosses directories).
	NewGitFileGlobbing bool
	// PreserveResourcesOnDeletion is spec.syncPolicy.preserveResourcesOnDeletion:
	// an Application that leaves the set keeps its resources.
	PreserveResourcesOnDeletion bool
	// ApplicationsSync is spec.syncPolicy.applicationsSync: what the set
	// may do to the Applications it generated — sync (the default:
	// create, update, delete), create-only, create-update, create-delete.
	ApplicationsSync string
}

// MayUpdate says the set's policy lets it change an Application it
// created before.
func (s *ApplicationSet) MayUpdate() bool {
	return s.ApplicationsSync == "" || s.ApplicationsSync == "sync" || s.ApplicationsSync == "create-update"
}

// MayDelete says the set's policy lets it delete an Application that left
// it.
func (s *ApplicationSet) MayDelete() bool {
	return s.ApplicationsSync == "" || s.ApplicationsSync == "sync" || s.ApplicationsSync == "create-delete"
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

// AppSetFromObject reads an ApplicationSet object (one in a cluster);
// file names it in errors. Its status is the controller's and is not read.
func AppSetFromObject(file string, o *unstructured.Unstructured) (*ApplicationSet, error) {
	o = o.DeepCopy()
	unstructured.RemoveNestedField(o.Object, "status")
	return appSetOf(file, o)
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

var appSetFields = map[string]bool{"generators": true, "template": true, "templatePatch": true, "goTemplate": true, "goTemplateOptions": true, "syncPolicy": true}

// generatorFields are the fields of each generator this tool reads
// (besides selector, and template on a top-level generator).
var generatorFields = map[string][]string{
	"list":     {"elements", "elementsYaml"},
	"clusters": {"selector", "values"},
	"git":      {"repoURL", "revision", "directories", "files", "pathParamPrefix", "values", "requeueAfterSeconds"},
	"matrix":   {"generators"},
	"merge":    {"generators", "mergeKeys"},
}

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
		if !appSetFields[k] {
			errs = append(errs, fmt.Errorf("spec.%s: not a field of an ApplicationSet this tool reads (fields: generators, template, templatePatch, goTemplate, goTemplateOptions, syncPolicy)", k))
		}
	}
	if sp, ok := spec["syncPolicy"].(map[string]any); ok {
		for k := range sp {
			if k != "preserveResourcesOnDeletion" && k != "applicationsSync" {
				errs = append(errs, fmt.Errorf("spec.syncPolicy.%s is not supported yet", k))
			}
		}
		s.PreserveResourcesOnDeletion, _ = sp["preserveResourcesOnDeletion"].(bool)
		if v, ok := sp["applicationsSync"]; ok {
			s.ApplicationsSync, _ = v.(string)
			switch s.ApplicationsSync {
			case "sync", "create-only", "create-update", "create-delete":
			default:
				errs = append(errs, fmt.Errorf("spec.syncPolicy.applicationsSync: %v is not a policy (create-only, create-update, create-delete, sync)", v))
			}
		}
	}
	gens, _, _ := unstructured.NestedSlice(o.Object, "spec", "generators")
	for i, g := range gens {
		m, err := checkGenerator(fmt.Sprintf("spec.generators[%d]", i), g, 0)
		errs = append(errs, err...)
		if m != nil {
			s.Generators = append(s.Generators, m)
		}
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
	if tp, found := spec["templatePatch"]; found {
		str, ok := tp.(string)
		switch {
		case !ok:
			errs = append(errs, errors.New("spec.templatePatch: want a string (a YAML or JSON patch of the template, a Go template)"))
		case !s.GoTemplate:
			errs = append(errs, errors.New("spec.templatePatch works only with goTemplate: true, as in Argo CD"))
		}
		s.TemplatePatch = str
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s:%w", ref, indent(err))
	}
	return s, nil
}

// checkGenerator checks one generator entry at path: one generator, its
// fields, selector, and template (top level only: Argo CD does not process
// it in a matrix or merge child). depth counts the combining generators
// above it; Argo CD nests them once.
func checkGenerator(path string, g any, depth int) (map[string]any, []error) {
	m, ok := g.(map[string]any)
	if !ok {
		return nil, []error{fmt.Errorf("%s: want a generator (list, clusters, git, matrix or merge)", path)}
	}
	var errs []error
	var kinds []string
	for k := range m {
		switch k {
		case "selector":
			if _, err := paramSelector(m[k]); err != nil {
				errs = append(errs, fmt.Errorf("%s.selector: %w", path, err))
			}
		case "template":
			if depth > 0 {
				errs = append(errs, fmt.Errorf("%s.template: Argo CD does not process the template of a matrix or merge child; move it into spec.template", path))
			} else if _, ok := m[k].(map[string]any); !ok {
				errs = append(errs, fmt.Errorf("%s.template: want an Application's metadata and spec", path))
			}
		default:
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	if len(kinds) != 1 {
		return nil, append(errs, fmt.Errorf("%s: want exactly one generator (list, clusters, git, matrix or merge), found %s", path, strings.Join(kinds, ", ")))
	}
	kind := kinds[0]
	fields, known := generatorFields[kind]
	if !known {
		return nil, append(errs, fmt.Errorf("%s.%s: not a generator this tool knows (list, clusters, git, matrix, merge)", path, kind))
	}
	body, ok := m[kind].(map[string]any)
	if !ok {
		return nil, append(errs, fmt.Errorf("%s.%s: want a mapping", path, kind))
	}
	for k := range body {
		if k == "template" && (kind == "list" || kind == "clusters" || kind == "git") {
			if depth > 0 {
				errs = append(errs, fmt.Errorf("%s.%s.template: Argo CD does not process the template of a matrix or merge child; move it into spec.template", path, kind))
			}
			continue
		}
		if !slices.Contains(fields, k) {
			errs = append(errs, fmt.Errorf("%s.%s.%s: not a field this tool reads (fields: %s)", path, kind, k, strings.Join(fields, ", ")))
		}
	}
	switch kind {
	case "matrix", "merge":
		if depth >= 2 {
			errs = append(errs, fmt.Errorf("%s.%s: matrix and merge generators nest only once, as in Argo CD", path, kind))
		}
		children, _ := body["generators"].([]any)
		if kind == "matrix" && len(children) != 2 {
			errs = append(errs, fmt.Errorf("%s.matrix.generators: want exactly two generators, as Argo CD combines (found %d)", path, len(children)))
		}
		if kind == "merge" {
			if len(children) < 2 {
				errs = append(errs, fmt.Errorf("%s.merge.generators: want at least two generators (found %d)", path, len(children)))
			}
			if keys, _ := body["mergeKeys"].([]any); len(keys) == 0 {
				errs = append(errs, fmt.Errorf("%s.merge.mergeKeys: at least one key is required", path))
			}
		}
		for i, c := range children {
			_, e := checkGenerator(fmt.Sprintf("%s.%s.generators[%d]", path, kind, i), c, depth+1)
			errs = append(errs, e...)
		}
	case "clusters":
		if sel, ok := body["selector"]; ok {
			if _, err := paramSelector(sel); err != nil {
				errs = append(errs, fmt.Errorf("%s.clusters.selector: %w", path, err))
			}
		}
	}
	return m, errs
}

// selector is a label selector over parameters or cluster labels: Argo
// CD's matchLabels and matchExpressions (In, NotIn, Exists,
// DoesNotExist), with any value (a server URL too).
type selector struct {
	match []func(map[string]string) bool
	empty bool
}

func paramSelector(v any) (*selector, error) {
	m, ok := v.(map[string]any)
	if v == nil {
		return &selector{empty: true}, nil
	}
	if !ok {
		return nil, errors.New("want matchLabels and/or matchExpressions")
	}
	s := &selector{}
	for k := range m {
		if k != "matchLabels" && k != "matchExpressions" {
			return nil, fmt.Errorf("%s: want matchLabels and/or matchExpressions", k)
		}
	}
	ml, _ := m["matchLabels"].(map[string]any)
	for k, v := range ml {
		k, want := k, fmt.Sprint(v)
		s.match = append(s.match, func(l map[string]string) bool { got, ok := l[k]; return ok && got == want })
	}
	exprs, _ := m["matchExpressions"].([]any)
	for i, e := range exprs {
		em, _ := e.(map[string]any)
		key, _ := em["key"].(string)
		op, _ := em["operator"].(string)
		var values []string
		vs, _ := em["values"].([]any)
		for _, v := range vs {
			values = append(values, fmt.Sprint(v))
		}
		if key == "" {
			return nil, fmt.Errorf("matchExpressions[%d]: key is required", i)
		}
		switch op {
		case "In", "NotIn":
			if len(values) == 0 {
				return nil, fmt.Errorf("matchExpressions[%d]: %s needs values", i, op)
			}
			in := op == "In"
			s.match = append(s.match, func(l map[string]string) bool {
				got, ok := l[key]
				return ok && slices.Contains(values, got) == in || !ok && !in
			})
		case "Exists":
			s.match = append(s.match, func(l map[string]string) bool { _, ok := l[key]; return ok })
		case "DoesNotExist":
			s.match = append(s.match, func(l map[string]string) bool { _, ok := l[key]; return !ok })
		default:
			return nil, fmt.Errorf("matchExpressions[%d]: operator %q: want In, NotIn, Exists or DoesNotExist", i, op)
		}
	}
	s.empty = len(s.match) == 0
	return s, nil
}

func (s *selector) matches(l map[string]string) bool {
	for _, m := range s.match {
		if !m(l) {
			return false
		}
	}
	return true
}

// WrittenRepoURLs are the repository URLs the set names as written (no
// template in them): its git generators', nested ones too, and its
// template's source. A command trusts their hosts with its credentials.
func (s *ApplicationSet) WrittenRepoURLs() []string {
	var out []string
	add := func(v any) {
		if u, ok := v.(string); ok && u != "" && !strings.Contains(u, "{{") {
			out = append(out, u)
		}
	}
	var walk func(g map[string]any)
	walk = func(g map[string]any) {
		if gm, ok := g["git"].(map[string]any); ok {
			add(gm["repoURL"])
		}
		for _, kind := range []string{"matrix", "merge"} {
			if cm, ok := g[kind].(map[string]any); ok {
				children, _ := cm["generators"].([]any)
				for _, c := range children {
					if m, ok := c.(map[string]any); ok {
						walk(m)
					}
				}
			}
		}
	}
	for _, g := range s.Generators {
		walk(g)
	}
	u, _, _ := unstructured.NestedFieldNoCopy(s.Template, "spec", "source", "repoURL")
	add(u)
	return out
}

// Generate makes the ApplicationSet's Applications: each generator's
// parameter sets, each rendered into the template (a generator's own
// template laid over spec.template) and then templatePatch. Applications
// come in generator order; a duplicate name is an error, as in Argo CD.
func (s *ApplicationSet) Generate(git Git, clusters []Cluster) ([]*Application, error) {
	ref := fmt.Sprintf("ApplicationSet %s (%s)", s.Name, s.File)
	var out []*Application
	seen := map[string]bool{}
	for i, g := range s.Generators {
		params, err := s.params(g, git, clusters, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: spec.generators[%d]: %w", ref, i, err)
		}
		tmpl := s.Template
		if gt := generatorTemplate(g); gt != nil {
			tmpl = deepMerge(s.Template, gt, true) // an empty field of the generator's template says nothing
		}
		for _, p := range params {
			obj, err := s.render(tmpl, p)
			if err != nil {
				return nil, fmt.Errorf("%s: spec.template.%w; the parameters of spec.generators[%d] are: %s", ref, err, i, paramNames(p))
			}
			if s.TemplatePatch != "" {
				if obj, err = s.patch(obj, p); err != nil {
					return nil, fmt.Errorf("%s: templatePatch: %w", ref, err)
				}
			}
			u := &unstructured.Unstructured{Object: obj}
			u.SetAPIVersion(APIVersion)
			u.SetKind("Application")
			// As Argo CD: a generated Application without finalizers gets
			// the resources finalizer (leaving the set deletes what it
			// deployed) unless the set preserves resources on deletion.
			if len(u.GetFinalizers()) == 0 && !s.PreserveResourcesOnDeletion {
				u.SetFinalizers([]string{ResourcesFinalizer})
			}
			app, err := FromObject("generated by "+ref, u)
			if err != nil {
				return nil, err
			}
			app.GeneratedBy = s
			if seen[app.Name] {
				return nil, fmt.Errorf("%s: generates Application %s twice", ref, app.Name)
			}
			seen[app.Name] = true
			out = append(out, app)
		}
	}
	return out, nil
}

// generatorTemplate is a generator's own template (on the entry, or inside
// a list, clusters or git generator), nil when none.
func generatorTemplate(g map[string]any) map[string]any {
	if t, ok := g["template"].(map[string]any); ok {
		return t
	}
	for _, kind := range []string{"list", "clusters", "git"} {
		if body, ok := g[kind].(map[string]any); ok {
			if t, ok := body["template"].(map[string]any); ok {
				return t
			}
		}
	}
	return nil
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// patch applies templatePatch, rendered with the parameters, to a
// generated Application: maps merge, lists and values are replaced, null
// deletes (a strategic merge patch of an Application, whose fields have no
// merge keys). The project cannot be patched, as in Argo CD.
func (s *ApplicationSet) patch(obj map[string]any, params map[string]any) (map[string]any, error) {
	text, err := s.renderString(s.TemplatePatch, params)
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := sigsyaml.Unmarshal([]byte(text), &p); err != nil {
		return nil, fmt.Errorf("the rendered patch is not YAML or JSON: %v", err)
	}
	project, had, _ := unstructured.NestedFieldCopy(obj, "spec", "project")
	out := mergePatch(obj, p).(map[string]any)
	if had {
		_ = unstructured.SetNestedField(out, project, "spec", "project")
	} else {
		unstructured.RemoveNestedField(out, "spec", "project")
	}
	return out, nil
}

func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, _ := target.(map[string]any)
	out := make(map[string]any, len(tm))
	for k, v := range tm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

// params are a generator's parameter sets; outer are the parameters of a
// matrix's first generator, which the second's fields are rendered with.
func (s *ApplicationSet) params(g map[string]any, git Git, clusters []Cluster, outer map[string]any) ([]map[string]any, error) {
	if outer != nil {
		// values are rendered later with the generator's own parameters
		// too; here only what the first generator's parameters can fill
		// (as Argo CD, a value naming a parameter of its own generator is
		// kept for then).
		var err error
		if g, err = s.renderGenerator(g, outer); err != nil {
			return nil, fmt.Errorf("rendering with the first generator's parameters: %w", err)
		}
	}
	out, err := s.generatorParams(g, git, clusters)
	if err != nil {
		return nil, err
	}
	if sel, ok := g["selector"]; ok {
		ps, err := paramSelector(sel)
		if err != nil {
			return nil, err
		}
		var kept []map[string]any
		for _, p := range out {
			if ps.matches(flatStrings(p)) {
				kept = append(kept, p)
			}
		}
		out = kept
	}
	return out, nil
}

// renderGenerator renders a generator's fields with params, its values
// each on its own: one that cannot be rendered yet (it names a parameter
// of the generator itself) is kept as written.
func (s *ApplicationSet) renderGenerator(g map[string]any, params map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for kind, body := range g {
		bm, ok := body.(map[string]any)
		values, hasValues := bm["values"].(map[string]any)
		if !ok || !hasValues {
			r, err := s.renderValue(body, params)
			if err != nil {
				return nil, err
			}
			out[kind] = r
			continue
		}
		rest := map[string]any{}
		for k, v := range bm {
			if k != "values" {
				rest[k] = v
			}
		}
		r, err := s.renderValue(rest, params)
		if err != nil {
			return nil, err
		}
		rm := r.(map[string]any)
		strict := &ApplicationSet{GoTemplate: s.GoTemplate, GoTemplateOptions: []string{"missingkey=error"}}
		rv := map[string]any{}
		for k, v := range values {
			str, isStr := v.(string)
			if !isStr {
				rv[k] = v
				continue
			}
			if done, err := strict.renderString(str, params); err == nil && !strings.Contains(done, "<no value>") {
				rv[k] = done
			} else {
				rv[k] = str
			}
		}
		rm["values"] = rv
		out[kind] = rm
	}
	return out, nil
}

func (s *ApplicationSet) generatorParams(g map[string]any, git Git, clusters []Cluster) ([]map[string]any, error) {
	if l, ok := g["list"].(map[string]any); ok {
		elems, _ := l["elements"].([]any)
		if y, ok := l["elementsYaml"].(string); ok && y != "" {
			var more []any
			if err := sigsyaml.Unmarshal([]byte(y), &more); err != nil {
				return nil, fmt.Errorf("list.elementsYaml: want a YAML list of mappings: %v", err)
			}
			elems = append(append([]any{}, elems...), more...)
		}
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
		return s.clusterParams(c, clusters)
	}
	if m, ok := g["matrix"].(map[string]any); ok {
		return s.matrix(m, git, clusters)
	}
	if m, ok := g["merge"].(map[string]any); ok {
		return s.merge(m, git, clusters)
	}
	gm, _ := g["git"].(map[string]any)
	return s.gitParams(gm, git)
}

// clusterParams: one set per registered cluster the selector selects, and
// the local cluster (in-cluster) when no selector is set and no Secret
// registers it, as Argo CD does.
func (s *ApplicationSet) clusterParams(c map[string]any, clusters []Cluster) ([]map[string]any, error) {
	sel, err := paramSelector(c["selector"])
	if err != nil {
		return nil, err
	}
	values, err := stringValues(c["values"], "clusters.values")
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	local := true
	for _, cl := range clusters {
		if strings.TrimSuffix(cl.Server, "/") == InCluster {
			local = false
		}
		if !sel.matches(cl.Labels) {
			continue
		}
		p := map[string]any{"name": cl.Name, "nameNormalized": Normalize(cl.Name), "server": cl.Server, "project": ""}
		if s.GoTemplate {
			meta := map[string]any{}
			if len(cl.Labels) > 0 {
				meta["labels"] = stringsToAny(cl.Labels)
			}
			if len(cl.Annotations) > 0 {
				meta["annotations"] = stringsToAny(cl.Annotations)
			}
			p["metadata"] = meta
		} else {
			for k, v := range cl.Labels {
				p["metadata.labels."+k] = v
			}
			for k, v := range cl.Annotations {
				p["metadata.annotations."+k] = v
			}
		}
		out = append(out, p)
	}
	if local && sel.empty {
		out = append(out, map[string]any{"name": InClusterName, "nameNormalized": InClusterName, "server": InCluster, "project": ""})
	}
	for _, p := range out {
		if err := s.addValues(p, values); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// addValues adds a generator's values, rendered with the set's own
// parameters: values.KEY, or .values.KEY with Go templates.
func (s *ApplicationSet) addValues(p map[string]any, values map[string]string) error {
	if len(values) == 0 {
		return nil
	}
	rendered := map[string]any{}
	for k, v := range values {
		r, err := s.renderString(v, p)
		if err != nil {
			return fmt.Errorf("values.%s: %w", k, err)
		}
		rendered[k] = r
	}
	if s.GoTemplate {
		p["values"] = rendered
		return nil
	}
	for k, v := range rendered {
		p["values."+k] = v
	}
	return nil
}

func stringValues(v any, where string) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a map of strings", where)
	}
	out := map[string]string{}
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s.%s: want a string (quote numbers and booleans)", where, k)
		}
		out[k] = s
	}
	return out, nil
}

func stringsToAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// matrix combines every set of its first generator with every set of its
// second (rendered with the first's parameters): Go templates merge the
// two, the first winning; flat parameters must agree where both have a
// key, as in Argo CD.
func (s *ApplicationSet) matrix(m map[string]any, git Git, clusters []Cluster) ([]map[string]any, error) {
	children, _ := m["generators"].([]any)
	if len(children) != 2 {
		return nil, fmt.Errorf("matrix: want exactly two generators")
	}
	first, _ := children[0].(map[string]any)
	second, _ := children[1].(map[string]any)
	as, err := s.params(first, git, clusters, nil)
	if err != nil {
		return nil, fmt.Errorf("matrix.generators[0]: %w", err)
	}
	var out []map[string]any
	for _, a := range as {
		bs, err := s.params(second, git, clusters, a)
		if err != nil {
			return nil, fmt.Errorf("matrix.generators[1]: %w", err)
		}
		for _, b := range bs {
			if s.GoTemplate {
				out = append(out, deepMerge(b, a, false))
				continue
			}
			c := map[string]any{}
			for k, v := range a {
				c[k] = fmt.Sprint(v)
			}
			for k, v := range b {
				if cur, ok := c[k]; ok && cur != fmt.Sprint(v) {
					return nil, fmt.Errorf("matrix: both generators give parameter %s, as %q and %q (give one of them a pathParamPrefix)", k, cur, fmt.Sprint(v))
				}
				c[k] = fmt.Sprint(v)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// deepMerge is base with over laid on it (maps merged, over winning);
// skipEmpty leaves out over's empty values (a generator's template laid
// over the spec's).
func deepMerge(base, over map[string]any, skipEmpty bool) map[string]any {
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = deepMerge(bm, om, skipEmpty)
				continue
			}
		}
		if skipEmpty && isEmpty(v) {
			continue
		}
		out[k] = v
	}
	return out
}

// merge keeps the sets of its first generator, each overridden by the set
// of every later generator that has the same values of mergeKeys (the
// last winning); sets of later generators that match none are dropped. A
// generator giving two sets of the same key values is an error, as in Argo
// CD.
func (s *ApplicationSet) merge(m map[string]any, git Git, clusters []Cluster) ([]map[string]any, error) {
	var keys []string
	ks, _ := m["mergeKeys"].([]any)
	for _, k := range ks {
		keys = append(keys, fmt.Sprint(k))
	}
	children, _ := m["generators"].([]any)
	keyOf := func(p map[string]any) string {
		vals := make([]any, len(keys))
		for i, k := range keys {
			vals[i] = p[k]
		}
		b, _ := json.Marshal(vals)
		return string(b)
	}
	var base []map[string]any
	index := map[string]int{}
	for i, c := range children {
		g, _ := c.(map[string]any)
		sets, err := s.params(g, git, clusters, nil)
		if err != nil {
			return nil, fmt.Errorf("merge.generators[%d]: %w", i, err)
		}
		seen := map[string]bool{}
		for _, p := range sets {
			k := keyOf(p)
			if seen[k] {
				return nil, fmt.Errorf("merge.generators[%d]: two parameter sets have the merge keys %s = %s; they must be unique", i, strings.Join(keys, ", "), k)
			}
			seen[k] = true
			if i == 0 {
				index[k] = len(base)
				base = append(base, p)
				continue
			}
			j, ok := index[k]
			if !ok {
				continue
			}
			if s.GoTemplate {
				base[j] = deepMerge(base[j], p, false)
			} else {
				merged := map[string]any{}
				for k, v := range base[j] {
					merged[k] = v
				}
				for k, v := range p {
					merged[k] = v
				}
				base[j] = merged
			}
		}
	}
	return base, nil
}

// gitParams are a git generator's sets: one per matching directory, or one
// per item of each matching file.
func (s *ApplicationSet) gitParams(gm map[string]any, git Git) ([]map[string]any, error) {
	repo, _ := gm["repoURL"].(string)
	rev, _ := gm["revision"].(string)
	prefix, _ := gm["pathParamPrefix"].(string)
	values, err := stringValues(gm["values"], "git.values")
	if err != nil {
		return nil, err
	}
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
	includes := func(field string) (include, exclude []string, err error) {
		list, _ := gm[field].([]any)
		for i, d := range list {
			m, _ := d.(map[string]any)
			p, _ := m["path"].(string)
			if p == "" {
				return nil, nil, fmt.Errorf("git.%s[%d].path is required", field, i)
			}
			if ex, _ := m["exclude"].(bool); ex {
				exclude = append(exclude, p)
			} else {
				include = append(include, p)
			}
		}
		return include, exclude, nil
	}
	var out []map[string]any
	switch {
	case gm["directories"] != nil:
		include, exclude, err := includes("directories")
		if err != nil {
			return nil, err
		}
		for _, d := range tree.Dirs {
			if matchAny(include, d, path.Match) && !matchAny(exclude, d, path.Match) {
				out = append(out, s.pathParams(d, nil, prefix))
			}
		}
	case gm["files"] != nil:
		// Files are found as Argo CD's repo server globs them: by default
		// greedily (* crosses directories: some-path/*.yaml matches at any
		// depth); with its new globbing as doublestar does.
		include, exclude, err := includes("files")
		if err != nil {
			return nil, err
		}
		match := greedyMatch
		if s.NewGitFileGlobbing {
			match = doublestar.Match
		}
		for _, file := range tree.Files {
			if !matchAny(include, file, match) || matchAny(exclude, file, match) {
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
			case nil:
				docs = []map[string]any{{}}
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
				out = append(out, s.pathParams(path.Dir(file), doc, prefix, file))
			}
		}
	default:
		return nil, errors.New("git: give directories or files")
	}
	for _, p := range out {
		if err := s.addValues(p, values); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// greedyMatch is Argo CD's default file globbing: a glob whose * and ?
// match any characters, / included.
func greedyMatch(pattern, name string) (bool, error) {
	g, err := glob.Compile(pattern)
	if err != nil {
		return false, err
	}
	return g.Match(name), nil
}

func matchAny(patterns []string, p string, match func(pattern, name string) (bool, error)) bool {
	for _, pat := range patterns {
		if ok, _ := match(pat, p); ok {
			return true
		}
	}
	return false
}

// pathParams are the git generator's parameters of a directory (and of a
// file's content): Argo CD's path, path.basename, path.basenameNormalized,
// path[N] (flat), or .path.path, .path.basename, .path.segments, ... (Go
// templates); a pathParamPrefix puts them under PREFIX.path.
func (s *ApplicationSet) pathParams(dir string, doc map[string]any, prefix string, file ...string) map[string]any {
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
		if prefix != "" {
			out[prefix] = map[string]any{"path": p}
		} else {
			out["path"] = p
		}
		return out
	}
	flat := s.flat(out)
	name := "path"
	if prefix != "" {
		name = prefix + ".path"
	}
	flat[name] = dir
	flat[name+".basename"] = p["basename"]
	flat[name+".basenameNormalized"] = p["basenameNormalized"]
	if len(file) > 0 {
		flat[name+".filename"], flat[name+".filenameNormalized"] = p["filename"], p["filenameNormalized"]
	}
	for i, seg := range segs {
		if seg != "" {
			flat[fmt.Sprintf("%s[%d]", name, i)] = seg
		}
	}
	return flat
}

// flatStrings are parameters flattened to a.b.c names with string values,
// as a generator's selector sees them.
func flatStrings(p map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, e := range t {
				walk(strings.TrimPrefix(prefix+"."+k, "."), e)
			}
			return
		case []any:
			// As Argo CD flattens them: key.0, key.1, ...
			for i, e := range t {
				walk(strings.TrimPrefix(fmt.Sprintf("%s.%d", prefix, i), "."), e)
			}
			return
		}
		out[prefix] = fmt.Sprint(v)
	}
	walk("", p)
	return out
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
	return stringsToAny(flatStrings(m))
}

var flatTag = regexp.MustCompile(`\{\{([^{}]*)\}\}`)

// render fills a template with one parameter set (see renderValue).
func (s *ApplicationSet) render(tmpl, params map[string]any) (map[string]any, error) {
	out, err := s.renderValue(tmpl, params)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// renderValue fills every string of v (keys too) with one parameter set:
// Go's text/template (goTemplate, with sprig's functions as Argo CD gives
// them and its options), else Argo CD's {{name}} substitution, which
// leaves an unknown name as it is.
func (s *ApplicationSet) renderValue(v any, params map[string]any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			nk, err := s.renderString(k, params)
			if err != nil {
				return nil, inField("."+k, err)
			}
			if out[nk], err = s.renderValue(e, params); err != nil {
				return nil, inField("."+k, err)
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			var err error
			if out[i], err = s.renderValue(e, params); err != nil {
				return nil, inField(fmt.Sprintf("[%d]", i), err)
			}
		}
		return out, nil
	case string:
		return s.renderString(t, params)
	}
	return v, nil
}

// fieldError is a template error at a field path (".metadata.name").
type fieldError struct {
	path string
	err  error
}

func (e *fieldError) Error() string { return strings.TrimPrefix(e.path, ".") + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// inField puts err under the field step (".key" or "[i]").
func inField(step string, err error) error {
	if fe, ok := err.(*fieldError); ok {
		return &fieldError{step + fe.path, fe.err}
	}
	return &fieldError{step, err}
}

// paramNames lists a parameter set's names, for an error that says which
// a template may use.
func paramNames(params map[string]any) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (s *ApplicationSet) renderString(t string, params map[string]any) (string, error) {
	if !strings.Contains(t, "{{") {
		return t, nil
	}
	if s.GoTemplate {
		tpl, err := template.New("").Funcs(funcs).Option(s.GoTemplateOptions...).Parse(t)
		if err != nil {
			return "", err
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, params); err != nil {
			return "", err
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

// funcs are sprig's functions without those that read the environment or
// the network, and
// Argo CD's normalize, toJson, toYaml and fromYaml.
var funcs = func() template.FuncMap {
	m := sprig.TxtFuncMap()
	delete(m, "env")
	delete(m, "expandenv")
	delete(m, "getHostByName") // a DNS lookup, as Argo CD drops it
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
