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

// execFunction is a KRM function configured to run a local program
// (Path) or, when Image is set, a container (kustomize prefers the
// container when a config names both).
type execFunction struct {
	File, Kind, Name, Path string
	Args                   []string
	// Image and Envs are a container function's image and the host
	// environment variables it is given.
	Image string
	Envs  []string
}

// container reports whether f runs a container image.
func (f execFunction) container() bool { return f.Image != "" }

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
	if f.container() {
		s := fmt.Sprintf("%s/%s in %s (image %s", f.Kind, f.Name, f.File, f.Image)
		if len(f.Envs) > 0 {
			s += ", given the host environment variables " + strings.Join(f.Envs, ", ")
		}
		return s + ")"
	}
	return fmt.Sprintf("%s/%s in %s (exec %s)", f.Kind, f.Name, f.File, f.Path)
}

// findExecFunctions returns the exec and container functions configured
// anywhere in a YAML stream: as documents (a transformer config file) or
// nested in one (inline entries of a kustomization's transformers,
// generators or validators).
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
				kind, _ := m["kind"].(string)
				name, _ := meta["name"].(string)
				if c := parseContainer(spec); c != nil && c.Image != "" {
					out = append(out, execFunction{File: file, Kind: kind, Name: name, Image: c.Image, Envs: c.Envs})
				} else if ex := parseExec(spec); ex != nil {
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

type containerSpec struct {
	Image string   `json:"image"`
	Envs  []string `json:"envs,omitempty"`
}

// parseContainer reads the container part of a function annotation, if
// any.
func parseContainer(spec string) *containerSpec {
	var fn struct {
		Container *containerSpec `json:"container"`
	}
	if yaml.Unmarshal([]byte(spec), &fn) != nil {
		return nil
	}
	return fn.Container
}

// disabledFunction replaces a container function's annotation in the
// first build pass: an exec spec, which that pass skips (exec is off
// there), so that kustomize runs no container before we decided.
const disabledFunction = "exec:\n  path: kubectl-gitops-container-function-not-run\n"

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
	return rewriteFunctions(data, func(spec string) (string, bool) {
		ex := parseExec(spec)
		if ex == nil {
			return "", false
		}
		if c := parseContainer(spec); c != nil && c.Image != "" {
			return "", false // kustomize runs the container, not the program
		}
		name := (execFunction{Path: ex.Path, Args: ex.Args}).own(names)
		if name == "" {
			return "", false
		}
		fnArgs := []string{"fn", name}
		if args != nil {
			fnArgs = append(fnArgs, args(name)...)
		}
		b, _ := yaml.Marshal(map[string]any{"exec": execSpec{Path: self, Args: fnArgs}})
		return string(b), true
	})
}

// disableContainers returns data with every container function config
// turned into one the first pass skips.
func disableContainers(data []byte) ([]byte, bool) {
	if !bytes.Contains(data, []byte("container")) {
		return data, false
	}
	return rewriteFunctions(data, func(spec string) (string, bool) {
		if c := parseContainer(spec); c != nil {
			return disabledFunction, true
		}
		return "", false
	})
}

// rewriteFunctions returns data with the function annotations that change
// returns a new value for replaced; files without such annotations come
// back unchanged.
func rewriteFunctions(data []byte, change func(spec string) (string, bool)) ([]byte, bool) {
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
		doc, c := rewriteValue(doc, change)
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

func rewriteValue(v any, change func(string) (string, bool)) (any, bool) {
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
					if nv, ok := change(spec); ok {
						ann[key] = nv
						changed = true
					}
				}
			}
		}
		for k, child := range t {
			if nv, c := rewriteValue(child, change); c {
				t[k], changed = nv, true
			}
		}
	case []any:
		for i, child := range t {
			if nv, c := rewriteValue(child, change); c {
				t[i], changed = nv, true
			}
		}
	case string:
		if strings.Contains(t, "config.kubernetes.io/function") || strings.Contains(t, "config.k8s.io/function") {
			var inner any
			if yaml.Unmarshal([]byte(t), &inner) == nil {
				if nv, c := rewriteValue(inner, change); c {
					if b, err := yaml.Marshal(nv); err == nil {
						return string(b), true
					}
				}
			}
		}
	}
	return v, changed
}
