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
}

// NewFromObjects learns the values of the Secrets among objs: each data
// value both encoded and decoded, and each stringData value.
func NewFromObjects(objs []*unstructured.Unstructured) *Redactor {
	seen := map[string]bool{}
	add := func(v string) {
		if len(v) >= 4 { // shorter strings would mask ordinary words
			seen[v] = true
		}
	}
	for _, o := range objs {
		if !isSecret(o) {
			continue
		}
		data, _, _ := unstructured.NestedStringMap(o.Object, "data")
		for _, v := range data {
			add(v)
			if dec, err := base64.StdEncoding.DecodeString(v); err == nil {
				add(string(dec))
				for _, line := range strings.Split(string(dec), "\n") {
					add(strings.TrimSpace(line))
				}
			}
		}
		sd, _, _ := unstructured.NestedStringMap(o.Object, "stringData")
		for _, v := range sd {
			add(v)
			add(base64.StdEncoding.EncodeToString([]byte(v)))
			for _, line := range strings.Split(v, "\n") {
				add(strings.TrimSpace(line))
			}
		}
	}
	r := &Redactor{}
	for v := range seen {
		r.values = append(r.values, v)
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
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
