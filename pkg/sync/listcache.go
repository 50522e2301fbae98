package sync

import (
	"context"
	"errors"
	gosync "sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
)

// ListCache shares LISTs among the apps one process syncs in one run (the
// Applications of an ApplicationSet, the children of an app of apps, all
// in a few namespaces): apps that list a resource in a namespace within
// MaxAge of each other share one request, unless an app of the run wrote
// objects of that resource and namespace in between. A no-op run of many
// apps then lists each resource and namespace once, not once per app.
//
// What is shared is read-only: each app compares copies of its own
// objects. Apps of one run own different objects, so what one app wrote
// never changes another's comparison; the writes drop the lists anyway, so
// that no list older than the last write is handed out. MaxAge bounds how
// old a list an app may compare with (changes made outside the process are
// seen within it). Safe for concurrent use; the zero value is not usable:
// use NewListCache.
type ListCache struct {
	maxAge time.Duration
	mu     gosync.Mutex
	lists  map[listKey]*cachedList
}

type listKey struct {
	c   *cluster.Client
	gvr schema.GroupVersionResource
	ns  string
}

type cachedList struct {
	done  chan struct{}
	items []*unstructured.Unstructured
	err   error
	at    time.Time
}

// NewListCache returns a cache whose lists are handed out for maxAge after
// they were read.
func NewListCache(maxAge time.Duration) *ListCache {
	return &ListCache{maxAge: maxAge, lists: map[listKey]*cachedList{}}
}

// list returns the objects of gvr in ns: a list read less than maxAge ago
// and not dropped since, or a new LIST that concurrent callers share. The
// objects must not be modified.
func (lc *ListCache) list(ctx context.Context, c *cluster.Client, gvr schema.GroupVersionResource, ns string) ([]*unstructured.Unstructured, error) {
	k := listKey{c, gvr, ns}
	lc.mu.Lock()
	e, ok := lc.lists[k]
	if ok {
		select {
		case <-e.done:
			if e.err != nil || time.Since(e.at) > lc.maxAge {
				ok = false
			}
		default: // being read: share it
		}
	}
	if !ok {
		e = &cachedList{done: make(chan struct{})}
		lc.lists[k] = e
		lc.mu.Unlock()
		list, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		e.at, e.err = time.Now(), err
		if err == nil {
			e.items = make([]*unstructured.Unstructured, len(list.Items))
			for i := range list.Items {
				e.items[i] = &list.Items[i]
			}
		}
		close(e.done)
		return e.items, e.err
	}
	lc.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil && (errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded)) && ctx.Err() == nil {
		// The app that read it was stopped; this one was not.
		list, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		items := make([]*unstructured.Unstructured, len(list.Items))
		for i := range list.Items {
			items[i] = &list.Items[i]
		}
		return items, nil
	}
	return e.items, e.err
}

// forget drops the lists of resource keys (an app is about to write, or
// wrote, there).
func (lc *ListCache) forget(c *cluster.Client, keys map[resourceKey]bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for k := range keys {
		delete(lc.lists, listKey{c, k.gvr, k.ns})
	}
}
