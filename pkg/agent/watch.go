package agent

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

// Watcher tells apps that their members changed in the cluster. It runs
// one metadata informer per resource type, for every namespace, selecting
// objects with the ApplySet membership label: however many apps manage
// Deployments, one watch of Deployments serves them all. OnChange gets the
// ApplySet id of the changed member; the caller maps it to its app.
type Watcher struct {
	// OnChange is called for a member that changed (beyond its status) or
	// was deleted, with its ApplySet id. It must be quick.
	OnChange func(applySetID string, gvr schema.GroupVersionResource, namespace, name string)
	// OnError is told of a watch that fails (for a log); the informer keeps
	// trying.
	OnError func(gvr schema.GroupVersionResource, err error)

	client  metadata.Interface
	factory metadatainformer.SharedInformerFactory

	mu      sync.Mutex
	ctx     context.Context
	watched map[schema.GroupVersionResource]cache.SharedIndexInformer
}

// NewWatcher returns a watcher on the cluster of client; Start begins it.
func NewWatcher(client metadata.Interface) *Watcher {
	factory := metadatainformer.NewFilteredSharedInformerFactory(client, 0, metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.LabelSelector = inventory.LabelPartOf
	})
	return &Watcher{client: client, factory: factory, watched: map[schema.GroupVersionResource]cache.SharedIndexInformer{}}
}

// Start lets Watch start informers, which run until ctx ends.
func (w *Watcher) Start(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctx = ctx
	for _, inf := range w.watched {
		go inf.Run(ctx.Done())
	}
}

// Watch makes sure the resource types are watched (once each; a type
// watched already costs nothing). Informers started after Start run at
// once.
func (w *Watcher) Watch(gvrs ...schema.GroupVersionResource) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, gvr := range gvrs {
		if _, ok := w.watched[gvr]; ok {
			continue
		}
		inf := w.factory.ForResource(gvr).Informer()
		// Managed fields are most of an object's metadata: only who
		// wrote last is kept, to tell the agent's own writes.
		_ = inf.SetTransform(func(obj any) (any, error) {
			if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
				m.ManagedFields = keptWriters(m.ManagedFields)
			}
			return obj, nil
		})
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(old, cur any) {
				o, ok1 := old.(*metav1.PartialObjectMetadata)
				n, ok2 := cur.(*metav1.PartialObjectMetadata)
				if ok1 && ok2 && changed(o, n) {
					w.tell(gvr, o)
					if n.Labels[inventory.LabelPartOf] != o.Labels[inventory.LabelPartOf] {
						w.tell(gvr, n)
					}
				}
			},
			DeleteFunc: func(obj any) {
				if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = t.Obj
				}
				if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
					w.tell(gvr, m)
				}
			},
		})
		_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			if w.OnError != nil {
				w.OnError(gvr, err)
			}
		})
		w.watched[gvr] = inf
		if w.ctx != nil {
			go inf.Run(w.ctx.Done())
		}
	}
}

// Watched are the resource types watched, sorted.
func (w *Watcher) Watched() []schema.GroupVersionResource {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]schema.GroupVersionResource, 0, len(w.watched))
	for gvr := range w.watched {
		out = append(out, gvr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// WaitForSync waits until every informer listed its objects, or ctx ends.
func (w *Watcher) WaitForSync(ctx context.Context) error {
	w.mu.Lock()
	infs := make([]cache.InformerSynced, 0, len(w.watched))
	for _, inf := range w.watched {
		infs = append(infs, inf.HasSynced)
	}
	w.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), infs...) {
		return fmt.Errorf("watches not synced: %w", ctx.Err())
	}
	return nil
}

// Objects is how many objects the informers hold.
func (w *Watcher) Objects() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, inf := range w.watched {
		n += len(inf.GetStore().ListKeys())
	}
	return n
}

func (w *Watcher) tell(gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata) {
	id := m.Labels[inventory.LabelPartOf]
	if id == "" || w.OnChange == nil {
		return
	}
	w.OnChange(id, gvr, m.Namespace, m.Name)
}

// lastWriter is the newest entry of managed fields, without its fields.
func lastWriter(fields []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	var last *metav1.ManagedFieldsEntry
	for i := range fields {
		f := &fields[i]
		if last == nil || (f.Time != nil && (last.Time == nil || !f.Time.Before(last.Time))) {
			last = f
		}
	}
	if last == nil {
		return nil
	}
	e := *last
	e.FieldsV1 = nil
	return []metav1.ManagedFieldsEntry{e}
}

// keptWriters are what a watch keeps of managed fields: the newest entry,
// and the engine's own apply entry when it is not that one, both without
// their fields.
func keptWriters(fields []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	out := lastWriter(fields)
	for _, f := range fields {
		if isOwnApply(f) && (len(out) == 0 || !isOwnApply(out[0])) {
			f.FieldsV1 = nil
			out = append(out, f)
		}
	}
	return out
}

func isOwnApply(f metav1.ManagedFieldsEntry) bool {
	return f.Manager == inventory.FieldManager && f.Operation == metav1.ManagedFieldsOperationApply && f.Subresource == ""
}

// ownApplyTime is when the engine's apply entry last changed, nil without
// one.
func ownApplyTime(m *metav1.PartialObjectMetadata) *metav1.Time {
	for _, f := range m.ManagedFields {
		if isOwnApply(f) {
			return f.Time
		}
	}
	return nil
}

// ownWrite says the update is the engine's own server-side apply: its
// field manager wrote last, and its entry is newer than before. A write
// that only removes fields (kubectl label NAME key-, an edit that deletes
// a key) gives the remover no entry, so the engine's stays the newest;
// its time did not move, and the update counts.
func ownWrite(old, cur *metav1.PartialObjectMetadata) bool {
	if len(cur.ManagedFields) == 0 || !isOwnApply(cur.ManagedFields[0]) {
		return false
	}
	now, before := ownApplyTime(cur), ownApplyTime(old)
	return now != nil && (before == nil || now.After(before.Time))
}

// changed says whether an update is one an app must look at: for an object
// with a generation (a spec apart from its status), the generation moved
// or the metadata did; for others any write, since their content is not
// in the metadata. Status updates of workloads, the bulk of all updates,
// are not changes; nor is a resync (same resourceVersion), nor a write of
// the engine's own. A deletion that begins is a change whoever wrote last:
// setting deletionTimestamp leaves managed fields as they were, so an
// object the engine applied last still names the engine.
func changed(old, cur *metav1.PartialObjectMetadata) bool {
	if old.ResourceVersion == cur.ResourceVersion {
		return false
	}
	if cur.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
		return true
	}
	if ownWrite(old, cur) {
		return false
	}
	if cur.Generation == 0 {
		return true
	}
	return old.Generation != cur.Generation || !maps.Equal(old.Labels, cur.Labels) || !maps.Equal(old.Annotations, cur.Annotations)
}

// Debouncer merges calls for a key made within Wait into one call of Fn,
// Wait after the first: a rollout that touches many members of an app
// refreshes it once.
type Debouncer struct {
	Wait time.Duration
	Fn   func(key string)

	mu      sync.Mutex
	waiting map[string]bool
}

// Call asks for Fn(key) within Wait.
func (d *Debouncer) Call(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.waiting == nil {
		d.waiting = map[string]bool{}
	}
	if d.waiting[key] {
		return
	}
	d.waiting[key] = true
	time.AfterFunc(d.Wait, func() {
		d.mu.Lock()
		delete(d.waiting, key)
		d.mu.Unlock()
		d.Fn(key)
	})
}
