// Package cluster bundles what the engine needs to talk to one API server: a
// dynamic client, a REST mapper shared by every sync that uses the client, and
// counts of the requests made, per client and per run.
//
//	c, err := cluster.New(restConfig)
//	ctx = cluster.WithRequestCounter(ctx, &counter) // count this run's requests
//	gvr, namespaced, err := c.Resource(obj.GroupVersionKind())
//
// A Client is safe for concurrent use by many syncs (of different apps) at
// once: the agent shares one per cluster.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

// MinRediscoveryInterval is the least time between two rediscoveries caused
// by a kind the mapper does not know: a poll waiting for a CRD to be served,
// or syncs of many apps sharing the client, cost one discovery per interval,
// not one per object or per poll. A kind unknown to a snapshot taken before
// it was asked for is always rediscovered (waiting out the interval), so a
// CRD installed a moment ago is found.
const MinRediscoveryInterval = time.Second

// Client is a connection to one cluster.
type Client struct {
	Dynamic dynamic.Interface
	Kube    kubernetes.Interface
	// Metadata reads objects' metadata only (the agent's watches).
	Metadata metadata.Interface
	// Requests counts every HTTP request made through this client, by
	// every run; WithRequestCounter counts one run's.
	Requests *RequestCounter

	host      string
	discovery discovery.DiscoveryInterface

	// mapper is the current discovery snapshot. A refresh builds a new one
	// and swaps it in; callers holding the old one keep using it.
	mapper    atomic.Pointer[snapshot]
	refreshMu gosync.Mutex
}

type snapshot struct {
	m  meta.RESTMapper
	at time.Time
	// failed are the API groups whose discovery failed (an aggregated API
	// that is down): their kinds are unknown, not absent.
	failed map[string]error
	// err is why the last discovery failed altogether; callers within
	// MinRediscoveryInterval get it without asking again.
	err error
}

// New connects to the cluster of cfg. It copies cfg; the caller's stays as
// it was.
func New(cfg *rest.Config) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.UserAgent == "" {
		cfg.UserAgent = version.UserAgent()
	}
	if cfg.QPS == 0 {
		// API Priority and Fairness protects the server; a low client-side
		// limit only serialises the dry-run of a large app.
		cfg.QPS, cfg.Burst = 300, 600
	}
	counter := &RequestCounter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{next: rt, c: counter} })
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Dynamic: dyn, Kube: kube, Metadata: meta, Requests: counter, host: cfg.Host, discovery: dc}, nil
}

// Ping checks that the API server answers, so that an unreachable cluster
// is one clear error rather than one per object.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.Kube.Discovery().ServerVersion(); err != nil {
		return &UnreachableError{Host: c.host, Err: err}
	}
	return ctx.Err()
}

// UnreachableError says the API server did not answer.
type UnreachableError struct {
	Host string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the cluster at %s: %v", e.Host, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// Resource maps a kind to its resource and scope. A kind the current
// discovery snapshot does not know causes one rediscovery (at most one per
// MinRediscoveryInterval for the whole client) before it is reported as not
// served.
func (c *Client) Resource(gvk schema.GroupVersionKind) (schema.GroupVersionResource, bool, error) {
	m, err := c.Mapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return schema.GroupVersionResource{}, false, &NotServedError{GVK: gvk}
		}
		return schema.GroupVersionResource{}, false, err
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// Mapping is RESTMapping on the shared snapshot, rediscovering as Resource
// does when the kind is unknown. A kind of an API group whose discovery
// failed is a *DiscoveryFailedError, never "not served".
func (c *Client) Mapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	start := time.Now()
	snap, err := c.current()
	if err != nil {
		return nil, err
	}
	m, err := snap.m.RESTMapping(gk, versions...)
	if !meta.IsNoMatchError(err) {
		return m, err
	}
	if snap.at.Before(start) {
		fresh, rerr := c.refresh(snap)
		if rerr != nil {
			return nil, rerr
		}
		snap = fresh
		m, err = snap.m.RESTMapping(gk, versions...)
	}
	if meta.IsNoMatchError(err) {
		if ferr, failed := snap.failed[gk.Group]; failed {
			return nil, &DiscoveryFailedError{Group: gk.Group, Err: ferr}
		}
	}
	return m, err
}

func (c *Client) current() (*snapshot, error) {
	if s := c.mapper.Load(); s != nil && s.m != nil {
		return s, nil
	}
	return c.refresh(c.mapper.Load())
}

// refresh replaces seen with a new discovery snapshot, unless another caller
// already did. A snapshot younger than MinRediscoveryInterval is waited out
// first, so that rediscoveries are at most one per interval for the client
// however many objects or polls ask; a failed discovery is answered from its
// error for the same interval.
func (c *Client) refresh(seen *snapshot) (*snapshot, error) {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	cur := c.mapper.Load()
	if cur != nil && cur != seen {
		return cur.result()
	}
	if cur != nil {
		if wait := MinRediscoveryInterval - time.Since(cur.at); wait > 0 {
			if cur.err != nil {
				return cur.result()
			}
			time.Sleep(wait)
		}
	}
	next := c.discover()
	if next.m == nil && cur != nil && cur.m != nil {
		// Keep answering from the last good snapshot; remember the failure.
		next.m, next.failed = cur.m, cur.failed
	}
	c.mapper.Store(next)
	return next.result()
}

func (s *snapshot) result() (*snapshot, error) {
	if s.m == nil {
		return nil, s.err
	}
	return s, nil
}

// discover reads the server's groups and resources. Groups whose discovery
// failed are recorded, not dropped silently.
func (c *Client) discover() *snapshot {
	now := time.Now()
	groups, lists, err := c.discovery.ServerGroupsAndResources()
	var partial *discovery.ErrGroupDiscoveryFailed
	if err != nil && !errors.As(err, &partial) || groups == nil || lists == nil {
		if err == nil {
			err = errors.New("no API groups")
		}
		return &snapshot{at: now, err: fmt.Errorf("discover the API server's resources at %s: %w", c.host, err)}
	}
	byGV := make(map[string]*metav1.APIResourceList, len(lists))
	for _, l := range lists {
		byGV[l.GroupVersion] = l
	}
	var resources []*restmapper.APIGroupResources
	for _, g := range groups {
		gr := &restmapper.APIGroupResources{Group: *g, VersionedResources: map[string][]metav1.APIResource{}}
		for _, v := range g.Versions {
			if l, ok := byGV[v.GroupVersion]; ok {
				gr.VersionedResources[v.Version] = l.APIResources
			}
		}
		resources = append(resources, gr)
	}
	snap := &snapshot{m: restmapper.NewDiscoveryRESTMapper(resources), at: now, failed: map[string]error{}}
	if partial != nil {
		for gv, gerr := range partial.Groups {
			snap.failed[gv.Group] = gerr
		}
	}
	return snap
}

// DiscoveryFailedError says the kinds of an API group are unknown because
// its discovery failed (an aggregated API server that is down): a transient
// condition, not a missing kind.
type DiscoveryFailedError struct {
	Group string
	Err   error
}

func (e *DiscoveryFailedError) Error() string {
	return fmt.Sprintf("the API server could not list the resources of group %q (%v); its kinds are unknown until it answers", e.Group, e.Err)
}
func (e *DiscoveryFailedError) Unwrap() error { return e.Err }

// NotServedError says the API server does not serve a kind.
type NotServedError struct{ GVK schema.GroupVersionKind }

func (e *NotServedError) Error() string {
	return fmt.Sprintf("the API server does not serve %s (group %q, version %q); install its CustomResourceDefinition or fix apiVersion", e.GVK.Kind, e.GVK.Group, e.GVK.Version)
}

// RequestCounter counts requests by kind of verb. The zero value is ready.
type RequestCounter struct {
	reads, writes, dryRuns atomic.Int64
}

// Counts returns the requests so far: reads (GET, LIST, WATCH), writes that
// change state, and dry-run writes.
func (c *RequestCounter) Counts() (reads, writes, dryRuns int64) {
	return c.reads.Load(), c.writes.Load(), c.dryRuns.Load()
}

func (c *RequestCounter) count(req *http.Request) {
	switch {
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		c.reads.Add(1)
	case req.URL.Query().Get("dryRun") != "":
		c.dryRuns.Add(1)
	default:
		c.writes.Add(1)
	}
}

type counterKey struct{}

// WithRequestCounter returns a context whose requests are also counted in
// rc: one sync's own requests, while other syncs share the client.
// Discovery is shared by every run and counted only in Client.Requests.
func WithRequestCounter(ctx context.Context, rc *RequestCounter) context.Context {
	return context.WithValue(ctx, counterKey{}, rc)
}

// RequestObserver is told of each request of a context once it has an
// answer: the method, the URL (no credentials: those travel in headers)
// and the status code (0 when no response came).
type RequestObserver func(method string, u *url.URL, code int)

type observerKey struct{}

// WithRequestObserver returns a context whose requests are also told to
// obs (an agent's metrics, per app).
func WithRequestObserver(ctx context.Context, obs RequestObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, obs)
}

type countingTransport struct {
	next http.RoundTripper
	c    *RequestCounter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.c.count(req)
	if rc, ok := req.Context().Value(counterKey{}).(*RequestCounter); ok {
		rc.count(req)
	}
	resp, err := t.next.RoundTrip(req)
	if obs, ok := req.Context().Value(observerKey{}).(RequestObserver); ok {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		obs(req.Method, req.URL, code)
	}
	return resp, err
}

// ListableNamespaced are the namespaced resources the server serves that
// can be listed, at their preferred versions, and their kinds. Groups
// whose discovery failed are left out and named in the error, with the
// resources of the others.
func (c *Client) ListableNamespaced() ([]ListableResource, error) {
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	var out []ListableResource
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			out = append(out, ListableResource{GVR: gv.WithResource(r.Name), Kind: r.Kind})
		}
	}
	if err != nil {
		return out, fmt.Errorf("discover the API server's resources at %s: %w", c.host, err)
	}
	return out, nil
}

// ListableResource is a resource and its kind.
type ListableResource struct {
	GVR  schema.GroupVersionResource
	Kind string
}
