package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent/metrics"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/plan"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/redact"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
	psync "github.com/kubectl-gitops/kubectl-gitops/plugins/sync"
)

// An Argo CD Application asks its controller for a manual sync by setting
// .operation (argocd app sync, the UI and kubectl patch do). This file
// reads that request (parseOperation, pure) and runs it as Argo CD's
// application controller does (operate).

// syncRequest is what an Application's .operation asks for: Argo CD's
// Operation and its SyncOperation, as far as the engine can do them.
type syncRequest struct {
	// revision is operation.sync.revision: "" syncs spec.source.targetRevision.
	revision string
	// prune and dryRun are operation.sync's.
	prune, dryRun bool
	// syncOptions are operation.sync.syncOptions; given says the field is
	// there (else the app's syncPolicy.syncOptions apply, as Argo CD's API
	// fills a sync request without them).
	syncOptions  []string
	optionsGiven bool
	// force is syncStrategy.apply.force or syncStrategy.hook.force; apply
	// is the apply strategy (hooks are not run).
	force, apply bool
	// resources, when any, make it a selective sync.
	resources []syncResource
	// username and automated are initiatedBy's.
	username  string
	automated bool
	// retry is operation.retry; nil when absent (the app's
	// syncPolicy.retry then applies, as Argo CD's API fills it).
	retry *retryStrategy
}

// syncResource is one entry of operation.sync.resources.
type syncResource struct {
	group, kind, namespace, name string
}

// selects says r names the object, as Argo CD's SyncOperationResource
// HasIdentity does: group, kind and name equal, and the namespace equal
// unless r gives none.
func (r syncResource) selects(group, kind, namespace, name string) bool {
	return r.group == group && r.kind == kind && r.name == name && (r.namespace == "" || r.namespace == namespace)
}

func (r syncResource) String() string {
	s := r.kind
	if r.group != "" {
		s = r.group + "/" + s
	}
	if r.namespace != "" {
		s += "/" + r.namespace
	}
	return s + "/" + r.name
}

// retryStrategy is Argo CD's RetryStrategy: limit retries (negative:
// unlimited) after a failed attempt, waiting duration, then factor times
// more after each failed retry, at most maxDuration; refresh syncs the
// newest commit of targetRevision on a retry instead of the revision asked
// for.
type retryStrategy struct {
	limit                 int64
	duration, maxDuration time.Duration
	factor                int64
	refresh               bool
}

// Argo CD's defaults (DefaultSyncRetryDuration, DefaultSyncRetryFactor,
// DefaultSyncRetryMaxDuration).
const (
	defaultRetryDuration    = 5 * time.Second
	defaultRetryFactor      = 2
	defaultRetryMaxDuration = 3 * time.Minute
)

// retries says whether a failed attempt is retried after retried retries.
func (r *retryStrategy) retries(retried int) bool {
	return r != nil && (r.limit < 0 || int64(retried) < r.limit)
}

// backoff is the wait before retry n (from 1): duration for the first,
// factor times the previous for each next one, at most maxDuration (none
// when 0), as Argo CD's documentation says (5s, 10s, 20s, ... by default).
func (r *retryStrategy) backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	wait := float64(r.duration) * math.Pow(float64(r.factor), float64(n-1))
	if r.maxDuration > 0 {
		wait = math.Min(wait, float64(r.maxDuration))
	}
	if wait > math.MaxInt64 {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(wait)
}

// specRetry is the app's syncPolicy.retry as a retryStrategy (nil: none).
func specRetry(r *argocd.Retry) *retryStrategy {
	if r == nil {
		return nil
	}
	return &retryStrategy{limit: int64(r.Limit), duration: r.Backoff, factor: int64(r.Factor), maxDuration: r.MaxDuration}
}

// operationFields are the fields of an Argo CD Operation the agent reads,
// by path; a field elsewhere is refused, naming it, so that nothing which
// changes what is synced is silently ignored.
var operationFields = map[string][]string{
	"operation":                         {"sync", "initiatedBy", "info", "retry"},
	"operation.sync":                    {"revision", "prune", "dryRun", "syncStrategy", "resources", "source", "syncOptions", "manifests", "sources", "revisions", "autoHealAttemptsCount"},
	"operation.sync.syncStrategy":       {"apply", "hook"},
	"operation.sync.syncStrategy.apply": {"force"},
	"operation.sync.syncStrategy.hook":  {"force"},
	"operation.sync.resources[]":        {"group", "kind", "name", "namespace"},
	"operation.initiatedBy":             {"username", "automated"},
	"operation.info[]":                  {"name", "value"},
	"operation.retry":                   {"limit", "backoff", "refresh"},
	"operation.retry.backoff":           {"duration", "factor", "maxDuration"},
}

// parseOperation reads an Application's .operation (raw, as stored);
// specSource is the Application's spec.source, which operation.sync.source
// (argocd app sync copies it there) must match. Every problem is reported,
// each naming its field.
func parseOperation(raw any, specSource map[string]any) (*syncRequest, error) {
	p := &opParser{}
	op := p.object("operation", raw)
	if op == nil {
		return nil, p.err()
	}
	req := &syncRequest{}
	if by := p.object("operation.initiatedBy", op["initiatedBy"]); by != nil {
		req.username = p.str("operation.initiatedBy.username", by["username"])
		req.automated = p.boolean("operation.initiatedBy.automated", by["automated"])
	}
	for i, item := range p.list("operation.info", op["info"]) {
		if m := p.object(fmt.Sprintf("operation.info[%d]", i), item); m != nil {
			p.str(fmt.Sprintf("operation.info[%d].name", i), m["name"])
			p.str(fmt.Sprintf("operation.info[%d].value", i), m["value"])
		}
	}
	if r := p.object("operation.retry", op["retry"]); r != nil {
		req.retry = p.retry(r)
	}
	sync := p.object("operation.sync", op["sync"])
	if sync == nil {
		if _, ok := op["sync"]; !ok && len(p.errs) == 0 {
			p.errs = append(p.errs, errors.New("operation.sync is required: the agent runs sync operations only"))
		}
		return nil, p.err()
	}
	req.revision = p.str("operation.sync.revision", sync["revision"])
	req.prune = p.boolean("operation.sync.prune", sync["prune"])
	req.dryRun = p.boolean("operation.sync.dryRun", sync["dryRun"])
	if v, ok := sync["syncOptions"]; ok && v != nil {
		req.optionsGiven = true
		for i, o := range p.list("operation.sync.syncOptions", v) {
			req.syncOptions = append(req.syncOptions, p.str(fmt.Sprintf("operation.sync.syncOptions[%d]", i), o))
		}
		if _, err := (plan.SyncOptions{}).Apply(req.syncOptions...); err != nil {
			p.errs = append(p.errs, fmt.Errorf("operation.sync.syncOptions: %w", err))
		}
	}
	if s := p.object("operation.sync.syncStrategy", sync["syncStrategy"]); s != nil {
		// Argo CD reads apply first (SyncStrategy.Force).
		if h := p.object("operation.sync.syncStrategy.hook", s["hook"]); h != nil {
			req.force = p.boolean("operation.sync.syncStrategy.hook.force", h["force"])
		}
		if a := p.object("operation.sync.syncStrategy.apply", s["apply"]); a != nil {
			req.apply = true
			req.force = p.boolean("operation.sync.syncStrategy.apply.force", a["force"])
		}
	}
	for i, item := range p.list("operation.sync.resources", sync["resources"]) {
		at := fmt.Sprintf("operation.sync.resources[%d]", i)
		m := p.object(at, item)
		if m == nil {
			continue
		}
		r := syncResource{group: p.str(at+".group", m["group"]), kind: p.str(at+".kind", m["kind"]), namespace: p.str(at+".namespace", m["namespace"]), name: p.str(at+".name", m["name"])}
		if r.kind == "" || r.name == "" {
			p.errs = append(p.errs, fmt.Errorf("%s: kind and name are required", at))
			continue
		}
		req.resources = append(req.resources, r)
	}
	if v, ok := sync["autoHealAttemptsCount"]; ok && v != nil {
		p.integer("operation.sync.autoHealAttemptsCount", v) // Argo CD's self-heal count: informational
	}
	if v := sync["manifests"]; !empty(v) {
		p.errs = append(p.errs, errors.New("operation.sync.manifests: a sync of local manifests (argocd app sync --local) is not supported: the agent syncs from Git"))
	}
	if v := sync["sources"]; !empty(v) {
		p.errs = append(p.errs, errors.New("operation.sync.sources: multiple sources are not supported yet; the agent syncs spec.source"))
	}
	if v := sync["revisions"]; !empty(v) {
		p.errs = append(p.errs, errors.New("operation.sync.revisions: revisions of multiple sources are not supported yet; give operation.sync.revision"))
	}
	if v, ok := sync["source"]; ok && v != nil {
		// Compared whole with spec.source, not read field by field.
		if src, ok := v.(map[string]any); !ok {
			p.fail("operation.sync.source: want an object, not %v", v)
		} else if !sameSource(src, specSource) {
			p.errs = append(p.errs, errors.New("operation.sync.source: it differs from spec.source, and a sync of another source (Argo CD's rollback) is not supported; give none (spec.source is synced) or roll back with kubectl gitops rollback"))
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return req, nil
}

// sameSource says an operation's source is the app's spec.source: equal
// once empty values are dropped (Argo CD's API writes the typed source
// back, with empty structs where the spec had nothing) and an empty
// targetRevision read as HEAD.
func sameSource(a, b map[string]any) bool {
	norm := func(m map[string]any) any {
		n := withoutEmpty(m)
		if mm, ok := n.(map[string]any); ok {
			if mm["targetRevision"] == nil {
				mm["targetRevision"] = "HEAD"
			}
			return mm
		}
		return map[string]any{"targetRevision": "HEAD"}
	}
	return equality.Semantic.DeepEqual(norm(a), norm(b))
}

// withoutEmpty is v without empty strings, false, zero numbers, nulls and
// empty lists or maps (recursively); nil when nothing is left.
func withoutEmpty(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			if e = withoutEmpty(e); e != nil {
				out[k] = e
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		var out []any
		for _, e := range t {
			if e = withoutEmpty(e); e != nil {
				out = append(out, e)
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case string:
		if t == "" {
			return nil
		}
	case bool:
		if !t {
			return nil
		}
	case int64:
		if t == 0 {
			return nil
		}
	case float64:
		if t == 0 {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

func empty(v any) bool { return withoutEmpty(v) == nil }

// opParser reads the fields of an operation, collecting its errors.
type opParser struct{ errs []error }

func (p *opParser) err() error { return errors.Join(p.errs...) }

func (p *opParser) fail(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// object reads a map at path (nil when absent), and refuses the keys not in
// operationFields.
func (p *opParser) object(path string, v any) map[string]any {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.fail("%s: want an object, not %v", path, v)
		return nil
	}
	known := operationFields[listPath(path)]
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			p.fail("%s.%s: not a field of an Argo CD operation the agent reads (fields here: %s)", path, k, strings.Join(known, ", "))
		}
	}
	return m
}

// listPath is path with list indexes as [] (operation.info[2] is
// operation.info[]).
func listPath(path string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(path, '[')
		if i < 0 {
			b.WriteString(path)
			return b.String()
		}
		j := strings.IndexByte(path[i:], ']')
		if j < 0 {
			b.WriteString(path)
			return b.String()
		}
		b.WriteString(path[:i] + "[]")
		path = path[i+j+1:]
	}
}

func (p *opParser) list(path string, v any) []any {
	if v == nil {
		return nil
	}
	l, ok := v.([]any)
	if !ok {
		p.fail("%s: want a list, not %v", path, v)
	}
	return l
}

func (p *opParser) str(path string, v any) string {
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		p.fail("%s: want a string, not %v", path, v)
	}
	return s
}

func (p *opParser) boolean(path string, v any) bool {
	if v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		p.fail("%s: want true or false, not %v", path, v)
	}
	return b
}

func (p *opParser) integer(path string, v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case float64:
		if n == math.Trunc(n) {
			return int64(n), true
		}
	}
	p.fail("%s: want a whole number, not %v", path, v)
	return 0, false
}

// retry reads operation.retry, with Argo CD's defaults for what it omits.
func (p *opParser) retry(m map[string]any) *retryStrategy {
	r := &retryStrategy{duration: defaultRetryDuration, factor: defaultRetryFactor, maxDuration: defaultRetryMaxDuration}
	if v := m["limit"]; v != nil {
		r.limit, _ = p.integer("operation.retry.limit", v)
	}
	r.refresh = p.boolean("operation.retry.refresh", m["refresh"])
	b := p.object("operation.retry.backoff", m["backoff"])
	if b == nil {
		return r
	}
	if v := b["duration"]; v != nil {
		r.duration = p.duration("operation.retry.backoff.duration", v)
	}
	if v := b["maxDuration"]; v != nil {
		r.maxDuration = p.duration("operation.retry.backoff.maxDuration", v)
	}
	if v := b["factor"]; v != nil {
		if n, ok := p.integer("operation.retry.backoff.factor", v); ok {
			if n < 1 {
				p.fail("operation.retry.backoff.factor: want a whole number of at least 1, not %d", n)
			}
			r.factor = n
		}
	}
	return r
}

// duration reads a backoff duration as Argo CD does: a number of seconds
// (bare, or a string of digits), or a Go duration such as 2m.
func (p *opParser) duration(path string, v any) time.Duration {
	switch t := v.(type) {
	case int64:
		if t >= 0 {
			return time.Duration(t) * time.Second
		}
	case string:
		if n, err := strconv.Atoi(t); err == nil && n >= 0 {
			return time.Duration(n) * time.Second
		}
		if d, err := time.ParseDuration(t); err == nil && d >= 0 {
			return d
		}
	}
	p.fail("%s: %v is not a duration such as 5s, 2m or a number of seconds", path, v)
	return 0
}

// selection is what a sync operation syncs of the app's objects: those its
// resources name (all when none); hooks are not run when it names
// resources or asks for the apply strategy (Argo CD's skipHooks). An object
// not synced is given the Skip hook (argocd.argoproj.io/hook: Skip), which
// the engine never applies and keeps as a member; a member the render has
// no more gets a stub of its own with that hook, so it is not pruned.
type selection struct {
	resources []syncResource
	skipHooks bool
	// destNamespace is where a namespaced object of the render without a
	// namespace goes.
	destNamespace string
	// live are the app's objects in the cluster at its comparison (members
	// that left Git among them), kept as they are unless selected.
	live []*unstructured.Unstructured
	// kept are the objects apply gave the Skip hook (by objKey).
	kept map[string]bool
}

func newSelection(req *syncRequest, destNamespace string) *selection {
	if len(req.resources) == 0 && !req.apply {
		return nil
	}
	return &selection{resources: req.resources, skipHooks: true, destNamespace: destNamespace, kept: map[string]bool{}}
}

// selects says one of the resources names the object (every object when
// none is named).
func (s *selection) selects(group, kind, namespace, name string) bool {
	if len(s.resources) == 0 {
		return true
	}
	for _, r := range s.resources {
		if r.selects(group, kind, namespace, name) {
			return true
		}
	}
	return false
}

// apply rewrites the objects of a render for the engine (see selection);
// objs are not changed.
func (s *selection) apply(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, 0, len(objs))
	rendered := map[string]bool{}
	for _, o := range objs {
		gk := o.GroupVersionKind().GroupKind()
		ns := o.GetNamespace()
		rendered[objKey(gk.Group, gk.Kind, ns, o.GetName())] = true
		if ns == "" {
			ns = s.destNamespace
			rendered[objKey(gk.Group, gk.Kind, ns, o.GetName())] = true
		}
		hook := plan.IsHook(o) || plan.IsSkipHook(o)
		switch {
		case hook && s.skipHooks && o.GetName() == "":
			// A hook named by the server is never a member: left out.
		case hook && s.skipHooks, !hook && !s.selects(gk.Group, gk.Kind, ns, o.GetName()):
			out = append(out, skipHook(o))
			s.kept[objKey(gk.Group, gk.Kind, o.GetNamespace(), o.GetName())] = true
			s.kept[objKey(gk.Group, gk.Kind, ns, o.GetName())] = true
		default:
			out = append(out, o)
		}
	}
	for _, l := range s.live {
		gk := l.GroupVersionKind().GroupKind()
		if rendered[objKey(gk.Group, gk.Kind, l.GetNamespace(), l.GetName())] || s.selects(gk.Group, gk.Kind, l.GetNamespace(), l.GetName()) {
			continue
		}
		stub := &unstructured.Unstructured{}
		stub.SetAPIVersion(l.GetAPIVersion())
		stub.SetKind(l.GetKind())
		stub.SetNamespace(l.GetNamespace())
		stub.SetName(l.GetName())
		out = append(out, skipHook(stub))
		rendered[objKey(gk.Group, gk.Kind, l.GetNamespace(), l.GetName())] = true
		s.kept[objKey(gk.Group, gk.Kind, l.GetNamespace(), l.GetName())] = true
	}
	return out
}

// skipHook is a copy of o with the Skip hook only.
func skipHook(o *unstructured.Unstructured) *unstructured.Unstructured {
	c := o.DeepCopy()
	ann := c.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[plan.AnnotationHook] = "Skip"
	c.SetAnnotations(ann)
	return c
}

func objKey(group, kind, namespace, name string) string {
	return group + "/" + kind + "/" + namespace + "/" + name
}

// Operation phases, Argo CD's.
const (
	phaseRunning   = "Running"
	phaseSucceeded = "Succeeded"
	phaseFailed    = "Failed"
	phaseError     = "Error"
)

// msgSucceeded is gitops-engine's message of a sync that succeeded.
const msgSucceeded = "successfully synced (all tasks run)"

// operate runs the sync an Application's .operation asks for, as Argo CD's
// application controller does: whatever the automated policy says, at
// operation.sync.revision (targetRevision when empty), with its prune,
// dryRun, syncOptions, syncStrategy and resources; a failed attempt is
// retried as its retry says, in later reconciles; once it ends, .operation
// is cleared and st.op holds the outcome for .status.operationState. What
// the engine cannot do is refused (phase Error), naming the field.
//
// It says whether the operation is still under way (a retry waits, a sync
// window blocks it, it was interrupted): no automated sync runs then; after
// is when to look again.
func (a *runner) operate(ctx context.Context, e *appEntry, st *appState, labels metrics.App, log *slog.Logger) (pending bool, after time.Duration) {
	// Not the informer's copy, which may predate the operation's end here
	// or on another replica: an operation runs once.
	fresh, err := a.current.Dynamic.Resource(applicationGVR).Namespace(e.obj.GetNamespace()).Get(ctx, e.obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, 0
	}
	if err != nil {
		log.Warn("cannot read the Application's operation; tried again", "error", err)
		return true, 5 * time.Second
	}
	raw, found := fresh.Object["operation"]
	if !found || raw == nil {
		a.forgetOperation(e)
		dropEndedOperation(st)
		return false, 0
	}
	// An operation that ended but whose .operation could not be cleared is
	// cleared, never run again.
	if op := st.op; op != nil && op.request != nil && op.phase != phaseRunning && !op.cleared && equality.Semantic.DeepEqual(op.request, raw) {
		a.clearOperation(ctx, e, op, log)
		return false, 0
	}
	op := resumeOperation(st.op, fresh, raw)
	isNew := op == nil
	if isNew {
		op = &operation{phase: phaseRunning, request: runtime.DeepCopyJSONValue(raw), started: time.Now().UTC()}
	}
	st.op = op
	specSource, _, _ := unstructured.NestedMap(fresh.Object, "spec", "source")
	req, err := parseOperation(raw, specSource)
	if err == nil && e.err != nil {
		err = fmt.Errorf("the Application cannot run: %w", e.err)
	}
	if err != nil {
		log.Error("the sync operation is refused", "error", err)
		a.endOperation(ctx, e, op, nil, phaseError, err.Error(), false, log)
		return false, 0
	}
	if isNew {
		rev := req.revision
		if rev == "" {
			rev = e.target.Flags.Source.Revision
		}
		msg := fmt.Sprintf("Initiated %ssync to %s", partial(req, "", "partial "), rev)
		if req.username != "" {
			msg = fmt.Sprintf("%s initiated %ssync to %s", req.username, partial(req, "", "partial "), rev)
		}
		log.Info(msg, "operation", true)
		a.events.normal(ctx, e.obj, "OperationStarted", msg)
	}
	retry := req.retry
	if retry == nil {
		retry = specRetry(e.target.Application.SyncPolicy.Retry)
	}
	if retry == nil {
		retry = &retryStrategy{duration: defaultRetryDuration, factor: defaultRetryFactor, maxDuration: defaultRetryMaxDuration}
	}
	if !op.finished.IsZero() { // a failed attempt waits for its retry
		if wait := time.Until(op.finished.Add(retry.backoff(op.retryCount))); wait > 0 {
			return true, wait
		}
		extra := ""
		if retry.refresh {
			extra = " with latest revisions"
		}
		op.finished, op.result = time.Time{}, nil
		op.message = fmt.Sprintf("Retrying operation%s. Attempt #%d", extra, op.retryCount)
		log.Info(op.message)
	}
	return a.attemptOperation(ctx, e, st, op, req, retry, labels, log)
}

// attemptOperation is one attempt of a sync operation: compared, then
// synced as sync -f syncs (a manual sync: sync windows judge it so).
func (a *runner) attemptOperation(ctx context.Context, e *appEntry, st *appState, op *operation, req *syncRequest, retry *retryStrategy, labels metrics.App, log *slog.Logger) (bool, time.Duration) {
	start := time.Now()
	t := *e.target
	t.Prune, t.Retry = req.prune, nil // retries are the operation's
	// Argo CD guards only automated syncs against emptying an app.
	t.AllowEmpty = true
	opts := e.target.Flags.SyncOptions
	if req.optionsGiven {
		opts = req.syncOptions
	}
	t.Flags.SyncOptions = append([]string{}, opts...)
	if req.force {
		t.Flags.SyncOptions = append(t.Flags.SyncOptions, "Force=true")
	}
	oe := *e
	oe.target = &t
	revision := req.revision
	if retry.refresh && op.retryCount > 0 {
		revision = "" // Argo CD's retry.refresh: the newest commit
	}
	cmp, err := a.compare(ctx, &oe, false)
	if err == nil && !sameRevision(revision, e.target.Application.Source.TargetRevision, cmp.cs.Source.Commit) {
		if e.target.Automated && !req.dryRun {
			msg := fmt.Sprintf("operation.sync.revision %s: automated sync is on and keeps the app at spec.source.targetRevision %s; Argo CD refuses a sync to another revision then (turn automated sync off first)", revision, e.target.Flags.Source.Revision)
			return a.endOperation(ctx, e, op, cmp, phaseError, msg, len(req.resources) > 0, log), 0
		}
		t.Flags.Source.Revision = revision
		cmp, err = a.compare(ctx, &oe, false)
	}
	if err != nil {
		log.Error("sync operation: compare failed", "error", err)
		return a.failAttempt(ctx, e, op, nil, phaseError, err.Error(), retry, len(req.resources) > 0, log)
	}
	a.watch(cmp, e.key)
	commit := cmp.cs.Source.Commit
	op.revision = commit
	sel := newSelection(req, t.Flags.DestNamespace)
	if sel != nil {
		matched := false
		for _, c := range cmp.cs.Changes {
			if c.Action == gsync.ChangeRun {
				continue
			}
			if c.Live != nil {
				sel.live = append(sel.live, c.Live)
			}
			matched = matched || sel.selects(c.Group, c.Kind, c.Namespace, c.Name)
		}
		if len(req.resources) > 0 && !matched {
			var names []string
			for _, r := range req.resources {
				names = append(names, r.String())
			}
			msg := fmt.Sprintf("operation.sync.resources: none of %s is a resource of the app", strings.Join(names, ", "))
			return a.endOperation(ctx, e, op, cmp, phaseError, msg, true, log), 0
		}
	}
	if _, err := t.CheckWindows(cmp.project, true, time.Now()); err != nil {
		// As Argo CD: the operation waits for the window.
		op.message = "Sync operation blocked by sync window: " + err.Error()
		return true, 30 * time.Second
	}
	a.writeStatus(ctx, e, st, cmp, log) // Running

	so := psync.NewOptions(a.o.kubeFlags, genericiooptions.IOStreams{Out: io.Discard, ErrOut: io.Discard})
	so.App, so.Sync = a.sync.App, a.sync.Sync // a manual sync: Automated off
	so.Sync.DryRun = req.dryRun
	if sel != nil {
		so.Select = sel.apply
	}
	// Under the lock: a sync recorded since this attempt began was another
	// replica's (this operation's, by its last holder); the next reconcile
	// reads the operation again.
	name, compared := t.Application.Name, cmp.state.ResourceVersion
	sctx := gsync.WithPrecondition(ctx, func(app string, inv *inventory.State) error {
		if app != name || inv.ResourceVersion == compared {
			return nil
		}
		if n := len(inv.History); n > 0 {
			if r := inv.History[n-1]; !r.Interrupted && r.FinishedAt.After(start) {
				return errSuperseded
			}
		}
		return nil
	})
	var out bytes.Buffer
	res, err := so.SyncTarget(sctx, &t, e.loaded.Mapper, e.loaded.Projects, &out)
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line != "" {
			log.Debug(line)
		}
	}
	switch {
	case errors.Is(err, errSuperseded):
		log.Info("another sync ran while this operation waited for the app's lock; the operation is read again")
		return true, time.Second
	case err != nil && ctx.Err() != nil:
		// The agent stopped it: .operation stays, and whoever holds the
		// app next resumes the operation.
		op.message = "interrupted by the agent (shutting down, or its shard moved); the operation is resumed by the next reconcile"
		return true, 0
	}
	finished := time.Now().UTC()
	if res != nil && res.Result != nil {
		op.result = sel.filter(res.Result)
		if res.Result.Commit != "" {
			commit = res.Result.Commit
			op.revision = commit
		}
		if !req.dryRun {
			phase := gsync.PhaseSucceeded
			if err != nil {
				phase = gsync.PhaseFailed
			}
			// A manual sync of a commit is its attempt: automated sync does
			// not sync it again (its record says so after a restart too).
			st.attempt = &attempt{commit: commit, params: cmp.params, phase: phase, message: res.Result.Message, finished: finished}
			st.selfHeals = 0
		}
	}
	if !req.dryRun {
		a.metrics.SyncDuration(labels, finished.Sub(start))
	}
	if err != nil {
		msg := cmp.redactor().String(err.Error())
		log.Error("sync operation failed", "commit", short(commit), "error", msg)
		if !req.dryRun {
			a.metrics.SyncDone(labels, gsync.PhaseFailed)
		}
		op.finished = finished
		return a.failAttempt(ctx, e, op, cmp, phaseFailed, msg, retry, len(req.resources) > 0, log)
	}
	if !req.dryRun {
		a.metrics.SyncDone(labels, gsync.PhaseSucceeded)
	}
	log.Info("sync operation succeeded", "commit", short(commit), "dryRun", req.dryRun)
	op.finished = finished
	return a.endOperation(ctx, e, op, cmp, phaseSucceeded, msgSucceeded, len(req.resources) > 0, log), 0
}

// failAttempt ends a failed attempt: retried later when the retry strategy
// has retries left (the operation stays Running, with finishedAt, as Argo
// CD's does), else the operation ends with phase.
func (a *runner) failAttempt(ctx context.Context, e *appEntry, op *operation, cmp *comparison, phase, msg string, retry *retryStrategy, partialSync bool, log *slog.Logger) (bool, time.Duration) {
	if op.finished.IsZero() {
		op.finished = time.Now().UTC()
	}
	if retry.retries(op.retryCount) {
		op.retryCount++
		wait := retry.backoff(op.retryCount)
		op.phase = phaseRunning
		op.message = fmt.Sprintf("%s. Retrying attempt #%d at %s.", msg, op.retryCount, op.finished.Add(wait).Format(time.Kitchen))
		log.Info("sync operation failed; retrying", "attempt", op.retryCount, "in", wait.String())
		return true, wait
	}
	return a.endOperation(ctx, e, op, cmp, phase, msg, partialSync, log), 0
}

// endOperation ends the operation with phase and message: .operation is
// cleared (then the reconcile writes the status), OperationCompleted
// recorded. It returns false (nothing pending).
func (a *runner) endOperation(ctx context.Context, e *appEntry, op *operation, cmp *comparison, phase, msg string, partialSync bool, log *slog.Logger) bool {
	if op.finished.IsZero() {
		op.finished = time.Now().UTC()
	}
	if op.retryCount > 0 {
		msg = fmt.Sprintf("%s (retried %d times).", msg, op.retryCount)
	}
	op.phase, op.message = phase, msg
	a.clearOperation(ctx, e, op, log)
	red := redact.NewFromObjects(nil)
	if cmp != nil {
		red = cmp.redactor()
	}
	what := "Sync operation"
	if partialSync {
		what = "Partial sync operation"
	}
	if op.revision != "" {
		what += " to " + op.revision
	}
	if phase == phaseSucceeded {
		a.events.normal(ctx, e.obj, "OperationCompleted", what+" succeeded")
	} else {
		a.events.warning(ctx, e.obj, "OperationCompleted", what+" failed: "+red.String(msg))
	}
	return false
}

// clearOperation sets the Application's .operation to nothing, as Argo
// CD's controller does once an operation ended; only while it is the
// operation that ran (a JSON patch test), so that one asked for meanwhile
// runs next.
func (a *runner) clearOperation(ctx context.Context, e *appEntry, op *operation, log *slog.Logger) {
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/operation", "value": op.request},
		{"op": "remove", "path": "/operation"},
	})
	if err != nil {
		return
	}
	_, err = a.current.Dynamic.Resource(applicationGVR).Namespace(e.obj.GetNamespace()).Patch(ctx, e.obj.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
	switch {
	case err == nil:
		op.cleared = true
		a.forgetOperation(e)
		log.Debug("the operation is cleared")
	case apierrors.IsNotFound(err):
		op.cleared = true
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		// The test failed: another operation was asked for while this one
		// ran; it runs next.
		op.cleared = true
		log.Info("another sync operation was asked for while this one ran; it runs next")
	default:
		log.Warn("cannot clear the Application's operation; tried again at the next reconcile", "error", err)
	}
}

// forgetOperation replaces the shared entry of an Application whose
// .operation is gone with a copy without it, until the informer brings the
// object (clearing it is no reason to reload).
func (a *runner) forgetOperation(e *appEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.apps[e.key]
	if cur == nil || cur.obj == nil || cur.obj.Object["operation"] == nil {
		return
	}
	obj := cur.obj.DeepCopy()
	delete(obj.Object, "operation")
	next := *cur
	next.obj = obj
	a.apps[e.key] = &next
}

// resumeOperation is the operation under way that raw (the Application's
// .operation) continues: this replica's, or the one the Application's
// status shows Running (another replica's, before a restart); nil for a
// new operation.
func resumeOperation(prev *operation, app *unstructured.Unstructured, raw any) *operation {
	if prev != nil && prev.request != nil && prev.phase == phaseRunning && equality.Semantic.DeepEqual(prev.request, raw) {
		return prev
	}
	state, ok, _ := unstructured.NestedMap(app.Object, "status", "operationState")
	if !ok || state["phase"] != phaseRunning || !equality.Semantic.DeepEqual(state["operation"], raw) {
		return nil
	}
	op := &operation{phase: phaseRunning, request: runtime.DeepCopyJSONValue(raw), started: time.Now().UTC()}
	op.message, _ = state["message"].(string)
	if s, ok := state["startedAt"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			op.started = t
		}
	}
	if s, ok := state["finishedAt"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			op.finished = t
		}
	}
	if n, ok := state["retryCount"].(int64); ok {
		op.retryCount = int(n)
	}
	return op
}

// dropEndedOperation forgets an operation this replica ran that is under
// way no more although it did not end it: .operation is gone (another
// replica ended it after a shard moved, or it was withdrawn). Its state
// would otherwise be written over the Application's.
func dropEndedOperation(st *appState) {
	if op := st.op; op != nil && op.request != nil && op.phase == phaseRunning {
		st.op = nil
	}
}

// recoverOperation ends an operation state that an agent left Running
// without .operation: it stopped between the end of the sync and writing
// its outcome. The app's newest sync record since it began says how it
// ended.
func recoverOperation(e *appEntry, st *appState, cmp *comparison) {
	if st.op != nil || e.obj == nil || e.obj.Object["operation"] != nil {
		return
	}
	state, ok, _ := unstructured.NestedMap(e.obj.Object, "status", "operationState")
	if !ok || state["phase"] != phaseRunning {
		return
	}
	op := &operation{request: state["operation"]}
	if s, ok := state["startedAt"].(string); ok {
		op.started, _ = time.Parse(time.RFC3339, s)
	}
	op.revision, _, _ = unstructured.NestedString(state, "operation", "sync", "revision")
	op.phase, op.message, op.finished = phaseError, "the operation ended without an outcome (its agent stopped, or .operation was removed), and no sync record since it began says how it went", time.Now().UTC()
	if n := len(cmp.state.History); n > 0 {
		if r := cmp.state.History[n-1]; !r.StartedAt.Before(op.started.Add(-time.Second)) {
			op.phase, op.message, op.finished, op.revision = r.Phase, r.Message, r.FinishedAt.UTC(), r.Commit
			if op.message == "" && r.Phase == gsync.PhaseSucceeded {
				op.message = msgSucceeded
			}
		}
	}
	op.cleared = true
	st.op = op
}

// sameRevision says an operation's revision is the app's targetRevision:
// none, the same name, or the commit targetRevision is at (its SHA, or an
// abbreviation of at least 7 digits, as argocd app sync resolves it).
func sameRevision(revision, targetRevision, commit string) bool {
	switch {
	case revision == "", revision == targetRevision, revision == "HEAD" && targetRevision == "":
		return true
	case len(revision) >= 7 && strings.HasPrefix(commit, strings.ToLower(revision)):
		return true
	}
	return false
}

func partial(req *syncRequest, whole, part string) string {
	if len(req.resources) > 0 {
		return part
	}
	return whole
}

// filter is res with only the objects the selection synced (all when
// there is no selection): those it kept as they are are not the
// operation's.
func (s *selection) filter(res *gsync.Result) *gsync.Result {
	if s == nil {
		return res
	}
	out := *res
	out.Objects = nil
	for _, o := range res.Objects {
		if o.Hook != nil || !s.selects(o.Group, o.Kind, o.Namespace, o.Name) || s.kept[objKey(o.Group, o.Kind, o.Namespace, o.Name)] {
			continue
		}
		out.Objects = append(out.Objects, o)
	}
	return &out
}
