package inventory

import (
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
