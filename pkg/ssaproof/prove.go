package ssaproof

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Verdict is the outcome of a proof.
type Verdict struct {
	// Unchanged is true only when a server-side apply of the desired object
	// by the manager is proven to change nothing in the live object.
	Unchanged bool
	// Reason says, when Unchanged is false, why the proof failed: the first
	// thing found that the local proof cannot vouch for. It names fields,
	// never values (they may be Secret data).
	Reason string
}

// LastAppliedAnnotation is kubectl's client-side apply annotation. The API
// server rewrites it on a server-side apply by the manager "kubectl".
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// untrackedMeta are the metadata fields the API server never records as
// applied fields (it strips them from every field set). name and namespace
// are compared with the live object instead; the others in a desired object
// make the proof fail.
var untrackedMeta = map[string]bool{
	"name": true, "namespace": true,
	"uid": true, "resourceVersion": true, "generation": true, "creationTimestamp": true,
	"selfLink": true, "managedFields": true, "clusterName": true,
}

// Prove reports whether a server-side apply of desired by manager (with
// force, as the sync applies) would leave live exactly as it is, apart from
// resourceVersion, generation and managedFields times. It reads only its
// arguments, never modifies them and is safe for concurrent use.
//
// live is the object as the API server returned it (a GET or a LIST at the
// desired apiVersion); desired is the object the sync would apply, decoded
// from JSON or YAML (whole numbers as int64).
func Prove(live, desired *unstructured.Unstructured, manager string) Verdict {
	if live == nil {
		return notProven("no live object")
	}
	if desired == nil {
		return notProven("no desired object")
	}
	p := prover{manager: manager}
	if p.prove(live.Object, desired.Object) {
		return Verdict{Unchanged: true}
	}
	// Maps are walked in Go's random order; walk again in sorted order so
	// that the reason is the same on every run.
	p = prover{manager: manager, sorted: true}
	if p.prove(live.Object, desired.Object) {
		return Verdict{Unchanged: true} // cannot happen: the walks check the same things
	}
	return notProven(p.reason)
}

func notProven(reason string) Verdict { return Verdict{Reason: reason} }

// elem is one step of the path being walked.
type elem struct {
	field string         // a map field, when item is false
	item  bool           // a list item
	raw   string         // its fieldsV1 key ("k:{...}" or "v:..."), to find it in other managers' sets
	key   map[string]any // key fields of an associative list item
	value any            // the value of a set item
}

type owner struct {
	name   string
	fields map[string]any
}

type prover struct {
	manager string
	sorted  bool
	gvk     schema.GroupVersionKind
	others  []owner
	path    []elem
	reason  string
}

func (p *prover) fail(format string, args ...any) bool {
	p.reason = fmt.Sprintf(format, args...)
	return false
}

func (p *prover) prove(live, desired map[string]any) bool {
	dAPI, _ := desired["apiVersion"].(string)
	lAPI, _ := live["apiVersion"].(string)
	dKind, _ := desired["kind"].(string)
	lKind, _ := live["kind"].(string)
	switch {
	case dAPI == "" || dKind == "":
		return p.fail("desired object has no apiVersion or kind")
	case dAPI != lAPI:
		return p.fail("live object was read as %s, desired is %s", lAPI, dAPI)
	case dKind != lKind:
		return p.fail("live object is a %s, desired is a %s", lKind, dKind)
	}
	p.gvk = schema.FromAPIVersionAndKind(dAPI, dKind)
	dMeta, ok := desired["metadata"].(map[string]any)
	if !ok {
		return p.fail("desired object has no metadata")
	}
	lMeta, ok := live["metadata"].(map[string]any)
	if !ok {
		return p.fail("live object has no metadata")
	}
	for _, f := range []string{"name", "namespace"} {
		d, dok := dMeta[f]
		l, _ := lMeta[f].(string)
		ds, isString := d.(string)
		if dok && !isString {
			return p.fail("metadata.%s is not a string", f)
		}
		if ds != l {
			return p.fail("metadata.%s differs from the live object's", f)
		}
	}
	for f := range dMeta {
		if untrackedMeta[f] && f != "name" && f != "namespace" {
			return p.fail("metadata.%s is set in Git (the server does not apply it)", f)
		}
	}
	if ann, ok := lMeta["annotations"].(map[string]any); ok && p.manager == "kubectl" {
		if _, ok := ann[LastAppliedAnnotation]; ok {
			return p.fail("the server rewrites %s on an apply by kubectl", LastAppliedAnnotation)
		}
	}
	mine, ok := p.managedFields(lMeta, dAPI)
	if !ok {
		return false
	}

	// The root: every field but apiVersion and kind is tracked; metadata
	// is tracked but for the fields above.
	return p.walkMap(desired, live, mine)
}

// managedFields finds the manager's Apply entry and the other entries.
func (p *prover) managedFields(lMeta map[string]any, apiVersion string) (map[string]any, bool) {
	entries, _ := lMeta["managedFields"].([]any)
	var mine map[string]any
	found := 0
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, p.fail("live managedFields are malformed")
		}
		name, _ := m["manager"].(string)
		op, _ := m["operation"].(string)
		sub, _ := m["subresource"].(string)
		fields, _ := m["fieldsV1"].(map[string]any)
		if name != p.manager {
			p.others = append(p.others, owner{name: ownerName(name, op, sub), fields: fields})
			continue
		}
		if op != "Apply" || sub != "" {
			return nil, p.fail("%s also has a managedFields entry for operation %s%s", p.manager, op, subresourceNote(sub))
		}
		found++
		if av, _ := m["apiVersion"].(string); av != apiVersion {
			return nil, p.fail("apiVersion changed from %s", av)
		}
		if ft, _ := m["fieldsType"].(string); ft != "FieldsV1" {
			return nil, p.fail("managedFields entry of %s has fieldsType %q", p.manager, ft)
		}
		if fields == nil {
			return nil, p.fail("managedFields entry of %s has no fieldsV1", p.manager)
		}
		mine = fields
	}
	switch found {
	case 0:
		return nil, p.fail("never applied by %s", p.manager)
	case 1:
		return mine, true
	default:
		return nil, p.fail("%s has %d Apply entries", p.manager, found)
	}
}

func ownerName(name, op, sub string) string {
	if op == "Update" && sub == "" {
		return name
	}
	return fmt.Sprintf("%s (%s%s)", name, op, subresourceNote(sub))
}

func subresourceNote(sub string) string {
	if sub == "" {
		return ""
	}
	return " of the " + sub + " subresource"
}

// hasChildren reports whether a fieldsV1 node owns anything below itself.
func hasChildren(s map[string]any) bool {
	for k := range s {
		if k != "." {
			return true
		}
	}
	return false
}

// sortedKeys returns m's keys in order when the prover is sorted, nil
// otherwise (the caller then ranges over m).
func (p *prover) sortedKeys(m map[string]any) []string {
	if !p.sorted {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// untracked reports the fields the server does not track: apiVersion and
// kind at the root, and some of metadata.
func (p *prover) untracked(k string) bool {
	switch len(p.path) {
	case 0:
		return k == "apiVersion" || k == "kind"
	case 1:
		return p.path[0].field == "metadata" && untrackedMeta[k]
	}
	return false
}

// walkMap walks a desired map d, the live map l and the manager's field set
// s at the same place.
func (p *prover) walkMap(d, l, s map[string]any) bool {
	depth := len(p.path)
	var added []string
	matched := 0
	for k := range d {
		if p.untracked(k) {
			continue
		}
		if _, ok := s["f:"+k]; ok {
			matched++
		} else if !(depth == 0 && k == "metadata" && !hasTracked(d[k])) {
			added = append(added, k)
		}
	}
	if len(added) > 0 {
		return p.added(added)
	}
	owned := 0
	for k := range s {
		if strings.HasPrefix(k, "f:") {
			owned++
		} else if k != "." {
			return p.fail("the field set of %s has %q at %s, where Git has an object", p.manager, k, p.render())
		}
	}
	if owned != matched {
		var removed []string
		for k := range s {
			if name, ok := strings.CutPrefix(k, "f:"); ok {
				if _, ok := d[name]; !ok {
					removed = append(removed, p.child(name))
				}
			}
		}
		return p.fail("fields removed from Git: %s", list(removed))
	}
	if keys := p.sortedKeys(d); keys != nil {
		for _, k := range keys {
			if !p.field(d, l, s, k) {
				return false
			}
		}
		return true
	}
	for k := range d {
		if !p.field(d, l, s, k) {
			return false
		}
	}
	return true
}

// field walks field k of the desired map d.
func (p *prover) field(d, l, s map[string]any, k string) bool {
	if p.untracked(k) {
		return true
	}
	raw, ok := s["f:"+k]
	if !ok {
		return true // metadata with only untracked fields
	}
	child, ok := raw.(map[string]any)
	if !ok {
		return p.fail("the field set of %s is malformed at %s", p.manager, p.child(k))
	}
	lv, lok := l[k]
	depth := len(p.path)
	p.path = append(p.path, elem{field: k})
	if !p.walkValue(d[k], lv, lok, child) {
		return false
	}
	p.path = p.path[:depth]
	return true
}

// hasTracked reports whether a desired metadata holds a field the server
// tracks.
func hasTracked(v any) bool {
	m, _ := v.(map[string]any)
	for k := range m {
		if !untrackedMeta[k] {
			return true
		}
	}
	return false
}

// added reports fields of Git that the manager does not own, naming
// another owner when there is one.
func (p *prover) added(names []string) bool {
	sort.Strings(names)
	for _, n := range names {
		p.path = append(p.path, elem{field: n})
		who := p.ownersAt(false)
		path := p.render()
		p.path = p.path[:len(p.path)-1]
		if len(who) > 0 {
			return p.fail("field %s is owned by %s now", path, strings.Join(who, ", "))
		}
	}
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = p.child(n)
	}
	return p.fail("fields added in Git: %s", list(paths))
}

func list(paths []string) string {
	sort.Strings(paths)
	if len(paths) > 3 {
		return fmt.Sprintf("%s and %d more", strings.Join(paths[:3], ", "), len(paths)-3)
	}
	return strings.Join(paths, ", ")
}

// walkValue checks one desired value d against the live value l (present
// when lok) and the manager's field set s for it.
func (p *prover) walkValue(d, l any, lok bool, s map[string]any) bool {
	children := hasChildren(s)
	switch dv := d.(type) {
	case nil:
		return p.fail("null value at %s", p.render())
	case map[string]any:
		if !children {
			if len(dv) == 0 {
				lm, ok := l.(map[string]any)
				if !lok || !ok || len(lm) != 0 {
					return p.fail("value differs at %s", p.render())
				}
				return true
			}
			return p.whole(dv, l, lok)
		}
		lm, ok := l.(map[string]any)
		switch {
		case !lok:
			return p.fail("field %s is missing in the live object", p.render())
		case !ok:
			return p.fail("value differs at %s", p.render())
		}
		return p.walkMap(dv, lm, s)
	case []any:
		if !children {
			return p.whole(dv, l, lok)
		}
		ll, ok := l.([]any)
		if !lok || !ok {
			return p.fail("value differs at %s", p.render())
		}
		return p.walkList(dv, ll, s)
	case string, bool, int64, int, int32, float64:
		if children {
			return p.fail("Git has a scalar at %s, where %s owns fields below it", p.render(), p.manager)
		}
		if !lok {
			return p.fail("field %s is missing in the live object", p.render())
		}
		return p.sameScalar(dv, l)
	default:
		return p.fail("unsupported value type %T at %s", d, p.render())
	}
}

func (p *prover) sameScalar(d, l any) bool {
	if scalarEqual(d, l) {
		return true
	}
	if typeName(d) != typeName(l) {
		return p.fail("value differs at %s (Git has %s, live %s)", p.render(), typeName(d), typeName(l))
	}
	if _, ok := d.(string); ok {
		return p.fail("value differs at %s (or the server normalised it)", p.render())
	}
	return p.fail("value differs at %s", p.render())
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, int, int32:
		return "an integer"
	case float64:
		return "a float"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%T", v)
}

// scalarEqual compares scalars strictly: the same JSON type and value.
// Integers compare by value whatever their Go type (kustomize's output
// holds int, JSON decoding int64; both encode alike); an integer never
// equals a float.
func scalarEqual(a, b any) bool {
	if ai, ok := integer(a); ok {
		bi, ok := integer(b)
		return ok && ai == bi
	}
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case bool:
		b, ok := b.(bool)
		return ok && a == b
	case float64:
		b, ok := b.(float64)
		return ok && a == b
	}
	return false
}

func integer(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	}
	return 0, false
}

// whole checks a non-empty map or a list the manager owns as a whole (a
// leaf of its field set). That is right for an atomic field, but the same
// leaf is recorded for a granular field that was applied empty or null and
// then filled by defaulting; applying the filled value then records its
// fields one by one, which changes managedFields. Only fields known to be
// atomic are proven.
func (p *prover) whole(d, l any, lok bool) bool {
	if !atomic(p.gvk, p.path) {
		return p.fail("%s is owned as a whole and not known to be atomic (without the schema it cannot be told from a field applied empty and defaulted)", p.render())
	}
	if who := p.ownersAt(true); len(who) > 0 {
		return p.fail("fields below %s are owned by %s", p.render(), strings.Join(who, ", "))
	}
	if !plain(d) {
		return p.fail("null or unsupported value below %s", p.render())
	}
	if !lok || !equal(d, l) {
		return p.fail("value differs at %s", p.render())
	}
	return true
}

// equal compares JSON values strictly, as scalarEqual does scalars.
func equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, av := range a {
			bv, ok := b[k]
			if !ok || !equal(av, bv) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return scalarEqual(a, b)
}

// plain reports whether v holds only JSON values as decoding makes them,
// without nulls.
func plain(v any) bool {
	switch v := v.(type) {
	case string, bool, int64, int, int32, float64:
		return true
	case map[string]any:
		for _, e := range v {
			if !plain(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range v {
			if !plain(e) {
				return false
			}
		}
		return true
	}
	return false
}

// walkList checks a list the manager owns item by item: an associative
// list (k: items) or a set (v: items). Positional items (i:) are not
// proven.
func (p *prover) walkList(d, l []any, s map[string]any) bool {
	var kind byte
	for k := range s {
		if k == "." {
			continue
		}
		if len(k) < 2 || k[1] != ':' || (k[0] != 'k' && k[0] != 'v') {
			return p.fail("list %s has positional or unknown items in the field set", p.render())
		}
		if kind != 0 && kind != k[0] {
			return p.fail("list %s mixes keyed and set items in the field set", p.render())
		}
		kind = k[0]
	}
	items, err := parseItems(s)
	if err != nil {
		return p.fail("field set of %s at %s: %v", p.manager, p.render(), err)
	}
	if p.sorted {
		sort.Slice(items, func(i, j int) bool { return items[i].raw < items[j].raw })
	}
	depth := len(p.path)
	last := -1
	for i, di := range d {
		var e *item
		var li int
		if kind == 'k' {
			dm, ok := di.(map[string]any)
			if !ok {
				return p.fail("item %d of %s is not an object", i, p.render())
			}
			e = matchKeyed(items, dm)
			if e == nil {
				return p.fail("item %d of %s is not owned by %s (added in Git, or its key changed)", i, p.render(), p.manager)
			}
			li = findKeyed(l, e.key)
		} else {
			e = matchValue(items, di)
			if e == nil {
				return p.fail("item %d of %s is not owned by %s (added in Git)", i, p.render(), p.manager)
			}
			li = findValue(l, di)
		}
		e.used = true
		p.path = append(p.path, elem{item: true, raw: e.raw, key: e.key, value: e.value})
		if _, ok := e.node["."]; !ok && hasChildren(e.node) {
			return p.fail("list item %s is not itself owned by %s", p.render(), p.manager)
		}
		switch {
		case li == -1:
			return p.fail("list item %s is missing in the live object", p.render())
		case li == -2:
			return p.fail("list item %s appears more than once in the live object", p.render())
		case li < last:
			return p.fail("list %s is in another order than in the live object", p.renderAt(depth))
		}
		last = li
		if kind == 'k' {
			lm, ok := l[li].(map[string]any)
			if !ok {
				return p.fail("value differs at %s", p.render())
			}
			if !p.walkMap(di.(map[string]any), lm, e.node) {
				return false
			}
		} else if hasChildren(e.node) {
			return p.fail("set item %s has fields below it in the field set", p.render())
		}
		p.path = p.path[:depth]
	}
	var removed []string
	for _, e := range items {
		if !e.used {
			p.path = append(p.path, elem{item: true, raw: e.raw, key: e.key, value: e.value})
			removed = append(removed, p.render())
			p.path = p.path[:depth]
		}
	}
	if len(removed) > 0 {
		return p.fail("list items removed from Git: %s", list(removed))
	}
	return true
}

// item is a k: or v: entry of a field set.
type item struct {
	raw   string
	key   map[string]any // k: key fields
	value any            // v: value
	node  map[string]any
	used  bool
}

func parseItems(s map[string]any) ([]item, error) {
	out := make([]item, 0, len(s))
	for k, v := range s {
		if k == "." {
			continue
		}
		node, _ := v.(map[string]any)
		val, err := decodeJSON(k[2:])
		if err != nil {
			return nil, fmt.Errorf("%q: %v", k, err)
		}
		it := item{raw: k, node: node}
		if k[0] == 'k' {
			key, ok := val.(map[string]any)
			if !ok || len(key) == 0 {
				return nil, fmt.Errorf("%q: a key is an object of key fields", k)
			}
			it.key = key
		} else {
			it.value = val
		}
		out = append(out, it)
	}
	return out, nil
}

// decodeJSON decodes as unstructured objects hold values: whole numbers as
// int64, other numbers as float64.
func decodeJSON(s string) (any, error) {
	if v, ok := decodeFlat(s); ok {
		return v, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return numbers(v)
}

// decodeFlat decodes the common shapes of list keys without allocating a
// decoder: a string without escapes, a whole number, or a flat object of
// those. It reports false for anything else, which decodeJSON then decodes
// in full.
func decodeFlat(s string) (any, bool) {
	if s == "" {
		return nil, false
	}
	if s[0] != '{' {
		v, rest, ok := flatScalar(s)
		return v, ok && rest == ""
	}
	m := map[string]any{}
	rest := s[1:]
	for {
		k, r, ok := flatString(rest)
		if !ok || r == "" || r[0] != ':' {
			return nil, false
		}
		v, r, ok := flatScalar(r[1:])
		if !ok || r == "" {
			return nil, false
		}
		m[k] = v
		switch r[0] {
		case ',':
			rest = r[1:]
		case '}':
			return m, r == "}"
		default:
			return nil, false
		}
	}
}

func flatScalar(s string) (any, string, bool) {
	if s != "" && s[0] == '"' {
		return flatString(s)
	}
	end := 0
	for end < len(s) && (s[end] == '-' || (s[end] >= '0' && s[end] <= '9')) {
		end++
	}
	if end == 0 || (end < len(s) && (s[end] == '.' || s[end] == 'e' || s[end] == 'E')) {
		return nil, s, false
	}
	n, err := strconv.ParseInt(s[:end], 10, 64)
	if err != nil {
		return nil, s, false
	}
	return n, s[end:], true
}

func flatString(s string) (string, string, bool) {
	if s == "" || s[0] != '"' {
		return "", s, false
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			return "", s, false
		case '"':
			return s[1:i], s[i+1:], true
		}
	}
	return "", s, false
}

func numbers(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		return v.Float64()
	case map[string]any:
		for k, e := range v {
			c, err := numbers(e)
			if err != nil {
				return nil, err
			}
			v[k] = c
		}
	case []any:
		for i, e := range v {
			c, err := numbers(e)
			if err != nil {
				return nil, err
			}
			v[i] = c
		}
	}
	return v, nil
}

// matchKeyed finds the one unused entry whose key a desired item has. A key
// field the item lacks matches only when the manager does not own it: the
// server filled the key from the field's default.
func matchKeyed(items []item, d map[string]any) *item {
	var found *item
	for i := range items {
		e := &items[i]
		ok := true
		for kf, kv := range e.key {
			dv, has := d[kf]
			if has && !scalarEqual(dv, kv) {
				ok = false
				break
			}
			if !has {
				if _, owned := e.node["f:"+kf]; owned {
					ok = false
					break
				}
			}
		}
		if !ok {
			continue
		}
		if found != nil || e.used {
			return nil // ambiguous, or a duplicate in Git
		}
		found = e
	}
	return found
}

// findKeyed returns the index of the one live item with key, -1 when there
// is none, -2 when there are more.
func findKeyed(l []any, key map[string]any) int {
	at := -1
	for i, li := range l {
		lm, ok := li.(map[string]any)
		if !ok {
			continue
		}
		match := true
		for kf, kv := range key {
			if !scalarEqual(lm[kf], kv) {
				match = false
				break
			}
		}
		if match {
			if at >= 0 {
				return -2
			}
			at = i
		}
	}
	return at
}

func matchValue(items []item, d any) *item {
	var found *item
	for i := range items {
		if scalarEqual(items[i].value, d) {
			if found != nil || items[i].used {
				return nil
			}
			found = &items[i]
		}
	}
	return found
}

func findValue(l []any, v any) int {
	at := -1
	for i, li := range l {
		if scalarEqual(li, v) {
			if at >= 0 {
				return -2
			}
			at = i
		}
	}
	return at
}

// ownersAt names the other managers that own the current path (below it,
// when below is set).
func (p *prover) ownersAt(below bool) []string {
	var out []string
	for _, o := range p.others {
		n := o.fields
		for _, e := range p.path {
			if n == nil {
				break
			}
			k := e.raw
			if !e.item {
				k = "f:" + e.field
			}
			n, _ = n[k].(map[string]any)
		}
		if n == nil {
			continue
		}
		if !below || hasChildren(n) {
			out = append(out, o.name)
		}
	}
	sort.Strings(out)
	return out
}

// child prints the path of field name below the current path.
func (p *prover) child(name string) string {
	if len(p.path) == 0 {
		return "." + name
	}
	return p.render() + "." + name
}

// render prints the current path: .spec.containers[name=web].image.
func (p *prover) render() string { return p.renderAt(len(p.path)) }

func (p *prover) renderAt(n int) string {
	var b bytes.Buffer
	for _, e := range p.path[:n] {
		switch {
		case !e.item:
			b.WriteString(".")
			b.WriteString(e.field)
		case e.key != nil:
			names := make([]string, 0, len(e.key))
			for k := range e.key {
				names = append(names, k)
			}
			sort.Strings(names)
			b.WriteString("[")
			for i, k := range names {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, "%s=%v", k, e.key[k])
			}
			b.WriteString("]")
		default:
			fmt.Fprintf(&b, "[%v]", e.value)
		}
	}
	if b.Len() == 0 {
		return "."
	}
	return b.String()
}
