package strict

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// UnknownKeys returns one error per mapping key in node for which the type
// of v (a pointer, struct, slice or map, nested to any depth) has no field,
// in document order. Each error starts with the key's path below prefix,
// such as project.spec.destinations[1].sever, and suggests the key meant
// when one is close. Values of the wrong type are left to the decoder.
func UnknownKeys(node *yaml.RNode, v any, prefix string) []error {
	if node == nil || v == nil {
		return nil
	}
	var errs []error
	walk(node.YNode(), reflect.TypeOf(v), prefix, &errs)
	return errs
}

// ObjectMeta accepts every field of Kubernetes object metadata. Only name,
// namespace, labels and annotations are typed; the rest are accepted as
// written and not read.
type ObjectMeta struct {
	Name                       string            `json:"name,omitempty" yaml:"name,omitempty"`
	GenerateName               string            `json:"generateName,omitempty" yaml:"generateName,omitempty"`
	Namespace                  string            `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty" yaml:"annotations,omitempty"`
	SelfLink                   any               `json:"selfLink,omitempty" yaml:"selfLink,omitempty"`
	UID                        any               `json:"uid,omitempty" yaml:"uid,omitempty"`
	ResourceVersion            any               `json:"resourceVersion,omitempty" yaml:"resourceVersion,omitempty"`
	Generation                 any               `json:"generation,omitempty" yaml:"generation,omitempty"`
	CreationTimestamp          any               `json:"creationTimestamp,omitempty" yaml:"creationTimestamp,omitempty"`
	DeletionTimestamp          any               `json:"deletionTimestamp,omitempty" yaml:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds any               `json:"deletionGracePeriodSeconds,omitempty" yaml:"deletionGracePeriodSeconds,omitempty"`
	OwnerReferences            any               `json:"ownerReferences,omitempty" yaml:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty" yaml:"finalizers,omitempty"`
	ManagedFields              any               `json:"managedFields,omitempty" yaml:"managedFields,omitempty"`
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

func walk(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n == nil || reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := fieldsOf(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i].Value, n.Content[i+1]
			if key == "<<" { // a YAML merge key: its mappings merge into this one
				walkMerge(value, t, path, errs)
				continue
			}
			f, ok := fields[key]
			if !ok {
				*errs = append(*errs, unknown(join(path, key), key, fields))
				continue
			}
			walk(value, f, join(path, key), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), errs)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}

func walkMerge(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	if n.Kind == yaml.SequenceNode {
		for _, m := range n.Content {
			walk(m, t, path, errs)
		}
		return
	}
	walk(n, t, path, errs)
}

// fieldsOf maps the keys a struct type decodes to their types, embedded
// structs flattened as encoding/json does.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, ok := f.Tag.Lookup("json")
		if !ok {
			tag, ok = f.Tag.Lookup("yaml")
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if (f.Anonymous && name == "" && ft.Kind() == reflect.Struct) || strings.Contains(","+opts+",", ",inline,") {
			for k, v := range fieldsOf(ft) {
				if _, dup := out[k]; !dup {
					out[k] = v
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func unknown(path, key string, fields map[string]reflect.Type) error {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	if s := Suggest(key, known); s != "" {
		return fmt.Errorf("%s: unknown key; did you mean %s?", path, s)
	}
	return fmt.Errorf("%s: unknown key; the keys here are %s", path, list(known))
}
