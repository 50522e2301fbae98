package status

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/health"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func configMap(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name, "namespace": "ns"}}}
}

func change(name string, action gsync.ChangeAction, live bool) *gsync.Change {
	c := &gsync.Change{ObjectID: gsync.ObjectID{Version: "v1", Kind: "ConfigMap", Namespace: "ns", Name: name}, Action: action, Desired: configMap(name)}
	if live {
		c.Live = configMap(name)
	}
	return c
}

func TestOf(t *testing.T) {
	st := &inventory.State{Automated: true, History: []inventory.Record{{ID: 1, Revision: "main", Commit: "aaaaaaaaaa"}}}
	cs := &gsync.ChangeSet{Source: gsync.Source{Revision: "main", Commit: "bbbbbbbbbb"}, Changes: []*gsync.Change{
		change("same", gsync.ChangeUnchanged, true),
		change("new", gsync.ChangeCreate, false),
		change("gone", gsync.ChangePrune, true),
	}}
	cs.Changes[2].Desired = nil
	got := Of("web", st, cs, nil)
	type obj struct {
		Name   string
		Sync   SyncStatus
		Health health.Status
	}
	var objs []obj
	for _, o := range got.Objects {
		objs = append(objs, obj{o.Name, o.Sync, o.Health})
	}
	want := []obj{{"same", Synced, health.Healthy}, {"new", OutOfSync, health.Missing}, {"gone", OutOfSync, health.Healthy}}
	if diff := cmp.Diff(want, objs); diff != "" {
		t.Errorf("objects (-want +got)\n%s", diff)
	}
	// A missing object is Missing itself, but the app is as healthy as
	// what exists (Argo CD: OutOfSync already says it is missing).
	if got.Sync != OutOfSync || got.Health != health.Healthy || !got.Automated || got.LastSync == nil || got.LastSync.ID != 1 {
		t.Errorf("app: sync %s health %s automated %v last %+v", got.Sync, got.Health, got.Automated, got.LastSync)
	}
	if got.Moved == nil || got.Moved.String() != "revision main moved: synced aaaaaaa, now bbbbbbb" {
		t.Errorf("moved: %+v", got.Moved)
	}
	if c := got.CountsText(); c != "1 create, 1 prune, 1 unchanged" {
		t.Errorf("counts %q", c)
	}

	// An app none of whose objects exists is Missing.
	if none := Of("web", st, &gsync.ChangeSet{Changes: []*gsync.Change{change("a", gsync.ChangeCreate, false), change("b", gsync.ChangeCreate, false)}}, nil); none.Health != health.Missing {
		t.Errorf("nothing live: health %s, want Missing", none.Health)
	}

	// A Skip hook is Synced; a member kept by Prune=false is out of sync.
	hook, kept := change("hook", gsync.ChangeSkip, false), change("kept", gsync.ChangeSkip, true)
	kept.Desired = nil
	skips := Of("web", st, &gsync.ChangeSet{Changes: []*gsync.Change{hook, kept}}, nil)
	if skips.Objects[0].Sync != Synced || skips.Objects[1].Sync != OutOfSync || skips.Sync != OutOfSync {
		t.Errorf("skips: hook %s, kept %s, app %s; want Synced, OutOfSync, OutOfSync", skips.Objects[0].Sync, skips.Objects[1].Sync, skips.Sync)
	}

	// A SHA does not move; an in-sync set is Synced; a missing comparison
	// is Unknown with its reason.
	st.History[0].Revision, cs.Source.Revision = "aaaaaaa", "aaaaaaa"
	inSync := &gsync.ChangeSet{Source: cs.Source, Changes: []*gsync.Change{change("same", gsync.ChangeUnchanged, true)}}
	if got := Of("web", st, inSync, nil); got.Sync != Synced || got.Health != health.Healthy || got.Moved != nil {
		t.Errorf("in sync: %+v", got)
	}
	if got := Of("web", st, nil, errString("render failed")); got.Sync != Unknown || got.Health != health.Unknown || got.Reason != "render failed" {
		t.Errorf("no change set: %+v", got)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
