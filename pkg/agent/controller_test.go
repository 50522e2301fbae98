package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// call is one reconcile seen by a recorder.
type call struct {
	key        string
	why        []string
	start, end time.Time
}

// recorder is a Reconciler that records its calls and how many run at
// once, in all and per key. hook, when set, runs inside each reconcile
// (n counts the key's reconciles from 0) and gives its outcome.
type recorder struct {
	hook func(ctx context.Context, key string, n int) Outcome

	mu      sync.Mutex
	calls   []call
	perKey  map[string]int
	active  map[string]int
	running int
	// maxPerKey and maxRunning are the most reconciles seen at once of
	// one key and of all keys.
	maxPerKey, maxRunning int
}

func (r *recorder) Reconcile(ctx context.Context, key string, why Reasons) Outcome {
	r.mu.Lock()
	if r.active == nil {
		r.active, r.perKey = map[string]int{}, map[string]int{}
	}
	r.active[key]++
	r.maxPerKey = max(r.maxPerKey, r.active[key])
	r.running++
	r.maxRunning = max(r.maxRunning, r.running)
	n := r.perKey[key]
	r.perKey[key]++
	i := len(r.calls)
	r.calls = append(r.calls, call{key: key, why: why.List(), start: time.Now()})
	r.mu.Unlock()

	var out Outcome
	if r.hook != nil {
		out = r.hook(ctx, key, n)
	}

	r.mu.Lock()
	r.calls[i].end = time.Now()
	r.active[key]--
	r.running--
	r.mu.Unlock()
	return out
}

// of is a copy of the calls of key (all calls when key is empty).
func (r *recorder) of(key string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if key == "" || c.key == key {
			out = append(out, c)
		}
	}
	return out
}

// ended is the number of reconciles of key that returned.
func (r *recorder) ended(key string) int {
	n := 0
	for _, c := range r.of(key) {
		if !c.end.IsZero() {
			n++
		}
	}
	return n
}

func (r *recorder) now() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

func (r *recorder) max() (perKey, running int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxPerKey, r.maxRunning
}

// whys are the reasons of each call.
func whys(calls []call) [][]string {
	out := make([][]string, 0, len(calls))
	for _, c := range calls {
		out = append(out, c.why)
	}
	return out
}

// run runs c until the test ends; reconciles run on the test's context,
// so a hook blocked on ctx returns then.
func run(t *testing.T, c *Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, t.Context())
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// quiet waits d, which should pass without another reconcile.
func quiet(d time.Duration) { time.Sleep(d) }

func TestReasonsList(t *testing.T) {
	rs := Reasons{ReasonRetry: true, ReasonAdded: true, ReasonWebhook: true, ReasonDrift: true}
	if diff := cmp.Diff([]string{"added", "drift", "retry", "webhook"}, rs.List()); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if !rs.Has(ReasonDrift) || rs.Has(ReasonPoll) {
		t.Errorf("Has(drift), Has(poll) = %v, %v; want true, false", rs.Has(ReasonDrift), rs.Has(ReasonPoll))
	}
	if got := (Reasons{}).List(); got == nil || len(got) != 0 {
		t.Errorf("empty List = %#v, want an empty slice", got)
	}
}

func TestJitter(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		if got := jitter(d); got != 0 {
			t.Errorf("jitter(%s) = %s, want 0", d, got)
		}
	}
	const bound = 10 * time.Millisecond
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := jitter(bound)
		if got < 0 || got >= bound {
			t.Fatalf("jitter(%s) = %s, want in [0, %s)", bound, got, bound)
		}
		seen[got] = true
	}
	if len(seen) < 2 {
		t.Errorf("jitter(%s) gave %d distinct values in 1000, want a spread", bound, len(seen))
	}
}

func TestControllerKeys(t *testing.T) {
	c := NewController(&recorder{}, Options{Interval: time.Hour})
	steps := []struct {
		name string
		do   func()
		want []string
	}{
		{"none", func() {}, []string{}},
		{"set, unsorted with a duplicate", func() { c.Set([]string{"c", "a", "b", "a"}) }, []string{"a", "b", "c"}},
		{"set drops and adds", func() { c.Set([]string{"d", "b"}) }, []string{"b", "d"}},
		{"remove", func() { c.Remove("b") }, []string{"d"}},
		{"remove unknown", func() { c.Remove("x") }, []string{"d"}},
		{"refresh unknown", func() { c.Refresh("x", ReasonWebhook) }, []string{"d"}},
		{"set none", func() { c.Set(nil) }, []string{}},
	}
	for _, s := range steps {
		s.do()
		if diff := cmp.Diff(s.want, c.Keys()); diff != "" {
			t.Errorf("%s: Keys (-want +got):\n%s", s.name, diff)
		}
	}
	if n := c.Running(); n != 0 {
		t.Errorf("Running before Run = %d, want 0", n)
	}
}

func TestControllerAdded(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c := NewController(rec, Options{Interval: time.Hour, Concurrency: 2})
	c.Set([]string{"a"})
	run(t, c)
	waitFor(t, "the first reconcile", func() bool { return rec.ended("a") == 1 })
	// Held already: not added again.
	c.Set([]string{"a"})
	quiet(30 * time.Millisecond)
	if diff := cmp.Diff([][]string{{"added"}}, whys(rec.of(""))); diff != "" {
		t.Errorf("reconciles (-want +got):\n%s", diff)
	}
}

func TestControllerRefreshWhileRunning(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	rec := &recorder{hook: func(ctx context.Context, key string, n int) Outcome {
		if n == 0 {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return Outcome{}
	}}
	c := NewController(rec, Options{Interval: time.Hour, Concurrency: 4})
	c.Set([]string{"a"})
	run(t, c)
	<-started
	c.Refresh("a", ReasonDrift)
	c.Refresh("a", ReasonWebhook)
	c.Refresh("a", ReasonDrift)
	c.Refresh("a", ReasonRefresh)
	c.Refresh("b", ReasonDrift) // not held
	// Four workers are free: none may take a while it runs.
	quiet(20 * time.Millisecond)
	if n := len(rec.of("a")); n != 1 {
		t.Fatalf("reconciles of a while one runs = %d, want 1", n)
	}
	close(release)
	waitFor(t, "the merged reconcile", func() bool { return rec.ended("a") == 2 })
	quiet(30 * time.Millisecond)
	calls := rec.of("")
	if diff := cmp.Diff([][]string{{"added"}, {"drift", "refresh", "webhook"}}, whys(calls)); diff != "" {
		t.Fatalf("reconciles (-want +got):\n%s", diff)
	}
	if calls[1].start.Before(calls[0].end) {
		t.Errorf("the merged reconcile started before the first one ended")
	}
	if perKey, _ := rec.max(); perKey != 1 {
		t.Errorf("most reconciles of a key at once = %d, want 1", perKey)
	}
}

// TestControllerOneAtATime refreshes keys from many goroutines while they
// reconcile: a key never runs twice at once, no reconcile runs without a
// reason, and every refresh is seen by a reconcile that starts after it.
func TestControllerOneAtATime(t *testing.T) {
	t.Parallel()
	keys := []string{"a", "b", "c"}
	reasons := []Reason{ReasonDrift, ReasonWebhook, ReasonRefresh}
	rec := &recorder{hook: func(context.Context, string, int) Outcome {
		time.Sleep(100 * time.Microsecond)
		return Outcome{}
	}}
	c := NewController(rec, Options{Interval: time.Hour, Concurrency: 4})
	c.Set(keys)
	run(t, c)

	var mu sync.Mutex
	last := map[string]time.Time{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				k := keys[rand.N(len(keys))]
				mu.Lock()
				last[k] = time.Now()
				mu.Unlock()
				c.Refresh(k, reasons[rand.N(len(reasons))])
				if rand.N(4) == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		})
	}
	wg.Wait()
	for _, k := range keys {
		waitFor(t, "a reconcile of "+k+" after its last refresh", func() bool {
			calls := rec.of(k)
			return len(calls) > 0 && !calls[len(calls)-1].start.Before(last[k]) && !calls[len(calls)-1].end.IsZero()
		})
	}
	for _, cl := range rec.of("") {
		if len(cl.why) == 0 {
			t.Errorf("reconcile of %s without a reason", cl.key)
		}
	}
	perKey, running := rec.max()
	if perKey != 1 {
		t.Errorf("most reconciles of a key at once = %d, want 1", perKey)
	}
	if running > 3 {
		t.Errorf("most reconciles at once = %d, want at most one per key (3)", running)
	}
}

func TestControllerConcurrency(t *testing.T) {
	t.Parallel()
	keys := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct{ concurrency, want int }{{0, 1}, {1, 1}, {3, 3}} {
		t.Run(fmt.Sprint(tc.concurrency), func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			rec := &recorder{hook: func(ctx context.Context, _ string, _ int) Outcome {
				select {
				case <-release:
				case <-ctx.Done():
				}
				return Outcome{}
			}}
			c := NewController(rec, Options{Interval: time.Hour, Concurrency: tc.concurrency})
			c.Set(keys)
			run(t, c)
			waitFor(t, "the workers to fill", func() bool { return rec.now() == tc.want && c.Running() == tc.want })
			quiet(20 * time.Millisecond)
			if n, running := len(rec.of("")), c.Running(); n != tc.want || running != tc.want {
				t.Errorf("with all workers busy: %d reconciles started, Running = %d; want %d", n, running, tc.want)
			}
			close(release)
			waitFor(t, "every key reconciled", func() bool { return rec.ended("") == len(keys) })
			waitFor(t, "Running to drop", func() bool { return c.Running() == 0 })
			if _, running := rec.max(); running != tc.want {
				t.Errorf("most reconciles at once = %d, want %d", running, tc.want)
			}
		})
	}
}

func TestControllerSetRemoves(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	rec := &recorder{}
	c := NewController(rec, Options{Interval: interval, Concurrency: 2})
	c.Set([]string{"a", "b"})
	run(t, c)
	waitFor(t, "polls of a", func() bool { return rec.ended("a") >= 3 })

	c.Set([]string{"b"})
	if diff := cmp.Diff([]string{"b"}, c.Keys()); diff != "" {
		t.Errorf("Keys after Set (-want +got):\n%s", diff)
	}
	// A reconcile of a under way at Set ends as it ends.
	nb := rec.ended("b")
	waitFor(t, "two polls of b", func() bool { return rec.ended("b") >= nb+2 })
	na := len(rec.of("a"))
	c.Refresh("a", ReasonWebhook)
	nb = rec.ended("b")
	waitFor(t, "three more polls of b", func() bool { return rec.ended("b") >= nb+3 })
	if n := len(rec.of("a")); n != na {
		t.Fatalf("a was reconciled %d times after it was removed", n-na)
	}

	// Added again, it is new.
	c.Set([]string{"a", "b"})
	waitFor(t, "a added again", func() bool { return rec.ended("a") == na+1 })
	if got := rec.of("a")[na].why; !cmp.Equal(got, []string{"added"}) {
		t.Errorf("reasons of a added again = %v, want [added]", got)
	}

	c.Remove("b")
	waitFor(t, "a poll of a", func() bool { return rec.ended("a") >= na+2 })
	nb = len(rec.of("b"))
	waitFor(t, "two more polls of a", func() bool { return rec.ended("a") >= na+4 })
	if n := len(rec.of("b")); n != nb {
		t.Errorf("b was reconciled %d times after Remove", n-nb)
	}
	if diff := cmp.Diff([]string{"a"}, c.Keys()); diff != "" {
		t.Errorf("Keys after Remove (-want +got):\n%s", diff)
	}
}

func TestControllerPolls(t *testing.T) {
	t.Parallel()
	const interval, jit = 50 * time.Millisecond, 10 * time.Millisecond
	// Timers do not fire early; how late they fire depends on the load.
	const late = 150 * time.Millisecond
	rec := &recorder{}
	c := NewController(rec, Options{Interval: interval, Jitter: jit, Concurrency: 1})
	c.Set([]string{"a"})
	run(t, c)
	waitFor(t, "three polls", func() bool { return rec.ended("a") >= 4 })
	calls := rec.of("a")[:4]
	if diff := cmp.Diff([][]string{{"added"}, {"poll"}, {"poll"}, {"poll"}}, whys(calls)); diff != "" {
		t.Errorf("reconciles (-want +got):\n%s", diff)
	}
	for i := 1; i < len(calls); i++ {
		gap := calls[i].start.Sub(calls[i-1].end)
		if gap < interval || gap > interval+jit+late {
			t.Errorf("poll %d came %s after the reconcile before, want %s to %s", i, gap, interval, interval+jit)
		}
	}
}

// TestControllerRefreshPostponesPoll: the next poll counts from the last
// reconcile, whatever its reason; the poll timer armed before it is moot.
func TestControllerRefreshPostponesPoll(t *testing.T) {
	t.Parallel()
	const interval = 200 * time.Millisecond
	rec := &recorder{}
	c := NewController(rec, Options{Interval: interval, Concurrency: 1})
	c.Set([]string{"a"})
	run(t, c)
	waitFor(t, "the first reconcile", func() bool { return rec.ended("a") == 1 })
	time.Sleep(interval / 4)
	c.Refresh("a", ReasonWebhook)
	waitFor(t, "the refresh and a poll", func() bool { return rec.ended("a") >= 3 })
	calls := rec.of("a")[:3]
	if diff := cmp.Diff([][]string{{"added"}, {"webhook"}, {"poll"}}, whys(calls)); diff != "" {
		t.Fatalf("reconciles (-want +got):\n%s", diff)
	}
	if gap := calls[2].start.Sub(calls[1].end); gap < interval {
		t.Errorf("poll came %s after the refresh, want at least %s", gap, interval)
	}
}

func TestControllerRetryAfter(t *testing.T) {
	t.Parallel()
	t.Run("shorter than the interval", func(t *testing.T) {
		t.Parallel()
		const after = 30 * time.Millisecond
		rec := &recorder{hook: func(_ context.Context, _ string, n int) Outcome {
			if n == 0 {
				return Outcome{After: after}
			}
			return Outcome{}
		}}
		c := NewController(rec, Options{Interval: time.Hour, Concurrency: 1})
		c.Set([]string{"a"})
		run(t, c)
		waitFor(t, "the retry", func() bool { return rec.ended("a") == 2 })
		quiet(2 * after)
		calls := rec.of("a")
		if diff := cmp.Diff([][]string{{"added"}, {"retry"}}, whys(calls)); diff != "" {
			t.Fatalf("reconciles (-want +got):\n%s", diff)
		}
		if gap := calls[1].start.Sub(calls[0].end); gap < after {
			t.Errorf("retry came %s after the reconcile that asked for it, want at least %s", gap, after)
		}
	})
	t.Run("not shorter than the interval", func(t *testing.T) {
		t.Parallel()
		const interval = 40 * time.Millisecond
		rec := &recorder{hook: func(_ context.Context, _ string, n int) Outcome {
			if n == 0 {
				return Outcome{After: interval * 3 / 2}
			}
			return Outcome{}
		}}
		c := NewController(rec, Options{Interval: interval, Concurrency: 1})
		c.Set([]string{"a"})
		run(t, c)
		waitFor(t, "three polls", func() bool { return rec.ended("a") >= 4 })
		if diff := cmp.Diff([][]string{{"added"}, {"poll"}, {"poll"}, {"poll"}}, whys(rec.of("a")[:4])); diff != "" {
			t.Errorf("reconciles (-want +got):\n%s", diff)
		}
	})
	t.Run("moot after another reconcile", func(t *testing.T) {
		t.Parallel()
		const after = 40 * time.Millisecond
		rec := &recorder{hook: func(_ context.Context, _ string, n int) Outcome {
			if n == 0 {
				return Outcome{After: after}
			}
			return Outcome{}
		}}
		c := NewController(rec, Options{Interval: time.Hour, Concurrency: 1})
		c.Set([]string{"a"})
		run(t, c)
		waitFor(t, "the first reconcile", func() bool { return rec.ended("a") == 1 })
		c.Refresh("a", ReasonDrift)
		waitFor(t, "the refresh", func() bool { return rec.ended("a") == 2 })
		quiet(3 * after)
		if diff := cmp.Diff([][]string{{"added"}, {"drift"}}, whys(rec.of("a"))); diff != "" {
			t.Errorf("reconciles (-want +got):\n%s", diff)
		}
	})
}

func TestControllerRunStops(t *testing.T) {
	t.Parallel()
	t.Run("a reconcile under way finishes on work", func(t *testing.T) {
		t.Parallel()
		started, release := make(chan struct{}), make(chan struct{})
		workErr := make(chan error, 1)
		rec := &recorder{hook: func(ctx context.Context, key string, n int) Outcome {
			if key == "a" && n == 0 {
				close(started)
				<-release
				workErr <- ctx.Err()
				return Outcome{After: time.Millisecond}
			}
			return Outcome{}
		}}
		c := NewController(rec, Options{Interval: 20 * time.Millisecond, Concurrency: 1})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		c.Set([]string{"a"})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Run(ctx, t.Context())
		}()
		<-started
		c.Set([]string{"a", "b"}) // b waits for the one worker
		cancel()
		c.Refresh("a", ReasonWebhook)
		select {
		case <-done:
			t.Fatal("Run returned while a reconcile was under way")
		case <-time.After(20 * time.Millisecond):
		}
		if n := c.Running(); n != 1 {
			t.Errorf("Running while a reconcile is under way = %d, want 1", n)
		}
		close(release)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after the reconcile under way")
		}
		if err := <-workErr; err != nil {
			t.Errorf("work ended with ctx: %v", err)
		}
		if n := c.Running(); n != 0 {
			t.Errorf("Running after Run = %d, want 0", n)
		}
		// Neither b, nor a's refresh, retry or poll.
		quiet(60 * time.Millisecond)
		c.Refresh("a", ReasonWebhook)
		if diff := cmp.Diff([][]string{{"added"}}, whys(rec.of(""))); diff != "" {
			t.Errorf("reconciles (-want +got):\n%s", diff)
		}
	})
	t.Run("ending work ends it", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		workErr := make(chan error, 1)
		rec := &recorder{hook: func(ctx context.Context, _ string, _ int) Outcome {
			close(started)
			<-ctx.Done()
			workErr <- ctx.Err()
			return Outcome{}
		}}
		c := NewController(rec, Options{Interval: time.Hour, Concurrency: 1})
		ctx, cancel := context.WithCancel(t.Context())
		work, cancelWork := context.WithCancel(t.Context())
		defer cancelWork()
		c.Set([]string{"a"})
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Run(ctx, work)
		}()
		<-started
		cancel()
		cancelWork()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after work ended")
		}
		if err := <-workErr; err != context.Canceled {
			t.Errorf("reconcile saw %v, want %v", err, context.Canceled)
		}
	})
}

// TestControllerBusy: Busy sees the keys under way, and only while they are.
func TestControllerBusy(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rec := &recorder{hook: func(ctx context.Context, key string, _ int) Outcome {
		if key == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return Outcome{}
	}}
	c := NewController(rec, Options{Interval: time.Hour, Concurrency: 2})
	c.Set([]string{"slow", "fast"})
	run(t, c)
	waitFor(t, "fast to end", func() bool { return rec.ended("fast") == 1 })
	waitFor(t, "slow to start", func() bool { return len(rec.of("slow")) == 1 })
	if !c.Busy(func(k string) bool { return k == "slow" }) {
		t.Errorf("Busy(slow) = false while it runs")
	}
	if c.Busy(func(k string) bool { return k == "fast" }) {
		t.Errorf("Busy(fast) = true after it ended")
	}
	close(release)
	waitFor(t, "slow to end", func() bool { return !c.Busy(func(k string) bool { return k == "slow" }) })
}
