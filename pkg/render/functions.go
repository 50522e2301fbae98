package render

import (
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// functionAnnotations name a KRM function's runtime on its config object
// (the second is the older spelling kustomize still reads).
var functionAnnotations = []string{"config.kubernetes.io/function", "config.k8s.io/function"}

// execFunction is a KRM function configured to run a local program.
type execFunction struct {
	File, Kind, Name, Path string
	Args                   []string
}

// own returns the name of our own function that f runs (`kubectl-gitops fn
// NAME`, or a function binary named NAME), or "".
func (f execFunction) own(names map[string]bool) string {
	base := path.Base(filepath.ToSlash(f.Path))
	if base == "kubectl-gitops" && len(f.Args) >= 2 && f.Args[0] == "fn" && names[f.Args[1]] {
		return f.Args[1]
	}
	if names[base] {
		return base
	}
	return ""
}

func (f execFunction) String() string {
	return fmt.Sprintf("%s/%s in %s (exec %s)", f.Kind, f.Name, f.File, f.Path)
}

// findExecFunctions returns the exec functions configured anywhere in a YAML
// stream: as documents (a transformer config file) or nested in one (inline
// entries of a kustomization's transformers, generators or validators).
func findExecFunctions(data []byte, file string) []execFunction {
	var out []execFunction
	reader := utilyaml.NewYAMLReader(bufioReader(data))
	for {
		raw, err := reader.Read()
		if err != nil {
			return out
		}
		var doc any
		if yaml.Unmarshal(raw, &doc) != nil {
			continue
		}
		walk(doc, func(m map[string]any) {
			meta, _ := m["metadata"].(map[string]any)
			ann, _ := meta["annotations"].(map[string]any)
			for _, key := range functionAnnotations {
				spec, ok := ann[key].(string)
				if !ok {
					continue
				}
				if ex := parseExec(spec); ex != nil {
					kind, _ := m["kind"].(string)
					name, _ := meta["name"].(string)
					out = append(out, execFunction{File: file, Kind: kind, Name: name, Path: ex.Path, Args: ex.Args})
				}
			}
		})
	}
}

type execSpec struct {
	Path string   `json:"path"`
	Args []string `json:"args,omitempty"`
}

// parseExec reads the exec part of a function annotation, if any.
func parseExec(spec string) *execSpec {
	var fn struct {
		Exec *execSpec `json:"exec"`
	}
	if yaml.Unmarshal([]byte(spec), &fn) != nil {
		return nil
	}
	return fn.Exec
}

// walk calls visit on every map in v, depth first, including maps inside
// strings that are YAML documents themselves (kustomize accepts inline
// transformer and generator configs as strings).
func walk(v any, visit func(map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		visit(t)
		for _, child := range t {
			walk(child, visit)
		}
	case []any:
		for _, child := range t {
			walk(child, visit)
		}
	case string:
		if strings.Contains(t, "config.kubernetes.io/function") || strings.Contains(t, "config.k8s.io/function") {
			var inner any
			if yaml.Unmarshal([]byte(t), &inner) == nil {
				walk(inner, visit)
			}
		}
	}
}

// rewriteOwn returns data with every exec function config that runs one of
// our own functions pointed at self (`self fn NAME`). Files without such
// functions come back unchanged. Comments in rewritten files are lost; they
// only feed this build.
func rewriteOwn(data []byte, names map[string]bool, self string, args func(string) []string) ([]byte, bool) {
	if !bytes.Contains(data, []byte("function")) {
		return data, false
	}
	reader := utilyaml.NewYAMLReader(bufioReader(data))
	var docs [][]byte
	changed := false
	for {
		raw, err := reader.Read()
		if err != nil {
			break
		}
		var doc any
		if yaml.Unmarshal(raw, &doc) != nil {
			docs = append(docs, raw)
			continue
		}
		doc, c := rewriteValue(doc, names, self, args)
		if !c {
			docs = append(docs, raw)
			continue
		}
		out, err := yaml.Marshal(doc)
		if err != nil {
			return data, false
		}
		changed = true
		docs = append(docs, out)
	}
	if !changed {
		return data, false
	}
	return bytes.Join(docs, []byte("---\n")), true
}

func rewriteValue(v any, names map[string]bool, self string, args func(string) []string) (any, bool) {
	changed := false
	switch t := v.(type) {
	case map[string]any:
		if meta, ok := t["metadata"].(map[string]any); ok {
			if ann, ok := meta["annotations"].(map[string]any); ok {
				for _, key := range functionAnnotations {
					spec, ok := ann[key].(string)
					if !ok {
						continue
					}
					ex := parseExec(spec)
					if ex == nil {
						continue
					}
					if name := (execFunction{Path: ex.Path, Args: ex.Args}).own(names); name != "" {
						fnArgs := []string{"fn", name}
						if args != nil {
							fnArgs = append(fnArgs, args(name)...)
						}
						b, _ := yaml.Marshal(map[string]any{"exec": execSpec{Path: self, Args: fnArgs}})
						ann[key] = string(b)
						changed = true
					}
				}
			}
		}
		for k, child := range t {
			if nv, c := rewriteValue(child, names, self, args); c {
				t[k], changed = nv, true
			}
		}
	case []any:
		for i, child := range t {
			if nv, c := rewriteValue(child, names, self, args); c {
				t[i], changed = nv, true
			}
		}
	case string:
		if strings.Contains(t, "config.kubernetes.io/function") || strings.Contains(t, "config.k8s.io/function") {
			var inner any
			if yaml.Unmarshal([]byte(t), &inner) == nil {
				if nv, c := rewriteValue(inner, names, self, args); c {
					if b, err := yaml.Marshal(nv); err == nil {
						return string(b), true
					}
				}
			}
		}
	}
	return v, changed
}
