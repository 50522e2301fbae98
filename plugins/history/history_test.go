package history

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

func TestPrintTable(t *testing.T) {
	t0 := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	history := []inventory.Record{
		{ID: 1, Revision: "main", Commit: "1111111aaaaaaaa", Author: "Ann Lee <ann@example.com>", Subject: "web: first release",
			StartedAt: t0, FinishedAt: t0.Add(1500 * time.Millisecond), Phase: "Succeeded"},
		{ID: 2, Revision: "main", Commit: "2222222bbbbbbbb", Author: "Bob <bob@example.com>", Subject: "web: 1.1",
			StartedAt: t0.Add(time.Hour), FinishedAt: t0.Add(time.Hour + 2*time.Second), Phase: "Failed", Message: "hook Job/web/migrate failed",
			Hooks: []inventory.HookRun{{Kind: "Job", Name: "migrate", Phase: "PreSync", Status: "Failed"}, {Kind: "Job", Name: "page-x", Phase: "SyncFail", Status: "Succeeded"},
				{Kind: "Job", Name: "smoke-*", Phase: "PostSync", Action: "pending"}}},
		{ID: 3, Revision: "main", Commit: "1111111aaaaaaaa", Author: "Ann Lee <ann@example.com>", Subject: "web: first release",
			StartedAt: t0.Add(2 * time.Hour), FinishedAt: t0.Add(2*time.Hour + time.Second), Phase: "Succeeded", Rollback: true, RollbackOf: 1},
		// An old record, before authors were recorded, folded no-ops.
		{ID: 4, Revision: "v1", Commit: "3333333cccccccc", StartedAt: t0.Add(3 * time.Hour), FinishedAt: t0.Add(3*time.Hour + 10*time.Millisecond),
			Phase: "Succeeded", NoOp: true, Repeats: 2},
	}
	var b bytes.Buffer
	PrintTable(&b, history)
	want := `ID  REVISION  COMMIT   AUTHOR   SUBJECT             STARTED               DURATION  RESULT                HOOKS                  ROLLBACK
1   main      1111111  Ann Lee  web: first release  2025-03-04T10:00:00Z  1.5s      Succeeded             -                      -
2   main      2222222  Bob      web: 1.1            2025-03-04T11:00:00Z  2s        Failed                1 Succeeded, 1 Failed  -
3   main      1111111  Ann Lee  web: first release  2025-03-04T12:00:00Z  1s        Succeeded             -                      → 1
4   v1        3333333  -        -                   2025-03-04T13:00:00Z  10ms      Succeeded (no-op ×3)  -                      -
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("history table (-want +got)\n%s", diff)
	}
}
