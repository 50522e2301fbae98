package app

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// RenderCache keeps renders by what decides them: the commit, the path in
// it, and every render input (directory and kustomize settings, whether
// functions may run, the age keys). A render of a commit seen before
// returns the objects rendered then, without writing the commit's files
// or running kustomize: an agent polling an unchanged repository renders
// nothing. Local directories (Source.Local) are never cached. At most Max
// renders are kept, the least recently used dropped first. Safe for
// concurrent use; the objects handed out are copies.
type RenderCache struct {
	// OnLookup, when set, is told of every lookup: hit or miss.
	OnLookup func(hit bool)

	mu    sync.Mutex
	max   int
	order *list.List // of *cacheEntry, most recent first
	m     map[string]*list.Element
}

type cacheEntry struct {
	key string
	r   *Rendered
}

// NewRenderCache returns a cache of at most max renders (at least 1).
func NewRenderCache(max int) *RenderCache {
	if max < 1 {
		max = 1
	}
	return &RenderCache{max: max, order: list.New(), m: map[string]*list.Element{}}
}

// Len is the number of renders kept.
func (c *RenderCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// cacheKey identifies a render: the commit, the directory rendered (the
// checkout's subdirectory and the path) and the inputs that change what it
// renders. The keys enter as a fingerprint, never as themselves.
func cacheKey(commit, subdir, path string, src Source, opts Options) string {
	k := struct {
		Commit, Subdir, Path string
		Directory, Kustomize any
		Exec, Container      bool
		Keys, Self           string
		OwnFunctions         map[string]bool
	}{commit, subdir, path, src.Directory, src.Kustomize, src.EnableExec, src.EnableContainerFunctions, src.Keys.Fingerprint(), opts.Self, opts.OwnFunctions}
	b, _ := json.Marshal(k) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// lookup is get, or for a refresh nothing (and no lookup counted).
func (c *RenderCache) lookup(key string, refresh bool) (*Rendered, bool) {
	if refresh {
		return nil, false
	}
	return c.get(key)
}

func (c *RenderCache) get(key string) (*Rendered, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	if ok {
		c.order.MoveToFront(e)
	}
	c.mu.Unlock()
	if c.OnLookup != nil {
		c.OnLookup(ok)
	}
	if !ok {
		return nil, false
	}
	return copyRendered(e.Value.(*cacheEntry).r), true
}

func (c *RenderCache) put(key string, r *Rendered) {
	r = copyRendered(r)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[key]; ok {
		e.Value.(*cacheEntry).r = r
		c.order.MoveToFront(e)
		return
	}
	c.m[key] = c.order.PushFront(&cacheEntry{key: key, r: r})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.m, last.Value.(*cacheEntry).key)
	}
}

// copyRendered copies what a caller may change: the objects and the lists.
func copyRendered(r *Rendered) *Rendered {
	out := *r
	out.Objects = make([]*unstructured.Unstructured, len(r.Objects))
	for i, o := range r.Objects {
		out.Objects[i] = o.DeepCopy()
	}
	out.Encrypted = append([]EncryptedFile(nil), r.Encrypted...)
	out.Decrypted = append([]string(nil), r.Decrypted...)
	out.Warnings = append([]string(nil), r.Warnings...)
	return &out
}
