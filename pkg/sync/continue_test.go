package sync_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// severable is a transport that, once cut, fails every request as a
// machine that died would: nothing more of that client reaches the API
// server (no renewal of its lock, no clean-up, no record).
type severable struct {
	next http.RoundTripper
	cut  atomic.Bool
}

func (s *severable) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.cut.Load() {
		return nil, errors.New("dial tcp: connect: connection refused (the process is gone)")
	}
	return s.next.RoundTrip(req)
}

// hookUIDs watches the Jobs of ns that are hooks, from now on, and
// collects every UID created, by name prefix (a generateName hook's name
// without its random suffix).
type hookUIDs struct {
	mu   gosync.Mutex
	uids map[string][]types.UID
	stop func()
}

func (f *fixture) watchHooks() *hookUIDs {
	f.t.Helper()
	w, err := f.kube.BatchV1().Jobs(f.ns).Watch(context.Background(), metav1.ListOptions{LabelSelector: gsync.LabelHookOf})
	if err != nil {
		f.t.Fatal(err)
	}
	h := &hookUIDs{uids: map[string][]types.UID{}, stop: w.Stop}
	go func() {
		for e := range w.ResultChan() {
			if e.Type != watch.Added {
				continue
			}
			m, err := meta.Accessor(e.Object)
			if err != nil {
				continue
			}
			base := m.GetName()
			if g := m.GetGenerateName(); g != "" {
				base = g
			}
			h.mu.Lock()
			if !slices.Contains(h.uids[base], m.GetUID()) {
				h.uids[base] = append(h.uids[base], m.GetUID())
			}
			h.mu.Unlock()
		}
	}()
	f.t.Cleanup(w.Stop)
	return h
}

func (h *hookUIDs) count(base string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.uids[base])
}

// A sync that dies (its client cut off: no renewal, no clean-up, no
// record) while a Sync-phase hook runs, after its PreSync hook succeeded,
// is continued by the next sync of the same commit and render: that sync
// waits for the dead one's lock, counts the PreSync hook's success and
// waits for the running hook, creates neither again, and applies their
// delete policies. A later sync of the same commit, after one that
// finished, runs the hooks again (a new sync operation).
func TestInterruptedSyncIsContinued(t *testing.T) {
	f := newFixture(t)
	hold := strings.Replace(jobYAML("name: hold", "argocd.argoproj.io/hook: Sync, argocd.argoproj.io/sync-wave: \"1\", argocd.argoproj.io/hook-delete-policy: HookSucceeded", false),
		"  backoffLimit: 0\n", "  backoffLimit: 0\n  suspend: true\n", 1)
	stream := join(
		jobYAML("generateName: migrate-", "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded", false),
		configMapYAML("web", "0", ""),
		hold,
	)
	objs, err := render.Decode([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	in := gsync.Input{App: f.app, Objects: objs, Repo: "test", Path: ".", Revision: "HEAD", Commit: "abc"}
	uids := f.watchHooks()
	if got, err := gsync.Interrupted(context.Background(), f.client, f.ns, f.app); err != nil || got {
		t.Errorf("Interrupted before any sync: %v (%v), want false", got, err)
	}

	// The first sync, on a client that dies once its Sync hook exists.
	cfg := rest.CopyConfig(lc.Config)
	dying := &severable{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { dying.next = rt; return dying })
	dc, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := f.options()
	first.LockDuration = 3 * time.Second
	holdCreated := make(chan struct{})
	var once gosync.Once
	first.OnEvent = func(e gsync.Event) {
		if e.Type == gsync.EventObjectApplied && e.Object.Name == "hold" && e.Object.Hook != nil && e.Object.Hook.Status == gsync.HookRunning {
			once.Do(func() { dying.cut.Store(true); close(holdCreated) })
		}
	}
	firstDone := make(chan error, 1)
	go func() {
		_, err := gsync.New(dc, first).Run(context.Background(), in)
		firstDone <- err
	}()
	select {
	case <-holdCreated:
	case err := <-firstDone:
		t.Fatalf("the first sync ended before its Sync hook ran: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the first sync never created its Sync hook")
	}
	if _, err := f.kube.BatchV1().Jobs(f.ns).Get(context.Background(), "hold", metav1.GetOptions{}); err != nil {
		t.Fatalf("the Sync hook after the first sync died: %v", err)
	}
	if err := <-firstDone; err == nil {
		t.Fatal("the cut-off sync reports success")
	}
	if got, err := gsync.Interrupted(context.Background(), f.client, f.ns, f.app); err != nil || !got {
		t.Errorf("Interrupted after the sync died: %v (%v), want true: its objects are in sync, its hooks are not done", got, err)
	}

	// The second sync waits for the lock, continues: it creates no hook,
	// and ends once the held hook completes (it is let go once the second
	// sync reports it).
	second := f.options()
	second.WaitForLock = true
	var continued []string
	var mu gosync.Mutex
	second.OnEvent = func(e gsync.Event) {
		if e.Type != gsync.EventObjectApplied || e.Object.Hook == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if e.Object.Hook.Continued {
			continued = append(continued, hookBase(e.Object))
		}
		if e.Object.Name == "hold" {
			patch := []byte(`{"spec":{"suspend":false}}`)
			if _, err := f.kube.BatchV1().Jobs(f.ns).Patch(context.Background(), "hold", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Errorf("let the hook go: %v", err)
			}
		}
	}
	res, err := gsync.New(f.client, second).Run(context.Background(), in)
	if err != nil {
		t.Fatalf("the continuing sync: %v", err)
	}
	hooks := hooksOf(res)
	for _, k := range []string{"PreSync Job/migrate-*", "Sync Job/hold"} {
		h := hooks[k]
		if h.Hook == nil || !h.Hook.Continued || h.Hook.Status != gsync.HookSucceeded || !h.Hook.Deleted || h.Action != gsync.Unchanged {
			t.Errorf("%s in the continuing sync: %+v %+v; want continued, Succeeded, deleted by HookSucceeded, not created", k, h, h.Hook)
		}
	}
	mu.Lock()
	if !slices.Equal(continued, []string{"Job/migrate-*", "Job/hold"}) {
		t.Errorf("hooks continued, in order: %v", continued)
	}
	mu.Unlock()
	if n, h := uids.count("migrate-"), uids.count("hold"); n != 1 || h != 1 {
		t.Errorf("hooks created over both syncs: migrate %d, hold %d; want one each", n, h)
	}
	if jobs := f.jobs(); len(jobs) != 0 {
		t.Errorf("jobs left: %v", jobs)
	}
	if !f.exists("ConfigMap/web") {
		t.Error("the continuing sync did not apply ConfigMap/web")
	}

	if got, err := gsync.Interrupted(context.Background(), f.client, f.ns, f.app); err != nil || got {
		t.Errorf("Interrupted after the continuing sync: %v (%v), want false", got, err)
	}

	// A sync of the same commit after one that finished is a new run.
	third := f.options()
	third.OnEvent = second.OnEvent
	continued = nil
	res, err = gsync.New(f.client, third).Run(context.Background(), in)
	if err != nil {
		t.Fatalf("a sync after the continued one: %v", err)
	}
	for k, h := range hooksOf(res) {
		if h.Hook.Continued || h.Action != gsync.Created {
			t.Errorf("%s after a finished sync: %+v %+v; want created anew", k, h, h.Hook)
		}
	}
	if n, h := uids.count("migrate-"), uids.count("hold"); n != 2 || h != 2 {
		t.Errorf("hooks created over three syncs: migrate %d, hold %d; want two each", n, h)
	}
}

// A hook an interrupted sync of another render left is not continued: the
// next sync takes its finalizer off and creates its own.
func TestLeftoverOfAnotherRenderIsNotContinued(t *testing.T) {
	f := newFixture(t)
	job := func(v string) string {
		return join(jobYAML("name: once", "argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: BeforeHookCreation", false),
			configMapYAML("web", "0", ", v: \""+v+"\""))
	}
	uids := f.watchHooks()
	objs, _ := render.Decode([]byte(job("1")))
	cfg := rest.CopyConfig(lc.Config)
	dying := &severable{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { dying.next = rt; return dying })
	dc, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	first := f.options()
	first.LockDuration = 3 * time.Second
	first.OnEvent = func(e gsync.Event) {
		if e.Type == gsync.EventObjectApplied && e.Object.Name == "once" {
			dying.cut.Store(true)
		}
	}
	if _, err := gsync.New(dc, first).Run(context.Background(), gsync.Input{App: f.app, Objects: objs, Commit: "abc"}); err == nil {
		t.Fatal("the cut-off sync reports success")
	}
	j, err := f.kube.BatchV1().Jobs(f.ns).Get(context.Background(), "once", metav1.GetOptions{})
	if err != nil || !slices.Contains(j.Finalizers, gsync.HookFinalizer) || j.Annotations[gsync.AnnotationHookRun] == "" {
		t.Fatalf("the hook the cut-off sync left: %v (%v)", j, err)
	}
	objs, _ = render.Decode([]byte(job("2")))
	second := f.options()
	second.WaitForLock = true
	res, err := gsync.New(f.client, second).Run(context.Background(), gsync.Input{App: f.app, Objects: objs, Commit: "abc"})
	if err != nil {
		t.Fatalf("the next sync: %v", err)
	}
	if h := hooksOf(res)["PreSync Job/once"]; h.Hook == nil || h.Hook.Continued || h.Action != gsync.Created {
		t.Errorf("the hook in a sync of another render: %+v %+v; want created anew", h, h.Hook)
	}
	if n := uids.count("once"); n != 2 {
		t.Errorf("hook created %d times, want 2 (one per render)", n)
	}
}
