package ignore

import (
	"encoding/json"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// entry is one managedFields entry: its manager and fieldsV1 set, in the
// set's JSON form (f:field, k:{key}, v:value, i:index, "." for the node
// itself), which sigs.k8s.io/structured-merge-diff's fieldpath serialises.
type entry struct {
	manager string
	fields  map[string]any
}

func managedEntries(live *unstructured.Unstructured) []entry {
	list, _, _ := unstructured.NestedSlice(live.Object, "metadata", "managedFields")
	var out []entry
	for _, e := range list {
		m, _ := e.(map[string]any)
		name, _ := m["manager"].(string)
		fields, _ := m["fieldsV1"].(map[string]any)
		if fields != nil {
			out = append(out, entry{name, fields})
		}
	}
	return out
}

// ownedLeaves adds the paths in obj of the leaves of set (fields owned as a
// whole, not containers of owned fields), where obj has them.
func ownedLeaves(set map[string]any, obj any, at Path, out *[]Path) {
	leaf := true
	for k, child := range set {
		if k == "." {
			continue
		}
		leaf = false
		step, next, ok := childOf(obj, k)
		if !ok {
			continue
		}
		sub, _ := child.(map[string]any)
		ownedLeaves(sub, next, append(append(Path{}, at...), step), out)
	}
	if leaf && len(at) > 0 {
		*out = append(*out, at)
	}
}

// childOf finds the value a fieldsV1 key names in obj, and the path step
// to it.
func childOf(obj any, key string) (any, any, bool) {
	switch {
	case strings.HasPrefix(key, "f:"):
		m, ok := obj.(map[string]any)
		if !ok {
			return nil, nil, false
		}
		v, ok := m[key[2:]]
		return key[2:], v, ok
	case strings.HasPrefix(key, "k:"), strings.HasPrefix(key, "v:"), strings.HasPrefix(key, "i:"):
		l, ok := obj.([]any)
		if !ok {
			return nil, nil, false
		}
		for i, it := range l {
			if itemKeyMatches(key, it, i) {
				return i, it, true
			}
		}
	}
	return nil, nil, false
}

// itemKeyMatches reports whether a list item (at index i) is the one a
// fieldsV1 key k:{...}, v:value or i:index names.
func itemKeyMatches(key string, item any, i int) bool {
	switch key[:2] {
	case "i:":
		n, err := strconv.Atoi(key[2:])
		return err == nil && n == i
	case "v:":
		var v any
		return json.Unmarshal([]byte(key[2:]), &v) == nil && sameJSON(v, item)
	case "k:":
		var k map[string]any
		m, ok := item.(map[string]any)
		if !ok || json.Unmarshal([]byte(key[2:]), &k) != nil || len(k) == 0 {
			return false
		}
		for f, v := range k {
			if !sameJSON(v, m[f]) {
				return false
			}
		}
		return true
	}
	return false
}

// removeOwned removes path p (resolved in obj, the object the set belongs
// to) from a fieldsV1 set, with everything below it, and then every node
// that this left owning nothing.
func removeOwned(set map[string]any, obj any, p Path) bool {
	if set == nil || len(p) == 0 {
		return false
	}
	key, next, ok := keyFor(set, obj, p[0])
	if !ok {
		return false
	}
	if len(p) == 1 {
		delete(set, key)
		return true
	}
	child, _ := set[key].(map[string]any)
	if removeOwned(child, next, p[1:]) && len(child) == 0 {
		delete(set, key)
	}
	return true
}

// keyFor finds the fieldsV1 key of path step e in set.
func keyFor(set map[string]any, obj any, e any) (string, any, bool) {
	switch k := e.(type) {
	case string:
		m, _ := obj.(map[string]any)
		_, ok := set["f:"+k]
		return "f:" + k, m[k], ok
	case int:
		l, ok := obj.([]any)
		if !ok || k >= len(l) {
			return "", nil, false
		}
		for key := range set {
			if key != "." && !strings.HasPrefix(key, "f:") && itemKeyMatches(key, l[k], k) {
				return key, l[k], true
			}
		}
	}
	return "", nil, false
}
