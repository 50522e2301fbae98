package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
)

// noise are fields that change on every write or belong to the server: they
// never count as a difference.
var noise = [][]string{
	{"metadata", "managedFields"},
	{"metadata", "resourceVersion"},
	{"metadata", "generation"},
	{"metadata", "uid"},
	{"metadata", "creationTimestamp"},
	{"metadata", "selfLink"},
	{"status"},
}

// Compared returns copies of the live object and of what the server would
// store (Merged; the desired object when there was no dry-run) without the
// noise (managedFields, resourceVersion, status, ...) and without the
// fields the ignoreDifferences rules ignore: exactly what Diff was computed
// from. live is nil when the object is missing. They may hold Secret
// values: mask them before showing them.
func (c *Change) Compared() (live, merged *unstructured.Unstructured) {
	m := c.Merged
	if m == nil {
		m = c.Desired
	}
	return c.compared(c.Live), c.compared(m)
}

func (c *Change) compared(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	out := ignore.Remove(c.ignore, o, c.Live)
	for _, f := range noise {
		unstructured.RemoveNestedField(out.Object, f...)
	}
	return out
}

// diffOf lists the fields a write that stores merged would change,
// ignored fields left out (see fieldDiff).
func (c *Change) diffOf(merged *unstructured.Unstructured) []string {
	m := *c
	m.Merged = merged
	live, out := m.Compared()
	if live == nil || out == nil {
		return nil
	}
	return fieldDiff(live, out)
}

// path is a field path: string elements are map keys, int elements list
// indices; rendered as .key, ["odd.key"] and [i] (pkg/ignore's paths).
type path = ignore.Path

// fieldDiff lists the paths whose values differ between live and merged
// (what the server would store), noise left out, sorted. Lists of different
// lengths differ as a whole.
func fieldDiff(live, merged *unstructured.Unstructured) []string {
	paths := diffPaths(live, merged)
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = p.String()
	}
	sort.Strings(out)
	return out
}

func diffPaths(live, merged *unstructured.Unstructured) []path {
	a, b := live.DeepCopy().Object, merged.DeepCopy().Object
	for _, f := range noise {
		unstructured.RemoveNestedField(a, f...)
		unstructured.RemoveNestedField(b, f...)
	}
	var out []path
	walkDiff(nil, a, b, func(p path, _, _ any) { out = append(out, p) })
	return out
}

// FieldChange is one field whose value differs: its path (.spec.replicas,
// .data["app.yaml"], .spec.containers[0]) and the two values, nil where a
// side lacks the field.
type FieldChange struct {
	Path    string `json:"path"`
	Live    any    `json:"live,omitempty"`
	Desired any    `json:"desired,omitempty"`
}

// FieldChanges lists the fields whose values differ between live and
// merged, sorted by path, judged as Change.Diff judges them (a missing
// field equals null; lists of different lengths differ as a whole).
// Noise is not removed here: pass what Change.Compared returns.
func FieldChanges(live, merged map[string]any) []FieldChange {
	var out []FieldChange
	walkDiff(nil, live, merged, func(p path, a, b any) {
		out = append(out, FieldChange{Path: p.String(), Live: a, Desired: b})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// walkDiff calls found for each path whose values differ between a and b.
func walkDiff(p path, a, b any, found func(p path, a, b any)) {
	at := func(e any) path { return append(append(path{}, p...), e) }
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		for k := range keys {
			walkDiff(at(k), av[k], bv[k], found)
		}
		return
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			break
		}
		for i := range av {
			walkDiff(at(i), av[i], bv[i], found)
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		found(p, a, b)
	}
}

// setIn reports whether obj sets the field at p (or a field inside it).
func setIn(obj map[string]any, p path) bool {
	var v any = obj
	for _, e := range p {
		switch k := e.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if v, ok = m[k]; !ok {
				return false
			}
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return false
			}
			v = l[k]
		}
	}
	return true
}

// AnnotationReplaceHash records, on a Replace=true object, a digest of the
// object as last replaced from Git, so that a field removed from Git is a
// change even where the server's copy carries fields Git never set.
const AnnotationReplaceHash = "gitops.kubectl-gitops.dev/replace-hash"

var hashPath = path{"metadata", "annotations", AnnotationReplaceHash}.String()

// replaceHash digests desired without its own hash annotation.
func replaceHash(desired *unstructured.Unstructured) string {
	c := desired.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "metadata", "annotations", AnnotationReplaceHash)
	b, _ := json.Marshal(c.Object)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// replaceUnchanged reports whether replacing live with desired (merged is
// the server's dry-run of the replace) changes nothing Git says: the live
// object was last replaced from this very desired object (or, never
// replaced yet, was server-side applied from it: the local proof holds), and
// every field the replace would change is one Git does not set (an
// annotation a controller added, say).
func replaceUnchanged(live, desired, merged *unstructured.Unstructured) bool {
	switch h := live.GetAnnotations()[AnnotationReplaceHash]; {
	case h != "" && h != replaceHash(desired):
		return false
	case h == "":
		applied := desired.DeepCopy()
		unstructured.RemoveNestedField(applied.Object, "metadata", "annotations", AnnotationReplaceHash)
		if ok, _ := proveUnchanged(live, applied); !ok {
			return false
		}
	}
	for _, p := range diffPaths(live, merged) {
		if p.String() == hashPath {
			continue // the record of this very replace
		}
		if setIn(desired.Object, p) {
			return false
		}
	}
	return true
}
