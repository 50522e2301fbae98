package sync_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func TestFieldChanges(t *testing.T) {
	live := map[string]any{
		"spec": map[string]any{"replicas": int64(1), "ports": []any{int64(80)}, "paused": nil},
		"metadata": map[string]any{"annotations": map[string]any{
			"example.com/owner": "a", "same": "x",
		}},
		"data": map[string]any{"a/b": "1"},
	}
	merged := map[string]any{
		"spec": map[string]any{"replicas": int64(3), "ports": []any{int64(80), int64(443)}},
		"metadata": map[string]any{"annotations": map[string]any{
			"example.com/owner": "b", "same": "x",
		}},
		"data": map[string]any{"a/b": "1", "new": "2"},
	}
	want := []gsync.FieldChange{
		{Path: ".data.new", Desired: "2"},
		{Path: `.metadata.annotations["example.com/owner"]`, Live: "a", Desired: "b"},
		{Path: ".spec.ports", Live: []any{int64(80)}, Desired: []any{int64(80), int64(443)}},
		{Path: ".spec.replicas", Live: int64(1), Desired: int64(3)},
	}
	// A missing field equals null (.spec.paused), as the sync judges it.
	if diff := cmp.Diff(want, gsync.FieldChanges(live, merged)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if got := gsync.FieldChanges(live, live); len(got) != 0 {
		t.Errorf("an object against itself: %v", got)
	}
}
