package setimage

import (
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// imageFields finds the image fields of an item that fields select, keyed
// by their path with list indexes (spec.template.spec.containers[0].image).
func imageFields(item *yaml.RNode, meta yaml.ResourceMeta, fields types.FsSlice) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	group, version := splitAPIVersion(meta.APIVersion)
	for _, fs := range fields {
		if (fs.Kind != "" && fs.Kind != meta.Kind) || (fs.Group != "" && fs.Group != group) || (fs.Version != "" && fs.Version != version) {
			continue
		}
		walk(item, strings.Split(fs.Path, "/"), "", out)
	}
	return out
}

func walk(node *yaml.RNode, segs []string, at string, out map[string]*yaml.Node) {
	if node == nil {
		return
	}
	if len(segs) == 0 {
		if node.YNode().Kind == yaml.ScalarNode {
			out[strings.TrimPrefix(at, ".")] = node.YNode()
		}
		return
	}
	seg := segs[0]
	list := strings.HasSuffix(seg, "[]")
	field := node.Field(strings.TrimSuffix(seg, "[]"))
	if field == nil {
		return
	}
	path := at + "." + strings.TrimSuffix(seg, "[]")
	if !list {
		walk(field.Value, segs[1:], path, out)
		return
	}
	elems, err := field.Value.Elements()
	if err != nil {
		return
	}
	for i, e := range elems {
		walk(e, segs[1:], fmt.Sprintf("%s[%d]", path, i), out)
	}
}

func splitAPIVersion(apiVersion string) (group, version string) {
	if g, v, ok := strings.Cut(apiVersion, "/"); ok {
		return g, v
	}
	return "", apiVersion
}

func sortedKeys(m map[string]*yaml.Node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
