// Package redact keeps Secret values out of everything kubectl-gitops
// prints: rendered manifests, messages from the API server, diffs.
//
//	safe := redact.Secrets(objs)            // copies with values masked
//	r := redact.NewFromObjects(objs)        // knows the values...
//	msg = r.String(msg)                     // ...and masks them in any text
package redact

import (
	"encoding/base64"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Mask replaces a secret value.
const Mask = "++++++++"

func isSecret(o *unstructured.Unstructured) bool {
	return o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
}

// Secrets returns objs with the values of every Secret's data and
// stringData masked; other objects are returned as they are (not copied).
func Secrets(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		if !isSecret(o) {
			out[i] = o
			continue
		}
		c := o.DeepCopy()
		for _, field := range []string{"data", "stringData"} {
			if m, ok, _ := unstructured.NestedMap(c.Object, field); ok {
				for k := range m {
					m[k] = Mask
				}
				_ = unstructured.SetNestedMap(c.Object, m, field)
			}
		}
		if ann := c.GetAnnotations(); ann["kubectl.kubernetes.io/last-applied-configuration"] != "" {
			ann["kubectl.kubernetes.io/last-applied-configuration"] = Mask
			c.SetAnnotations(ann)
		}
		out[i] = c
	}
	return out
}

// Redactor masks known secret values in text.
type Redactor struct {
	values []string // longest first, so a value inside another is not half-masked
	seen   map[string]bool
}

// NewFromObjects learns the values of the Secrets among objs: each data
// value both encoded and decoded, and each stringData value.
func NewFromObjects(objs []*unstructured.Unstructured) *Redactor {
	r := &Redactor{}
	for _, o := range objs {
		if !isSecret(o) {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		for _, v := range data {
			r.add(v)
			if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
				r.addPlain(string(dec))
			}
		}
		sd, _, _ := unstructured.NestedStringMap(o.Object, "stringData")
		for _, v := range sd {
			r.addPlain(v)
		}
	}
	r.sort()
	return r
}

// Add learns more secret values (plaintext), such as the values decrypted
// from SOPS files, with their base64 form and each of their lines.
func (r *Redactor) Add(values ...string) {
	for _, v := range values {
		r.addPlain(v)
	}
	r.sort()
}

func (r *Redactor) addPlain(v string) {
	r.add(v)
	r.add(base64.StdEncoding.EncodeToString([]byte(v)))
	for _, line := range strings.Split(v, "\n") {
		r.add(strings.TrimSpace(line))
	}
}

func (r *Redactor) add(v string) {
	if len(v) < 4 { // shorter strings would mask ordinary words
		return
	}
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	if !r.seen[v] {
		r.seen[v] = true
		r.values = append(r.values, v)
	}
}

func (r *Redactor) sort() {
	sort.SliceStable(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
}

// Objects returns objs with every string value that holds a known secret
// masked; objects without one are returned as they are (not copied).
func (r *Redactor) Objects(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	if r == nil || len(r.values) == 0 {
		return objs
	}
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		masked, changed := r.value(o.Object)
		if !changed {
			out[i] = o
			continue
		}
		out[i] = &unstructured.Unstructured{Object: masked.(map[string]any)}
	}
	return out
}

// value returns v with secrets masked in its strings, copying only what
// changes.
func (r *Redactor) value(v any) (any, bool) {
	switch t := v.(type) {
	case string:
		m := r.String(t)
		return m, m != t
	case map[string]any:
		var out map[string]any
		for k, e := range t {
			if m, changed := r.value(e); changed {
				if out == nil {
					out = make(map[string]any, len(t))
					for k2, e2 := range t {
						out[k2] = e2
					}
				}
				out[k] = m
			}
		}
		if out == nil {
			return t, false
		}
		return out, true
	case []any:
		var out []any
		for i, e := range t {
			if m, changed := r.value(e); changed {
				if out == nil {
					out = append([]any(nil), t...)
				}
				out[i] = m
			}
		}
		if out == nil {
			return t, false
		}
		return out, true
	}
	return v, false
}

// String masks every known value in s.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	return s
}
