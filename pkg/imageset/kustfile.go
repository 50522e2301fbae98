package imageset

import (
	"bytes"
	"reflect"
	"regexp"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// fieldOrder is the order in which kustomize's edit commands write the
// top-level fields of a kustomization that the file did not have: the Go
// names of the fields of types.Kustomization, with apiVersion and kind
// first. imageTags is missing on purpose: it is folded into images on
// reading and never written.
var fieldOrder = []string{
	"APIVersion",
	"Kind",
	"MetaData",
	"SortOptions",
	"Resources",
	"Bases",
	"NamePrefix",
	"NameSuffix",
	"Namespace",
	"Crds",
	"CommonLabels",
	"Labels",
	"CommonAnnotations",
	"PatchesStrategicMerge",
	"PatchesJson6902",
	"Patches",
	"ConfigMapGenerator",
	"SecretGenerator",
	"HelmCharts",
	"HelmChartInflationGenerator",
	"HelmGlobals",
	"GeneratorOptions",
	"Vars",
	"Images",
	"Replacements",
	"Replicas",
	"Configurations",
	"Generators",
	"Transformers",
	"Validators",
	"Components",
	"OpenAPI",
	"BuildMetadata",
}

// fieldLines recognises the line that starts a top-level field, as kustomize
// does: at the start of the line, the Go field name in any case, then ":".
var fieldLines = func() []*regexp.Regexp {
	rs := make([]*regexp.Regexp, len(fieldOrder))
	for i, f := range fieldOrder {
		rs[i] = regexp.MustCompile("^(?i:" + f + "):")
	}
	return rs
}()

// topField is a top-level field of the file as written, with the comment
// and blank lines that go above it.
type topField struct {
	name     string // Go name in types.Kustomization
	comments []byte
}

// scanFields lists the top-level fields of data in file order, each with the
// comment and blank lines kustomize writes above it: those right before it,
// and those between its lines. Only lines ending in a newline count.
func scanFields(data []byte) []topField {
	var fields []topField
	var pending []byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break // kustomize never looks at an unterminated last line
		}
		line := data[:i+1]
		data = data[i+1:]
		if isCommentOrBlank(line) {
			pending = append(pending, line...)
			continue
		}
		if name, ok := fieldOf(line); ok {
			fields = append(fields, topField{name: name, comments: pending})
			pending = nil
			continue
		}
		// A line inside a field (or one kustomize does not know): the
		// comments before it go above the field it belongs to. Before any
		// field they wait for the first one.
		if len(pending) > 0 && len(fields) > 0 {
			last := &fields[len(fields)-1]
			last.comments = append(last.comments, pending...)
			pending = nil
		}
	}
	return fields
}

// isCommentOrBlank reports whether line, past leading spaces (not tabs), is
// empty or starts with "#".
func isCommentOrBlank(line []byte) bool {
	s := bytes.TrimRight(bytes.TrimLeft(line, " "), "\n")
	return len(s) == 0 || s[0] == '#'
}

func fieldOf(line []byte) (string, bool) {
	for i, r := range fieldLines {
		if r.Match(line) {
			return fieldOrder[i], true
		}
	}
	return "", false
}

// writeKustomization serializes k the way kustomize's edit commands write a
// kustomization read from original: the fields original has, in its order
// and each under its comments, then the others in fieldOrder; each field
// marshalled alone by sigs.k8s.io/yaml, empty ones left out.
func writeKustomization(original []byte, k *types.Kustomization) ([]byte, error) {
	var out []byte
	written := map[string]bool{}
	for _, f := range scanFields(original) {
		out = append(out, f.comments...)
		b, err := marshalField(k, f.name)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		written[f.name] = true
	}
	for _, name := range fieldOrder {
		if written[name] {
			continue
		}
		b, err := marshalField(k, name)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// marshalField returns the YAML of a kustomization that has only the field
// name of k, or nothing when that field is empty.
func marshalField(k *types.Kustomization, name string) ([]byte, error) {
	v := reflect.ValueOf(k).Elem().FieldByName(name)
	if v.Kind() == reflect.Pointer && v.IsNil() || v.Kind() != reflect.Pointer && v.Len() == 0 {
		return nil, nil
	}
	var one types.Kustomization
	reflect.ValueOf(&one).Elem().FieldByName(name).Set(v)
	return yaml.Marshal(&one)
}
