package rollback

import (
	"strings"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

func TestDefaultTarget(t *testing.T) {
	ok := func(id int, commit string) inventory.Record {
		return inventory.Record{ID: id, Commit: commit, Phase: "Succeeded"}
	}
	failed := func(id int, commit string) inventory.Record {
		return inventory.Record{ID: id, Commit: commit, Phase: "Failed"}
	}
	noop := func(id int, commit string) inventory.Record {
		r := ok(id, commit)
		r.NoOp = true
		return r
	}
	tests := []struct {
		name    string
		history []inventory.Record
		want    int
		wantErr string
	}{
		{"the sync before the current one", []inventory.Record{ok(1, "a"), ok(2, "b")}, 1, ""},
		{"records of the current commit are skipped", []inventory.Record{ok(1, "a"), ok(2, "b"), noop(3, "b")}, 1, ""},
		{"a re-sync of the current commit is skipped", []inventory.Record{ok(1, "a"), ok(2, "b"), ok(3, "a"), ok(4, "b")}, 3, ""},
		{"failed syncs are skipped", []inventory.Record{ok(1, "a"), failed(2, "c"), ok(3, "b")}, 1, ""},
		{"a failed current sync: the target still differs from its commit", []inventory.Record{ok(1, "a"), ok(2, "b"), failed(3, "c")}, 2, ""},
		{"after a rollback, back again", []inventory.Record{ok(1, "a"), ok(2, "b"), {ID: 3, Commit: "a", Phase: "Succeeded", Rollback: true, RollbackOf: 1}}, 2, ""},
		{"one commit only", []inventory.Record{ok(1, "a"), noop(2, "a")}, 0, "no successful sync of another commit before the current one (a, history ID 2); history IDs: 1, 2"},
		{"nothing recorded", nil, 0, "has no recorded sync with a commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultTarget("web", tt.history)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("DefaultTarget = %d, %v; want error containing %q", got.ID, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.ID != tt.want {
				t.Errorf("DefaultTarget = %d, %v; want %d", got.ID, err, tt.want)
			}
		})
	}
}

func TestFind(t *testing.T) {
	h := []inventory.Record{{ID: 3, Commit: "a"}, {ID: 4}, {ID: 5, Commit: "b"}}
	if r, err := Find("web", h, 5); err != nil || r.Commit != "b" {
		t.Errorf("Find(5) = %+v, %v", r, err)
	}
	for id, want := range map[int]string{
		7: "app web has no history ID 7; IDs: 3, 4, 5 (see 'kubectl gitops history web')",
		4: "history ID 4 of app web has no commit",
	} {
		if _, err := Find("web", h, id); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Find(%d): %v; want %q", id, err, want)
		}
	}
}
