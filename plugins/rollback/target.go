package rollback

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/output"
)

// DefaultTarget is the record a rollback without ID goes back to: the
// newest successful sync before the current one (the newest record that
// names a commit) whose commit differs from the current commit. Syncing
// the current commit again would roll nothing back.
func DefaultTarget(app string, history []inventory.Record) (inventory.Record, error) {
	cur := -1
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Commit != "" {
			cur = i
			break
		}
	}
	if cur < 0 {
		return inventory.Record{}, fmt.Errorf("app %s has no recorded sync with a commit to roll back to", app)
	}
	for i := cur - 1; i >= 0; i-- {
		r := history[i]
		if r.Phase == "Succeeded" && r.Commit != "" && r.Commit != history[cur].Commit {
			return r, nil
		}
	}
	return inventory.Record{}, fmt.Errorf("app %s has no successful sync of another commit before the current one (%s, history ID %d); history IDs: %s; name one: 'kubectl gitops rollback %s ID'",
		app, output.ShortSHA(history[cur].Commit), history[cur].ID, ids(history), app)
}

// Find is the record with id, or an error that lists the IDs there are.
func Find(app string, history []inventory.Record, id int) (inventory.Record, error) {
	for _, r := range history {
		if r.ID != id {
			continue
		}
		if r.Commit == "" {
			return inventory.Record{}, fmt.Errorf("history ID %d of app %s has no commit (the sync failed before its source was resolved); choose another ID (see 'kubectl gitops history %s')", id, app, app)
		}
		return r, nil
	}
	if len(history) == 0 {
		return inventory.Record{}, fmt.Errorf("app %s has no history ID %d: no syncs are recorded", app, id)
	}
	return inventory.Record{}, fmt.Errorf("app %s has no history ID %d; IDs: %s (see 'kubectl gitops history %s')", app, id, ids(history), app)
}

func ids(history []inventory.Record) string {
	var s []string
	for _, r := range history {
		s = append(s, strconv.Itoa(r.ID))
	}
	return strings.Join(s, ", ")
}
