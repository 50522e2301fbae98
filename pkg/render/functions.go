package render

import (
	"fmt"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// functionAnnotations name a KRM function's runtime on its config object
// (the second is the older spelling kustomize still reads).
var functionAnnotations = []string{"config.kubernetes.io/function", "config.k8s.io/function"}

// execFunction is a KRM function configured to run a local program.
type execFunction struct {
	File, Kind, Name, Path string
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
				var fn struct {
					Exec *struct {
						Path string `json:"path"`
					} `json:"exec"`
				}
				if yaml.Unmarshal([]byte(spec), &fn) == nil && fn.Exec != nil {
					kind, _ := m["kind"].(string)
					name, _ := meta["name"].(string)
					out = append(out, execFunction{File: file, Kind: kind, Name: name, Path: fn.Exec.Path})
				}
			}
		})
	}
}

// walk calls visit on every map in v, depth first.
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
	}
}
