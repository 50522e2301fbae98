package render

import "testing"

// Objects kustomize builds carry whole numbers as int64, as decoded JSON
// does (DeepCopy, which the sync engine uses on every input, panics on int),
// and a relative root works.
func TestKustomizeNumbersAreInt64(t *testing.T) {
	objs, err := Render("../../testdata/config-repo", "apps/order-service/overlays/production", Options{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		c := o.DeepCopy()
		if c.GetKind() == "Deployment" {
			r, ok := c.Object["spec"].(map[string]any)["replicas"].(int64)
			found = ok && r > 0
		}
	}
	if !found {
		t.Errorf("no Deployment with int64 replicas in the render")
	}
}
