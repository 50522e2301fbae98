package metrics

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The verb label values of argocd_app_k8s_request_total, as Argo CD names
// them.
const (
	verbGet     = "Get"
	verbList    = "List"
	verbWatch   = "Watch"
	verbCreate  = "Create"
	verbUpdate  = "Update"
	verbPatch   = "Patch"
	verbDelete  = "Delete"
	verbUnknown = "Unknown"
)

// apiRequest is what argocd_app_k8s_request_total records of a request.
type apiRequest struct {
	verb      string
	resource  string // plural resource name, such as "deployments"; "" outside resource paths
	namespace string // "" for cluster-scoped resources
	dryRun    bool
}

// parseAPIRequest reads verb, resource and namespace from a Kubernetes API
// request, following the API's path layout:
//
//	/api/{version}[/watch][/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
//	/apis/{group}/{version}[/watch][/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
//
// A GET of a collection is List, or Watch with watch=true (or the legacy
// /watch/ prefix); a GET of one object is Get. The resource of a
// subresource request (pods/web/status) is its parent's (pods), and a
// namespace's own paths (namespaces/{name}, namespaces/{name}/status) are
// cluster-scoped. dryRun=All marks a dry run.
func parseAPIRequest(method, path string, query url.Values) apiRequest {
	var req apiRequest
	for _, v := range query["dryRun"] {
		if v == "All" {
			req.dryRun = true
		}
	}

	parts := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	legacyWatch := len(rest) > 0 && rest[0] == "watch"
	if legacyWatch {
		rest = rest[1:]
	}
	if len(rest) >= 3 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize" {
		req.namespace, rest = rest[1], rest[2:]
	}
	named := len(rest) >= 2
	if len(rest) > 0 {
		req.resource = rest[0]
	}

	switch strings.ToUpper(method) {
	case http.MethodPost:
		req.verb = verbCreate
	case http.MethodPut:
		req.verb = verbUpdate
	case http.MethodPatch:
		req.verb = verbPatch
	case http.MethodDelete:
		req.verb = verbDelete
	case http.MethodGet:
		watch, _ := strconv.ParseBool(query.Get("watch"))
		switch {
		case legacyWatch || (watch && !named && req.resource != ""):
			req.verb = verbWatch
		case named || req.resource == "":
			req.verb = verbGet
		default:
			req.verb = verbList
		}
	default:
		req.verb = verbUnknown
	}
	req.resource = validLabel(req.resource)
	req.namespace = validLabel(req.namespace)
	return req
}

// K8sRequest counts one Kubernetes API request made for a to server: the
// verb (Get, List, Watch, Create, Update, Patch, Delete, or Unknown for
// other methods), the plural resource and its namespace come from method,
// path and query as parseAPIRequest reads them, dry_run is "true" for
// dryRun=All, and code is the response's status code (0 when none came).
func (m *Metrics) K8sRequest(a App, server string, method, path string, query url.Values, code int) {
	req := parseAPIRequest(method, path, query)
	m.k8sRequests.WithLabelValues(a.Namespace, a.Name, a.Project, serverLabel(server),
		strconv.Itoa(code), req.verb, req.resource, req.namespace, boolLabel(req.dryRun)).Inc()
}

// Transport returns rt wrapped so that each request it carries is counted
// by K8sRequest for a, with the request's scheme and host as the server
// label, as Argo CD records it. It suits rest.Config.Wrap:
//
//	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return m.Transport(app, rt) })
func (m *Metrics) Transport(a App, rt http.RoundTripper) http.RoundTripper {
	return &countingTransport{m: m, app: a, next: rt}
}

// countingTransport is the http.RoundTripper of Transport.
type countingTransport struct {
	m    *Metrics
	app  App
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	code := 0
	if resp != nil {
		code = resp.StatusCode
	}
	t.m.K8sRequest(t.app, r.URL.Scheme+"://"+r.URL.Host, r.Method, r.URL.Path, r.URL.Query(), code)
	return resp, err
}
