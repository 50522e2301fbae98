package sync_test

import (
	"context"
	"testing"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// The record carries the commit's author and subject and the rollback
// mark; the automated mark of the parent survives every Save, including
// those of syncs, although a forced apply drops what it does not name.
func TestRecordKeepsAuthorRollbackAndAutomatedMark(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	inv := inventory.Inventory{App: f.app, Namespace: f.ns}
	// As the agent will: the mark written by our own field manager.
	if err := inventory.Save(ctx, f.client, inv, &inventory.State{Automated: true}); err != nil {
		t.Fatal(err)
	}
	objs, err := render.Decode([]byte(configMapYAML("a", "0", "")))
	if err != nil {
		t.Fatal(err)
	}
	in := gsync.Input{App: f.app, Objects: objs, Repo: "test", Path: ".", Revision: "main", Commit: "abc",
		Author: "Ann <ann@example.com>", Subject: "roll back the color", Rollback: true, RollbackOf: 1}
	if _, err := gsync.New(f.client, f.options()).Run(ctx, in); err != nil {
		t.Fatal(err)
	}
	st, err := inventory.Load(ctx, f.client, inv)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Automated {
		t.Errorf("the automated mark was dropped by the sync's Save")
	}
	if n := len(st.History); n != 1 {
		t.Fatalf("history has %d records, want 1", n)
	}
	rec := st.History[0]
	if rec.Author != in.Author || rec.Subject != in.Subject || !rec.Rollback || rec.RollbackOf != 1 {
		t.Errorf("record author %q subject %q rollback %v of %d; want %q, %q, true, 1", rec.Author, rec.Subject, rec.Rollback, rec.RollbackOf, in.Author, in.Subject)
	}
	// Clearing the mark in the State clears it in the cluster.
	st.Automated = false
	if err := inventory.Save(ctx, f.client, inv, st); err != nil {
		t.Fatal(err)
	}
	if st, err = inventory.Load(ctx, f.client, inv); err != nil || st.Automated {
		t.Errorf("after a Save without the mark: automated %v, err %v", st != nil && st.Automated, err)
	}
	apps, err := inventory.List(ctx, f.client, f.ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].App != f.app || apps[0].Err != nil || len(apps[0].State.History) != 1 {
		t.Errorf("List(%s) = %+v; want the one app %s with its history", f.ns, apps, f.app)
	}
}
