// Package cluster bundles what the engine needs to talk to one API server: a
// dynamic client, a REST mapper that rediscovers when it meets a kind it does
// not know (a CRD applied a moment ago), and a count of the requests made.
//
//	c, err := cluster.New(restConfig)
//	gvr, namespaced, err := c.Resource(obj.GroupVersionKind())
package cluster

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/version"
)

// Client is a connection to one cluster.
type Client struct {
	Dynamic dynamic.Interface
	Kube    kubernetes.Interface
	Mapper  meta.ResettableRESTMapper
	// Requests counts every HTTP request made through this client.
	Requests *RequestCounter

	host string
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
	cached := memory.NewMemCacheClient(dc)
	return &Client{
		Dynamic:  dyn,
		Kube:     kube,
		Mapper:   restmapper.NewDeferredDiscoveryRESTMapper(cached),
		Requests: counter,
		host:     cfg.Host,
	}, nil
}

// Ping checks that the API server answers, so that an unreachable cluster
// is one clear error rather than one per object.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.Kube.Discovery().ServerVersion(); err != nil {
		return fmt.Errorf("cannot reach the cluster at %s: %w; check --kubeconfig and --context", c.host, err)
	}
	return ctx.Err()
}

// Resource maps a kind to its resource and scope. A kind the cached
// discovery does not know triggers one rediscovery before it is reported as
// not served.
func (c *Client) Resource(gvk schema.GroupVersionKind) (schema.GroupVersionResource, bool, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.Mapper.Reset()
		m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return schema.GroupVersionResource{}, false, &NotServedError{GVK: gvk}
		}
		return schema.GroupVersionResource{}, false, err
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// NotServedError says the API server does not serve a kind.
type NotServedError struct{ GVK schema.GroupVersionKind }

func (e *NotServedError) Error() string {
	return fmt.Sprintf("the API server does not serve %s (group %q, version %q); install its CustomResourceDefinition or fix apiVersion", e.GVK.Kind, e.GVK.Group, e.GVK.Version)
}

// RequestCounter counts requests by kind of verb.
type RequestCounter struct {
	reads, writes, dryRuns atomic.Int64
}

// Counts returns the requests so far: reads (GET, LIST, WATCH), writes that
// change state, and dry-run writes.
func (c *RequestCounter) Counts() (reads, writes, dryRuns int64) {
	return c.reads.Load(), c.writes.Load(), c.dryRuns.Load()
}

type countingTransport struct {
	next http.RoundTripper
	c    *RequestCounter
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	switch {
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		t.c.reads.Add(1)
	case req.URL.Query().Get("dryRun") != "":
		t.c.dryRuns.Add(1)
	default:
		t.c.writes.Add(1)
	}
	return t.next.RoundTrip(req)
}
