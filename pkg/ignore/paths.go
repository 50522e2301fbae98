package ignore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/itchyny/gojq"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Path is a concrete field path in an object: string elements are map keys,
// int elements list indices.
type Path []any

// String renders a path as .key, ["odd.key"] and [i].
func (p Path) String() string {
	var b strings.Builder
	for _, e := range p {
		switch v := e.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", v)
		case string:
			if strings.ContainsAny(v, ".[]\" /~") || v == "" {
				fmt.Fprintf(&b, "[%q]", v)
			} else {
				b.WriteString("." + v)
			}
		}
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}

// JQTimeout bounds one jq expression on one object, as Argo CD's default.
const JQTimeout = time.Second

// Paths returns the fields of obj that the matching rules ignore, each
// once, and none inside another, in reverse order (later list items first,
// so removing them one by one keeps the indices of the rest valid). live
// supplies the managedFields that managedFieldsManagers read (obj itself
// when obj is the live object); nil reads none. A jq expression that fails
// on obj (it iterates over a missing list, say) ignores nothing there, as
// in Argo CD.
func Paths(rules []Rule, obj, live *unstructured.Unstructured) []Path {
	if obj == nil {
		return nil
	}
	var all []Path
	var jqInput any
	for _, r := range For(rules, obj) {
		for _, p := range r.c.pointers {
			if q, ok := resolvePointer(obj.Object, p); ok {
				all = append(all, q)
			}
		}
		for _, code := range r.c.jq {
			if jqInput == nil {
				jqInput = jsonCopy(obj.Object)
			}
			for _, q := range jqPaths(code, jqInput) {
				if _, ok := get(obj.Object, q); ok && len(q) > 0 {
					all = append(all, q)
				}
			}
		}
		if len(r.ManagedFieldsManagers) > 0 && live != nil {
			for _, e := range managedEntries(live) {
				if slices.Contains(r.ManagedFieldsManagers, e.manager) {
					ownedLeaves(e.fields, obj.Object, nil, &all)
				}
			}
		}
	}
	return normalize(all)
}

// Remove returns a copy of obj without the fields the rules ignore (see
// Paths); maps that the removal empties are removed too. nil stays nil.
func Remove(rules []Rule, obj, live *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	out := obj.DeepCopy()
	for _, p := range Paths(rules, obj, live) {
		remove(out.Object, p)
	}
	return out
}

// RemoveLive returns a copy of live without the ignored fields, in its
// values and in every managedFields entry's field set alike, as if nobody
// had ever set them: what a local server-side apply proof needs to judge
// everything but the ignored fields.
func RemoveLive(rules []Rule, live *unstructured.Unstructured) *unstructured.Unstructured {
	if live == nil {
		return nil
	}
	paths := Paths(rules, live, live)
	out := live.DeepCopy()
	if len(paths) == 0 {
		return out
	}
	entries, _, _ := unstructured.NestedSlice(out.Object, "metadata", "managedFields")
	for _, e := range entries {
		m, _ := e.(map[string]any)
		fields, _ := m["fieldsV1"].(map[string]any)
		for _, p := range paths {
			removeOwned(fields, live.Object, p)
		}
	}
	if entries != nil {
		_ = unstructured.SetNestedSlice(out.Object, entries, "metadata", "managedFields")
	}
	for _, p := range paths {
		remove(out.Object, p)
	}
	return out
}

// notCopied are the fields Respect never takes from the live object: the
// server's and the controllers' own.
var notCopied = map[string]bool{"managedFields": true, "resourceVersion": true, "generation": true, "uid": true, "creationTimestamp": true, "selfLink": true, "deletionTimestamp": true}

// Respect returns a copy of desired in which every ignored field has its
// live value, as Argo CD's RespectIgnoreDifferences=true does: ignored
// fields that desired sets and live does not are dropped, those live sets
// are copied. status and the server's metadata are never copied. With no
// live object (or no matching rule) desired is returned as it is (copied).
//
// Without a schema, list items are paired as strategic merge pairs most
// Kubernetes lists: by their name field, else by index. An ignored list
// item missing from desired is inserted at its live index (or appended);
// an ignored field inside a list item that desired does not have is not
// copied (the item would be incomplete). A list that desired lacks is
// created only for a whole ignored item.
func Respect(rules []Rule, desired, live *unstructured.Unstructured) *unstructured.Unstructured {
	if desired == nil {
		return nil
	}
	matched := For(rules, desired)
	if live == nil || len(matched) == 0 {
		return desired.DeepCopy()
	}
	out := Remove(matched, desired, live)
	livePaths := Paths(matched, live, live)
	slices.Reverse(livePaths) // earlier list items first, so inserts land in order
	for _, p := range livePaths {
		if p[0] == "status" || (len(p) > 1 && p[0] == "metadata" && notCopied[fmt.Sprint(p[1])]) {
			continue
		}
		v, _ := get(live.Object, p)
		place(out.Object, live.Object, p, deepCopy(v))
	}
	return out
}

// resolvePointer resolves pointer tokens against obj: a token indexes a list
// when the value there is a list. It reports false when the field is absent.
func resolvePointer(obj map[string]any, tokens Path) (Path, bool) {
	var cur any = obj
	out := make(Path, 0, len(tokens))
	for _, t := range tokens {
		tok := t.(string)
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, false
			}
			cur = next
			out = append(out, tok)
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) || (len(tok) > 1 && tok[0] == '0') {
				return nil, false
			}
			cur = v[i]
			out = append(out, i)
		default:
			return nil, false
		}
	}
	return out, true
}

// jqPaths runs a compiled path(...) expression on input. Any error (a
// missing list iterated, a non-path expression, the timeout) ignores
// nothing, as Argo CD skips an expression that fails.
func jqPaths(code *gojq.Code, input any) []Path {
	ctx, cancel := context.WithTimeout(context.Background(), JQTimeout)
	defer cancel()
	iter := code.RunWithContext(ctx, input)
	var out []Path
	for {
		v, ok := iter.Next()
		if !ok {
			return out
		}
		elems, ok := v.([]any)
		if !ok {
			return nil // an error, or not a path
		}
		p := make(Path, 0, len(elems))
		for _, e := range elems {
			switch t := e.(type) {
			case string:
				p = append(p, t)
			case int:
				p = append(p, t)
			case float64:
				if t != float64(int(t)) {
					return nil
				}
				p = append(p, int(t))
			default:
				return nil // a slice ([1:3]): not a field
			}
		}
		out = append(out, p)
	}
}

// get returns the value at p.
func get(obj map[string]any, p Path) (any, bool) {
	var cur any = obj
	for _, e := range p {
		switch k := e.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			l, ok := cur.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil, false
			}
			cur = l[k]
		}
	}
	return cur, true
}

// remove deletes the field at p (a list item is spliced out), then every
// map that this emptied on the way up, stopping at list items.
func remove(obj map[string]any, p Path) {
	if len(p) == 0 {
		return
	}
	parent, ok := get(obj, p[:len(p)-1])
	if !ok {
		return
	}
	switch k := p[len(p)-1].(type) {
	case string:
		m, ok := parent.(map[string]any)
		if !ok {
			return
		}
		if _, ok := m[k]; !ok {
			return
		}
		delete(m, k)
		// An emptied map goes too, unless it is a list item: splicing the
		// item out would shift its siblings (Argo CD's remove leaves {}).
		if len(m) == 0 && len(p) > 1 {
			if _, inList := p[len(p)-2].(int); !inList {
				remove(obj, p[:len(p)-1])
			}
		}
	case int:
		l, ok := parent.([]any)
		if !ok || k < 0 || k >= len(l) {
			return
		}
		setAt(obj, p[:len(p)-1], append(l[:k:k], l[k+1:]...))
	}
}

// setAt replaces the value at an existing path.
func setAt(obj map[string]any, p Path, v any) {
	if len(p) == 0 {
		return
	}
	parent, ok := get(obj, p[:len(p)-1])
	if !ok {
		return
	}
	switch k := p[len(p)-1].(type) {
	case string:
		if m, ok := parent.(map[string]any); ok {
			m[k] = v
		}
	case int:
		if l, ok := parent.([]any); ok && k < len(l) {
			l[k] = v
		}
	}
}

// place sets v at live path p in out, pairing list items as Respect says.
func place(out, live map[string]any, p Path, v any) {
	var cur any = out
	for i, e := range p {
		last := i == len(p)-1
		switch k := e.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return
			}
			if last {
				m[k] = v
				return
			}
			next, ok := m[k]
			if !ok {
				if _, isIndex := p[i+1].(int); isIndex {
					if !itemIsWhole(p, i+1) {
						return
					}
					next = []any{}
				} else {
					next = map[string]any{}
				}
				m[k] = next
			}
			cur = next
		case int:
			l, ok := cur.([]any)
			if !ok {
				return
			}
			if last {
				// A whole ignored item: desired's own were removed, so it
				// goes back at its live place.
				setAt(out, p[:i], slices.Insert(l, min(k, len(l)), v))
				return
			}
			liveItem, _ := get(live, p[:i+1])
			j := pair(l, liveItem, k)
			if j < 0 {
				return
			}
			cur = l[j]
		}
	}
}

func itemIsWhole(p Path, i int) bool { return i == len(p)-1 }

// pair finds the item of l that corresponds to the live item at index i:
// the one with the same name, else the one at the same index (when the live
// item has no name). -1 when there is none.
func pair(l []any, liveItem any, i int) int {
	if m, ok := liveItem.(map[string]any); ok {
		if name, ok := m["name"]; ok {
			for j, it := range l {
				if im, ok := it.(map[string]any); ok && reflect.DeepEqual(im["name"], name) {
					return j
				}
			}
			return -1
		}
	}
	if i < len(l) {
		return i
	}
	return -1
}

// normalize drops duplicates and paths inside other paths, and sorts in
// reverse order.
func normalize(all []Path) []Path {
	slices.SortFunc(all, comparePaths)
	var out []Path
	for _, p := range all {
		if n := len(out); n > 0 && hasPrefix(p, out[n-1]) {
			continue // the same path, or one inside the last kept
		}
		out = append(out, p)
	}
	slices.Reverse(out)
	return out
}

func hasPrefix(p, prefix Path) bool {
	if len(prefix) > len(p) {
		return false
	}
	for i := range prefix {
		if p[i] != prefix[i] {
			return false
		}
	}
	return true
}

// comparePaths orders paths element by element: ints numerically before
// strings, strings lexically, a prefix before what it contains.
func comparePaths(a, b Path) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ai, aInt := a[i].(int)
		bi, bInt := b[i].(int)
		switch {
		case aInt && bInt:
			if ai != bi {
				return ai - bi
			}
		case aInt:
			return -1
		case bInt:
			return 1
		default:
			if c := strings.Compare(a[i].(string), b[i].(string)); c != 0 {
				return c
			}
		}
	}
	return len(a) - len(b)
}

// jsonCopy is obj as encoding/json decodes it (what gojq reads).
func jsonCopy(obj map[string]any) any {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return out
}

func deepCopy(v any) any {
	if v == nil {
		return nil
	}
	return runtimeDeepCopy(v)
}

func runtimeDeepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = runtimeDeepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(t))
		for i, x := range t {
			l[i] = runtimeDeepCopy(x)
		}
		return l
	}
	return v
}

// sameJSON compares two values as JSON (int64 1 and float64 1 are equal).
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}
