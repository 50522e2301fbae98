package agent

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// Reason says why an app is reconciled.
type Reason string

// Reasons, in the order Reasons lists them when several are merged.
const (
	// ReasonAdded: the app is new to the controller (or its shard is).
	ReasonAdded Reason = "added"
	// ReasonPoll: the reconcile interval passed.
	ReasonPoll Reason = "poll"
	// ReasonWebhook: a push to the app's repository and revision.
	ReasonWebhook Reason = "webhook"
	// ReasonDrift: a member of the app changed or went away in the cluster.
	ReasonDrift Reason = "drift"
	// ReasonRefresh: the app asked for it (its refresh annotation, a change
	// of its definition).
	ReasonRefresh Reason = "refresh"
	// ReasonRetry: the reconciler asked to run again (a backoff ended).
	ReasonRetry Reason = "retry"
)

// Reasons are the reasons merged into one reconcile.
type Reasons map[Reason]bool

// Has says whether r is among them.
func (rs Reasons) Has(r Reason) bool { return rs[r] }

// List is the reasons, sorted.
func (rs Reasons) List() []string {
	out := make([]string, 0, len(rs))
	for r := range rs {
		out = append(out, string(r))
	}
	sort.Strings(out)
	return out
}

// Reconciler does one app's work: compare, and sync when its policy says
// so. It must return when ctx ends.
type Reconciler interface {
	Reconcile(ctx context.Context, key string, why Reasons) Outcome
}

// ReconcilerFunc is a Reconciler.
type ReconcilerFunc func(ctx context.Context, key string, why Reasons) Outcome

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, key string, why Reasons) Outcome {
	return f(ctx, key, why)
}

// Outcome is what a reconcile asks of the controller.
type Outcome struct {
	// After, when positive, reconciles the app again that soon (a retry or
	// a self-heal backoff), besides the next poll.
	After time.Duration
}

// Options configure a Controller.
type Options struct {
	// Interval is the time between two polls of an app; Jitter, at most
	// added to each wait, spreads apps out.
	Interval, Jitter time.Duration
	// Concurrency bounds the apps reconciled at once (at least 1).
	Concurrency int
}

// Controller reconciles a set of apps (see the package doc). Its methods
// are safe for concurrent use.
type Controller struct {
	r    Reconciler
	opts Options
	q    workqueue.TypedInterface[string]

	mu sync.Mutex
	// apps are the keys held, each with its poll generation: a poll timer
	// of an older generation (the app was reconciled since, or removed and
	// added again) does nothing.
	apps map[string]uint64
	// pending are the reasons queued for each key, taken when it runs.
	pending map[string]Reasons
	timers  map[string]*time.Timer
	gen     uint64
	running int
	// busy are the keys being reconciled.
	busy map[string]bool
}

// NewController returns a controller of no apps; Run starts it.
func NewController(r Reconciler, opts Options) *Controller {
	if opts.Concurrency < 1 {
		opts.Concurrency = 1
	}
	c := &Controller{r: r, opts: opts, q: workqueue.NewTyped[string](),
		apps: map[string]uint64{}, pending: map[string]Reasons{}, timers: map[string]*time.Timer{}, busy: map[string]bool{}}
	return c
}

// Set makes keys the apps held: new ones are reconciled at once, those
// missing are removed (a reconcile under way ends as it ends).
func (c *Controller) Set(keys []string) {
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	c.mu.Lock()
	var added []string
	for k := range want {
		if _, ok := c.apps[k]; !ok {
			c.gen++
			c.apps[k] = c.gen
			added = append(added, k)
		}
	}
	for k := range c.apps {
		if !want[k] {
			c.removeLocked(k)
		}
	}
	c.mu.Unlock()
	for _, k := range added {
		c.Refresh(k, ReasonAdded)
	}
}

// Remove stops reconciling key.
func (c *Controller) Remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(key)
}

func (c *Controller) removeLocked(key string) {
	delete(c.apps, key)
	delete(c.pending, key)
	if t := c.timers[key]; t != nil {
		t.Stop()
		delete(c.timers, key)
	}
}

// Keys are the apps held, sorted.
func (c *Controller) Keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.apps))
	for k := range c.apps {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Refresh reconciles key as soon as a worker is free (after the reconcile
// under way, if one is). A key not held is ignored.
func (c *Controller) Refresh(key string, why Reason) {
	c.mu.Lock()
	if _, ok := c.apps[key]; !ok {
		c.mu.Unlock()
		return
	}
	if c.pending[key] == nil {
		c.pending[key] = Reasons{}
	}
	c.pending[key][why] = true
	c.mu.Unlock()
	c.q.Add(key)
}

// Run takes work until ctx ends, then waits for the reconciles under way
// and returns. Reconciles run on work, which may outlive ctx: a graceful
// stop lets them finish (and ends work when they may not).
func (c *Controller) Run(ctx, work context.Context) {
	var wg sync.WaitGroup
	for range c.opts.Concurrency {
		wg.Go(func() {
			for c.work(ctx, work) {
			}
		})
	}
	<-ctx.Done()
	c.q.ShutDown()
	wg.Wait()
	c.mu.Lock()
	for k, t := range c.timers {
		t.Stop()
		delete(c.timers, k)
	}
	c.mu.Unlock()
}

// Running is the number of reconciles under way.
func (c *Controller) Running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// Busy says whether a reconcile of a key that match accepts is under way.
func (c *Controller) Busy(match func(key string) bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.busy {
		if match(k) {
			return true
		}
	}
	return false
}

func (c *Controller) work(ctx, work context.Context) bool {
	key, quit := c.q.Get()
	if quit {
		return false
	}
	defer c.q.Done(key)
	c.mu.Lock()
	gen, held := c.apps[key]
	why := c.pending[key]
	delete(c.pending, key)
	if !held || ctx.Err() != nil || len(why) == 0 {
		c.mu.Unlock()
		return true
	}
	c.running++
	c.busy[key] = true
	c.mu.Unlock()

	out := c.r.Reconcile(work, key, why)

	c.mu.Lock()
	defer c.mu.Unlock()
	c.running--
	delete(c.busy, key)
	if cur, ok := c.apps[key]; !ok || cur != gen || ctx.Err() != nil {
		return true
	}
	// The next poll counts from this reconcile.
	c.gen++
	c.apps[key] = c.gen
	c.scheduleLocked(key, c.gen, c.opts.Interval+jitter(c.opts.Jitter), ReasonPoll)
	if out.After > 0 && out.After < c.opts.Interval {
		c.scheduleExtraLocked(key, out.After)
	}
	return true
}

// scheduleLocked arms the app's poll timer: it fires only while the app's
// generation is still gen.
func (c *Controller) scheduleLocked(key string, gen uint64, after time.Duration, why Reason) {
	if t := c.timers[key]; t != nil {
		t.Stop()
	}
	c.timers[key] = time.AfterFunc(after, func() {
		c.mu.Lock()
		cur, ok := c.apps[key]
		c.mu.Unlock()
		if ok && cur == gen {
			c.Refresh(key, why)
		}
	})
}

// scheduleExtraLocked reconciles the app once more after d, beside its
// poll; a reconcile in between makes it moot.
func (c *Controller) scheduleExtraLocked(key string, d time.Duration) {
	gen := c.apps[key]
	time.AfterFunc(d, func() {
		c.mu.Lock()
		cur, ok := c.apps[key]
		c.mu.Unlock()
		if ok && cur == gen {
			c.Refresh(key, ReasonRetry)
		}
	})
}

func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}
