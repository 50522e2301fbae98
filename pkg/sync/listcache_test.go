package sync_test

import (
	"context"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// Apps of one run that share a ListCache list a resource and namespace
// once; an app that writes there makes the next one list again, and what
// it wrote is seen; a list older than MaxAge is not handed out.
func TestListCacheSharedByTheApps(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sync := func(app, name, value string, o gsync.Options) *gsync.Result {
		t.Helper()
		objs, err := render.Decode([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + "}\ndata: {k: '" + value + "'}\n"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := gsync.New(f.client, o).Run(ctx, gsync.Input{App: app, Objects: objs, Repo: "test", Path: ".", Revision: "HEAD", Commit: "abc"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	o := f.options()
	for _, app := range []string{"a", "b", "c"} {
		sync(app, app, "1", o) // each app has its ConfigMap
	}
	// A no-op of the three, sharing a cache: the first lists ConfigMaps,
	// the others do not.
	o.Lists = gsync.NewListCache(time.Minute)
	first := sync("a", "a", "1", o)
	second := sync("b", "b", "1", o)
	if second.Requests.Reads >= first.Requests.Reads || second.Counts[gsync.Unchanged] != 1 {
		t.Errorf("the second app made %d reads, the first %d; want fewer (the list shared)", second.Requests.Reads, first.Requests.Reads)
	}
	// b changes its ConfigMap: c lists again, and a sees b's write.
	if res := sync("b", "b", "2", o); res.Counts[gsync.Configured] != 1 {
		t.Fatalf("b's change: %+v", res.Counts)
	}
	third := sync("c", "c", "1", o)
	if third.Requests.Reads != first.Requests.Reads {
		t.Errorf("after a write the next app made %d reads, want %d (a new list)", third.Requests.Reads, first.Requests.Reads)
	}
	// b's ConfigMap, as b wrote it, is what b's next comparison sees.
	if res := sync("b", "b", "2", o); res.Counts[gsync.Unchanged] != 1 {
		t.Errorf("b after its write: %+v", res.Counts)
	}
	// An old list is not handed out.
	o.Lists = gsync.NewListCache(time.Nanosecond)
	sync("a", "a", "1", o)
	if again := sync("c", "c", "1", o); again.Requests.Reads != first.Requests.Reads {
		t.Errorf("with a list older than MaxAge: %d reads, want %d", again.Requests.Reads, first.Requests.Reads)
	}
}
