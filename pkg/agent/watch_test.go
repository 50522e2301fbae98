package agent

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	metadatafake "k8s.io/client-go/metadata/fake"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

var (
	t0 = metav1.NewTime(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC))
	t1 = metav1.NewTime(t0.Add(time.Second))
	t2 = metav1.NewTime(t0.Add(2 * time.Second))
)

func entry(manager string, op metav1.ManagedFieldsOperationType, at *metav1.Time, subresource string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Time: at, Subresource: subresource, APIVersion: "apps/v1",
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}
}

// member is a member's metadata as the watch keeps it: managed fields cut
// down to the last writer.
func member(rv string, gen int64, edit ...func(*metav1.PartialObjectMetadata)) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "web", ResourceVersion: rv, Generation: gen,
			Labels:      map[string]string{inventory.LabelPartOf: "applyset-a", "app": "web"},
			Annotations: map[string]string{"note": "x"},
			ManagedFields: keptWriters([]metav1.ManagedFieldsEntry{
				entry(inventory.FieldManager, metav1.ManagedFieldsOperationApply, &t0, ""),
				entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, &t1, "status"),
			})},
	}
	for _, e := range edit {
		e(m)
	}
	return m
}

// writer makes the last writer of a member.
func writer(manager string, op metav1.ManagedFieldsOperationType) func(*metav1.PartialObjectMetadata) {
	return func(m *metav1.PartialObjectMetadata) {
		m.ManagedFields = keptWriters([]metav1.ManagedFieldsEntry{entry(manager, op, &t2, "")})
	}
}

func TestChanged(t *testing.T) {
	own := writer(inventory.FieldManager, metav1.ManagedFieldsOperationApply)
	deleting := func(m *metav1.PartialObjectMetadata) { m.DeletionTimestamp = &t2 }
	noGeneration := func(m *metav1.PartialObjectMetadata) { m.Generation = 0 }
	for _, tc := range []struct {
		name     string
		old, cur *metav1.PartialObjectMetadata
		want     bool
	}{
		{"resync: same resourceVersion", member("1", 1), member("1", 1), false},
		{"same resourceVersion, whatever else", member("1", 1), member("1", 2, deleting), false},
		{"status only: generation as it was", member("1", 1), member("2", 1), false},
		{"generation bumped", member("1", 1), member("2", 2), true},
		{"generation bumped by the engine's apply", member("1", 1), member("2", 2, own), false},
		{"generation bumped by the engine, not applying", member("1", 1), member("2", 2, writer(inventory.FieldManager, metav1.ManagedFieldsOperationUpdate)), true},
		{"generation bumped by another's apply", member("1", 1), member("2", 2, writer("argocd", metav1.ManagedFieldsOperationApply)), true},
		{"no generation, new resourceVersion", member("1", 0, noGeneration), member("2", 0, noGeneration), true},
		{"no generation, the engine's apply", member("1", 0, noGeneration), member("2", 0, noGeneration, own), false},
		{"label changed", member("1", 1), member("2", 1, func(m *metav1.PartialObjectMetadata) { m.Labels["app"] = "api" }), true},
		{"label added", member("1", 1), member("2", 1, func(m *metav1.PartialObjectMetadata) { m.Labels["tier"] = "front" }), true},
		{"label removed", member("1", 1), member("2", 1, func(m *metav1.PartialObjectMetadata) { delete(m.Labels, "app") }), true},
		{"annotation changed", member("1", 1), member("2", 1, func(m *metav1.PartialObjectMetadata) { m.Annotations["note"] = "y" }), true},
		{"annotations dropped", member("1", 1), member("2", 1, func(m *metav1.PartialObjectMetadata) { m.Annotations = nil }), true},
		{"no annotations, nil and empty", member("1", 1, func(m *metav1.PartialObjectMetadata) { m.Annotations = nil }),
			member("2", 1, func(m *metav1.PartialObjectMetadata) { m.Annotations = map[string]string{} }), false},
		{"labels changed by the engine's apply", member("1", 1), member("2", 1, own, func(m *metav1.PartialObjectMetadata) { m.Labels["app"] = "api" }), false},
		{"deletion begins", member("1", 1), member("2", 1, deleting), true},
		// Deleting leaves managed fields alone: the engine may still be
		// the last writer of an object someone else deletes.
		{"deletion begins, the engine wrote last", member("1", 1, own), member("2", 1, own, deleting), true},
		{"deletion under way, status only", member("1", 1, deleting), member("2", 1, deleting), false},
		// A write that only removes fields leaves the remover no entry:
		// the engine's apply stays newest, but its time does not move.
		{"a label removed by another: the engine's entry as it was", member("1", 0, noGeneration, own), member("2", 0, noGeneration, own, func(m *metav1.PartialObjectMetadata) { delete(m.Labels, "app") }), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := changed(tc.old, tc.cur); got != tc.want {
				t.Errorf("changed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLastWriter(t *testing.T) {
	apply := entry(inventory.FieldManager, metav1.ManagedFieldsOperationApply, &t0, "")
	scale := entry("kubectl", metav1.ManagedFieldsOperationUpdate, &t1, "scale")
	status := entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, &t2, "status")
	statusSameSecond := entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, &t0, "status")
	untimed := entry("old-client", metav1.ManagedFieldsOperationUpdate, nil, "")
	bare := func(e metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
		e.FieldsV1 = nil
		return []metav1.ManagedFieldsEntry{e}
	}
	for _, tc := range []struct {
		name   string
		fields []metav1.ManagedFieldsEntry
		want   []metav1.ManagedFieldsEntry
	}{
		{"none", nil, nil},
		{"empty", []metav1.ManagedFieldsEntry{}, nil},
		{"one, without its fields", []metav1.ManagedFieldsEntry{apply}, bare(apply)},
		{"newest last", []metav1.ManagedFieldsEntry{apply, scale, status}, bare(status)},
		{"newest first", []metav1.ManagedFieldsEntry{status, scale, apply}, bare(status)},
		{"newest between", []metav1.ManagedFieldsEntry{apply, status, scale}, bare(status)},
		// The API server lists Apply before Update and each by time: in
		// one second, the later entry wins.
		{"same time, the later entry", []metav1.ManagedFieldsEntry{apply, statusSameSecond}, bare(statusSameSecond)},
		{"a time over none", []metav1.ManagedFieldsEntry{untimed, apply}, bare(apply)},
		{"none under a time", []metav1.ManagedFieldsEntry{apply, untimed}, bare(apply)},
		{"no times, the first", []metav1.ManagedFieldsEntry{untimed, untimed}, bare(untimed)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.fields)
			got := lastWriter(in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("lastWriter (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.fields, in); diff != "" {
				t.Errorf("lastWriter changed its input (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDebouncer(t *testing.T) {
	t.Parallel()
	const wait = 20 * time.Millisecond
	type fired struct {
		key string
		at  time.Time
	}
	calls := make(chan fired, 16)
	var d *Debouncer
	var again sync.Once
	d = &Debouncer{Wait: wait, Fn: func(key string) {
		calls <- fired{key, time.Now()}
		if key == "again" {
			// Fn may call again: a new wait begins.
			again.Do(func() { d.Call(key) })
		}
	}}
	next := func() fired {
		t.Helper()
		select {
		case f := <-calls:
			return f
		case <-time.After(5 * time.Second):
			t.Fatal("Fn was not called")
			return fired{}
		}
	}
	none := func() {
		t.Helper()
		select {
		case f := <-calls:
			t.Fatalf("Fn(%s) called once too often", f.key)
		case <-time.After(2 * wait):
		}
	}

	start := time.Now()
	for range 100 {
		d.Call("a")
	}
	d.Call("b")
	for range 100 {
		d.Call("a")
	}
	lastCall := time.Now()
	got := map[string]time.Time{}
	for range 2 {
		f := next()
		if _, dup := got[f.key]; dup {
			t.Fatalf("Fn(%s) called twice for calls within Wait", f.key)
		}
		got[f.key] = f.at
	}
	if got["a"].IsZero() || got["b"].IsZero() {
		t.Fatalf("Fn called for %v, want a and b", got)
	}
	if !lastCall.Before(got["a"]) {
		t.Fatalf("the calls took longer than Wait (%s)", lastCall.Sub(start))
	}
	if s := got["a"].Sub(start); s < wait {
		t.Errorf("Fn(a) called %s after the first call, want at least %s", s, wait)
	}
	none()

	// Later, a new wait.
	later := time.Now()
	d.Call("a")
	if f := next(); f.key != "a" || f.at.Sub(later) < wait {
		t.Errorf("second Fn = %s %s after the call, want a at least %s after", f.key, f.at.Sub(later), wait)
	}
	none()

	d.Call("again")
	for range 2 {
		if f := next(); f.key != "again" {
			t.Errorf("Fn(%s), want Fn(again)", f.key)
		}
	}
	none()
}

// TestWatcher runs the watch on a fake cluster: events come in order, so
// a member's event after another's shows that the other's was not told.
func TestWatcher(t *testing.T) {
	t.Parallel()
	deployments := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	named := func(name string) func(*metav1.PartialObjectMetadata) {
		return func(m *metav1.PartialObjectMetadata) { m.Name = name }
	}
	client := metadatafake.NewSimpleMetadataClient(runtime.NewScheme())
	tracker := client.Tracker()
	web := member("1", 1, func(m *metav1.PartialObjectMetadata) {
		m.ManagedFields = []metav1.ManagedFieldsEntry{
			entry(inventory.FieldManager, metav1.ManagedFieldsOperationApply, &t0, ""),
			entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, &t1, "status"),
		}
	})
	if err := tracker.Create(deployments, web, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := tracker.Create(deployments, member("1", 1, named("api")), "prod"); err != nil {
		t.Fatal(err)
	}

	type told struct{ id, name string }
	events := make(chan told, 16)
	w := NewWatcher(client)
	w.OnChange = func(id string, gvr schema.GroupVersionResource, ns, name string) {
		if gvr != deployments || ns != "prod" {
			t.Errorf("OnChange(%s, %s, %s, %s): want deployments in prod", id, gvr, ns, name)
		}
		events <- told{id, name}
	}
	w.Watch(deployments)
	w.Start(t.Context())
	w.Watch(deployments) // once
	if err := w.WaitForSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]schema.GroupVersionResource{deployments}, w.Watched()); diff != "" {
		t.Errorf("Watched (-want +got):\n%s", diff)
	}
	if n := w.Objects(); n != 2 {
		t.Errorf("Objects = %d, want 2", n)
	}
	obj, ok, err := w.watched[deployments].GetStore().GetByKey("prod/web")
	if err != nil || !ok {
		t.Fatalf("prod/web not in the store: %v", err)
	}
	if diff := cmp.Diff(keptWriters(web.ManagedFields), obj.(*metav1.PartialObjectMetadata).ManagedFields); diff != "" {
		t.Errorf("managed fields kept (-want +got):\n%s", diff)
	}

	expect := func(want ...told) {
		t.Helper()
		for _, wt := range want {
			select {
			case got := <-events:
				if got != wt {
					t.Fatalf("told %v, want %v", got, wt)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("not told %v", wt)
			}
		}
	}
	update := func(m *metav1.PartialObjectMetadata) {
		t.Helper()
		if err := tracker.Update(deployments, m, "prod"); err != nil {
			t.Fatal(err)
		}
	}
	// A status update and the engine's own apply are not told: the
	// change of api after them is the next event.
	update(member("2", 1))
	update(member("3", 2, writer(inventory.FieldManager, metav1.ManagedFieldsOperationApply)))
	update(member("2", 2, named("api")))
	expect(told{"applyset-a", "api"})

	// Moved to another ApplySet: both are told.
	update(member("4", 3, func(m *metav1.PartialObjectMetadata) { m.Labels[inventory.LabelPartOf] = "applyset-b" }))
	expect(told{"applyset-a", "web"}, told{"applyset-b", "web"})

	if err := tracker.Delete(deployments, "prod", "web"); err != nil {
		t.Fatal(err)
	}
	expect(told{"applyset-b", "web"})

	// Out of every ApplySet: only the one it left is told (a real watch
	// by label would see a delete); back in one: only that one is.
	update(member("3", 3, named("api"), func(m *metav1.PartialObjectMetadata) { delete(m.Labels, inventory.LabelPartOf) }))
	update(member("4", 4, named("api"), func(m *metav1.PartialObjectMetadata) { m.Labels[inventory.LabelPartOf] = "applyset-c" }))
	expect(told{"applyset-a", "api"}, told{"applyset-c", "api"})
	select {
	case e := <-events:
		t.Errorf("told %v, want nothing more", e)
	default:
	}
}
