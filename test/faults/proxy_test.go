package faults_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// faultProxy is a reverse proxy in front of the real API server. The
// plugin talks to it over plain HTTP on loopback; it forwards with the
// admin's TLS client credentials. It injects the faults it is given and
// keeps a log of every request, and of those that reached the API server.
type faultProxy struct {
	srv        *httptest.Server
	kubeconfig string

	mu     sync.Mutex
	faults []*fault
	log    []request
}

// request is one request the proxy saw.
type request struct {
	// Verb is GET, LIST, CREATE, PATCH, UPDATE or DELETE, with " (dry-run)"
	// for a dry run.
	Verb string
	// Object is the resource path of the object, without /api or /apis and
	// the version ("configmaps/NS/NAME"; a create names the object of its
	// body, a list only the collection).
	Object string
	// Body is a digest of the request body.
	Body string
	// Fault names the fault injected instead of forwarding, or after it
	// (a lost response); Reached says the API server got the request, and
	// Status is its answer.
	Fault   string
	Reached bool
	Status  int
}

// write says the request changes the cluster.
func (r request) write() bool {
	switch r.Verb {
	case "CREATE", "PATCH", "UPDATE", "DELETE":
		return true
	}
	return false
}

// fault answers matching requests with status instead of the API server.
type fault struct {
	name string
	// match picks the requests; the fault is injected on the first left
	// of them (or on the first perObject of each object).
	match     func(request) bool
	left      int
	perObject int
	status    int
	reason    string
	// retryAfter, when set, is the Retry-After header (seconds).
	retryAfter string
	// lostResponse forwards the request first and then answers with the
	// fault: the server did the work, the client never heard.
	lostResponse bool
	// hang holds the request, never forwarded, until hang is closed (then
	// the fault is the answer) or the client goes away. It is logged when
	// it arrives, so a test can wait for it.
	hang chan struct{}

	hits     int
	byObject map[string]int
}

func (f *fault) take(r request) bool {
	if !f.match(r) {
		return false
	}
	if f.perObject > 0 {
		if f.byObject == nil {
			f.byObject = map[string]int{}
		}
		if f.byObject[r.Object] >= f.perObject {
			return false
		}
		f.byObject[r.Object]++
	} else {
		if f.left <= 0 {
			return false
		}
		f.left--
	}
	f.hits++
	return true
}

func newFaultProxy(t *testing.T, faults ...*fault) *faultProxy {
	t.Helper()
	target, err := url.Parse(lc.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(lc.Config)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{faults: faults}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: rt,
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		r := describe(req, body)
		p.mu.Lock()
		var f *fault
		for _, cand := range p.faults {
			if cand.take(r) {
				f = cand
				break
			}
		}
		p.mu.Unlock()
		if f != nil {
			r.Fault = f.name
		}
		if f != nil && f.hang != nil {
			p.mu.Lock()
			p.log = append(p.log, r)
			p.mu.Unlock()
			select {
			case <-f.hang:
				writeStatus(w, f, r)
			case <-req.Context().Done():
			}
			return
		}
		if f == nil || f.lostResponse {
			rec := &statusRecorder{ResponseWriter: w}
			if f != nil {
				rec.discard = true // the client gets the fault, not this
			}
			rp.ServeHTTP(rec, req)
			r.Reached, r.Status = true, rec.status
		}
		p.mu.Lock()
		p.log = append(p.log, r)
		p.mu.Unlock()
		if f != nil {
			writeStatus(w, f, r)
		}
	}))
	t.Cleanup(p.srv.Close)
	p.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: proxy, cluster: {server: %q}}]
users: [{name: proxy, user: {}}]
contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]
current-context: proxy
`, p.srv.URL)
	if err := os.WriteFile(p.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// statusRecorder passes a response on (unless discard) and keeps its code.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	discard bool
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	if !s.discard {
		s.ResponseWriter.WriteHeader(code)
	}
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if s.discard {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Header() http.Header {
	if s.discard {
		return http.Header{}
	}
	return s.ResponseWriter.Header()
}

func writeStatus(w http.ResponseWriter, f *fault, r request) {
	status := map[string]any{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{}, "status": "Failure",
		"message": fmt.Sprintf("injected by the test proxy (%s) on %s %s", f.name, r.Verb, r.Object),
		"reason":  f.reason, "code": f.status,
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
		var secs int
		fmt.Sscan(f.retryAfter, &secs)
		status["details"] = map[string]any{"retryAfterSeconds": secs}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_ = json.NewEncoder(w).Encode(status)
}

// describe names a request by verb and object.
func describe(req *http.Request, body []byte) request {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	// /api/v1/... or /apis/GROUP/VERSION/...
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return request{Verb: req.Method, Object: req.URL.Path}
	}
	ns := ""
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) > 2 {
		ns, parts = parts[1], parts[2:]
	}
	var resource, name string
	if len(parts) > 0 {
		resource = parts[0]
	}
	if len(parts) > 1 {
		name = strings.Join(parts[1:], "/")
	}
	verb := map[string]string{"POST": "CREATE", "PUT": "UPDATE", "PATCH": "PATCH", "DELETE": "DELETE", "GET": "GET"}[req.Method]
	if req.Method == "GET" && name == "" {
		verb = "LIST"
	}
	if req.Method == "POST" {
		name = createdName(body)
	}
	if req.URL.Query().Get("dryRun") != "" {
		verb += " (dry-run)"
	}
	sum := sha256.Sum256(body)
	object := resource + "/" + ns + "/" + name
	return request{Verb: verb, Object: strings.TrimSuffix(object, "/"), Body: fmt.Sprintf("%x", sum[:8])}
}

// createdName is the name in a create's body: JSON (the dynamic client)
// or protobuf (the typed clients, for the Lease).
func createdName(body []byte) string {
	var obj struct {
		Metadata struct{ Name, GenerateName string }
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		decoded, _, derr := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		if derr != nil {
			return "?"
		}
		m, merr := meta.Accessor(decoded)
		if merr != nil {
			return "?"
		}
		obj.Metadata.Name, obj.Metadata.GenerateName = m.GetName(), m.GetGenerateName()
	}
	if obj.Metadata.Name == "" {
		return obj.Metadata.GenerateName + "*"
	}
	return obj.Metadata.Name
}

// requests returns a copy of the log.
func (p *faultProxy) requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]request(nil), p.log...)
}

// stop ends every fault: later requests all reach the API server.
func (p *faultProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// checkFaultsHit fails t unless every fault was injected as often as
// it was meant to be (at least once).
func (p *faultProxy) checkFaultsHit(t *testing.T, faults ...*fault) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range faults {
		if f.hits == 0 || f.left > 0 {
			t.Errorf("fault %q was injected %d times, %d left: the sync never made the requests it was meant for", f.name, f.hits, f.left)
		}
	}
}

// accepted counts the writes the API server accepted (2xx, not dry-run),
// per object and per object and body.
func accepted(log []request) (perObject map[string]int, perBody map[string]int) {
	perObject, perBody = map[string]int{}, map[string]int{}
	for _, r := range log {
		if !r.write() || !r.Reached || r.Status/100 != 2 {
			continue
		}
		perObject[r.Verb+" "+r.Object]++
		perBody[r.Verb+" "+r.Object+" "+r.Body]++
	}
	return perObject, perBody
}

// checkNoDuplicateWrites asserts what "no duplicate writes" means here:
//
//   - no write the API server accepted is sent again with the same body
//     (the same verb, object and content): a repeat is only ever of a
//     request that the server did not accept or whose answer was lost,
//     and even then the next attempt compares again instead of repeating
//     blindly;
//   - each object of the app (every object but the inventory ConfigMap
//     gitops-APP and the Lease gitops-APP, which each sync rewrites by
//     design) is written at most once per kind of write over all the runs
//     given, whatever was retried in between.
func checkNoDuplicateWrites(t *testing.T, app string, log []request) {
	t.Helper()
	perObject, perBody := accepted(log)
	for key, n := range perBody {
		if n > 1 {
			t.Errorf("accepted %d times with the same body: %s", n, key)
		}
	}
	for key, n := range perObject {
		if strings.Contains(key, "configmaps/") && strings.HasSuffix(key, "/gitops-"+app) || strings.Contains(key, "leases/") {
			continue
		}
		if n > 1 {
			t.Errorf("an object of the app was written %d times: %s", n, key)
		}
	}
	if t.Failed() {
		t.Logf("requests:\n%s", formatLog(log))
	}
}

func formatLog(log []request) string {
	var b strings.Builder
	for _, r := range log {
		fmt.Fprintf(&b, "  %-18s %-60s reached=%-5v status=%d fault=%s\n", r.Verb, r.Object, r.Reached, r.Status, r.Fault)
	}
	return b.String()
}

// writesOf lists the accepted writes of verb to objects under prefix, in
// order.
func writesOf(log []request, verb, prefix string) []string {
	var out []string
	for _, r := range log {
		if r.Verb == verb && strings.HasPrefix(r.Object, prefix) && r.Reached && r.Status/100 == 2 {
			out = append(out, r.Object)
		}
	}
	sort.Strings(out)
	return out
}
