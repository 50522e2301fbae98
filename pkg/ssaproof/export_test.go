package ssaproof

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// AtomicPaths lists the atomic fields Prove knows for gvk, dotted, with *
// for a list item.
func AtomicPaths(gvk schema.GroupVersionKind) []string {
	var out []string
	for _, p := range append(atomicInVersion[gvk], atomicFields[gvk.GroupKind()]...) {
		out = append(out, strings.Join(p, "."))
	}
	return out
}
