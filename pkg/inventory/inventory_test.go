package inventory

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestHookResourcesRoundTrip(t *testing.T) {
	in := []HookResource{{GroupKind: schema.GroupKind{Group: "batch", Kind: "Job"}, Namespace: "shop"}, {GroupKind: schema.GroupKind{Kind: "Pod"}, Namespace: "shop"},
		{GroupKind: schema.GroupKind{Group: "batch", Kind: "Job"}, Namespace: "shop"}}
	text := FormatHookResources(in)
	if text != "Job.batch/shop,Pod/shop" {
		t.Fatalf("format: %q", text)
	}
	if got := FormatHookResources(ParseHookResources(text + ",garbage")); got != text {
		t.Errorf("round trip: %q", got)
	}
}
