package inventory

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestAppendHistory(t *testing.T) {
	real := func(commit string) Record { return Record{Commit: commit} }
	noop := func(commit string) Record { return Record{Commit: commit, NoOp: true} }
	show := func(h []Record) string {
		var parts []string
		for _, r := range h {
			s := fmt.Sprintf("%d:%s", r.ID, r.Commit)
			if r.NoOp {
				s += fmt.Sprintf("(noop×%d)", r.Repeats+1)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	tests := []struct {
		name  string
		syncs []Record
		limit int
		want  string
	}{
		{"real records up to the limit", []Record{real("a"), real("b"), real("c")}, 2, "2:b 3:c"},
		{"no-ops of one commit fold", []Record{real("a"), noop("a"), noop("a"), noop("a")}, 10, "1:a 2:a(noop×3)"},
		{"a no-op of a new commit supersedes the older no-op", []Record{real("a"), noop("a"), noop("b")}, 10, "1:a 3:b(noop×1)"},
		{"a real change supersedes the no-op", []Record{real("a"), noop("a"), real("b")}, 10, "1:a 3:b"},
		{"no-ops never evict real records", []Record{real("a"), real("b"), noop("b"), noop("b")}, 2, "1:a 2:b 3:b(noop×2)"},
		{"no limit", []Record{real("a"), real("b"), real("c")}, 0, "1:a 2:b 3:c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h []Record
			for _, r := range tt.syncs {
				h = AppendHistory(h, r, tt.limit)
			}
			if got := show(h); got != tt.want {
				t.Errorf("history %q, want %q", got, tt.want)
			}
		})
	}
}

// Records written before the commit author, subject and rollback fields
// existed still load, with those fields empty.
func TestOldRecordsLoad(t *testing.T) {
	var h []Record
	old := `[{"id":1,"repo":"/r","path":"apps/web","revision":"main","commit":"abc","prune":true,"startedAt":"2025-01-02T03:04:05Z","finishedAt":"2025-01-02T03:04:06Z","phase":"Succeeded"}]`
	if err := json.Unmarshal([]byte(old), &h); err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Commit != "abc" || h[0].Author != "" || h[0].Rollback || h[0].RollbackOf != 0 {
		t.Errorf("old record read as %+v", h)
	}
}

func TestLastWithCommit(t *testing.T) {
	h := []Record{{ID: 1, Commit: "a"}, {ID: 2, Commit: "b"}, {ID: 3}}
	if r, ok := LastWithCommit(h); !ok || r.ID != 2 {
		t.Errorf("LastWithCommit = %d, %v; want record 2", r.ID, ok)
	}
	if _, ok := LastWithCommit([]Record{{ID: 1}}); ok {
		t.Errorf("LastWithCommit found a commit in a history without one")
	}
}

// A rollback that changes nothing stays in the history: it is never folded
// nor superseded, and counts toward the limit as a change does.
func TestAppendHistoryKeepsRollbacks(t *testing.T) {
	h := AppendHistory(nil, Record{Commit: "a"}, 10)
	h = AppendHistory(h, Record{Commit: "a", NoOp: true}, 10)
	// A rollback to a commit the cluster already runs changes nothing; it
	// supersedes the no-op before it, and no later sync supersedes it.
	h = AppendHistory(h, Record{Commit: "a", NoOp: true, Rollback: true, RollbackOf: 1}, 10)
	h = AppendHistory(h, Record{Commit: "a", NoOp: true, Rollback: true, RollbackOf: 1}, 10)
	h = AppendHistory(h, Record{Commit: "b"}, 3)
	var got []string
	for _, r := range h {
		got = append(got, fmt.Sprintf("%d:%s rollback=%v", r.ID, r.Commit, r.Rollback))
	}
	if want := "3:a rollback=true 4:a rollback=true 5:b rollback=false"; strings.Join(got, " ") != want {
		t.Errorf("history %q, want %q", strings.Join(got, " "), want)
	}
}
