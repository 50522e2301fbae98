package agent

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

func TestLeaseName(t *testing.T) {
	for _, tc := range []struct {
		i, n int
		want string
	}{
		{0, 0, "agent"},
		{0, 1, "agent"},
		{0, 2, "agent-shard-0"},
		{2, 3, "agent-shard-2"},
	} {
		if got := LeaseName("agent", tc.i, tc.n); got != tc.want {
			t.Errorf("LeaseName(agent, %d, %d) = %q, want %q", tc.i, tc.n, got, tc.want)
		}
	}
}

func TestShardOf(t *testing.T) {
	// Replicas of different versions must agree: the hash is FNV-1a.
	for _, tc := range []struct {
		key  string
		want [3]int // of 2, 3 and 7 shards
	}{
		{"prod/web", [3]int{1, 2, 1}},
		{"argocd/guestbook", [3]int{1, 2, 2}},
		{"a", [3]int{0, 1, 5}},
	} {
		got := [3]int{ShardOf(tc.key, 2), ShardOf(tc.key, 3), ShardOf(tc.key, 7)}
		if got != tc.want {
			t.Errorf("ShardOf(%q, 2|3|7) = %v, want %v", tc.key, got, tc.want)
		}
	}
	for _, n := range []int{-1, 0, 1} {
		if got := ShardOf("prod/web", n); got != 0 {
			t.Errorf("ShardOf(prod/web, %d) = %d, want 0", n, got)
		}
	}
	for _, n := range []int{2, 3, 7} {
		count := make([]int, n)
		for i := range 1000 {
			key := fmt.Sprintf("ns-%d/app-%d", i%13, i)
			s := ShardOf(key, n)
			if s < 0 || s >= n {
				t.Fatalf("ShardOf(%q, %d) = %d, out of range", key, n, s)
			}
			if again := ShardOf(key, n); again != s {
				t.Fatalf("ShardOf(%q, %d) = %d, then %d", key, n, s, again)
			}
			count[s]++
		}
		for s, c := range count {
			if c < 1000/n/2 {
				t.Errorf("of %d shards, shard %d has %d of 1000 keys: %v", n, s, c, count)
			}
		}
	}
}

func TestElectNeedsIdentity(t *testing.T) {
	err := Elect(t.Context(), nil, ElectOptions{Namespace: "gitops", Name: "agent"})
	if want := "leader election needs an identity (the pod name)"; err == nil || err.Error() != want {
		t.Errorf("Elect without identity: %v, want %q", err, want)
	}
}

// candidate runs Elect for one replica and records what it is told.
type candidate struct {
	t    *testing.T
	id   string
	kube kubernetes.Interface

	cancel context.CancelFunc
	done   chan error

	mu      sync.Mutex
	held    map[int]time.Time // shards held now, since when
	ever    map[int]bool      // shards held at some time
	running int               // OnShard calls not returned
	lost    []int
	leaders map[int]string
	// drained are the shards handed back, with the identity they went to.
	drained []string
}

func elect(t *testing.T, kube kubernetes.Interface, id string, shards, preferred int) *candidate {
	c := &candidate{t: t, id: id, kube: kube, done: make(chan error, 1),
		held: map[int]time.Time{}, ever: map[int]bool{}, leaders: map[int]string{}}
	ctx, cancel := context.WithCancel(t.Context())
	c.cancel = cancel
	o := ElectOptions{
		Namespace: "gitops", Name: "agent", Identity: id, Shards: shards, Preferred: preferred,
		LeaseDuration: time.Second, RenewDeadline: 600 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
		OnShard: func(ctx context.Context, shard int) {
			c.mu.Lock()
			c.held[shard] = time.Now()
			c.ever[shard] = true
			c.running++
			c.mu.Unlock()
			<-ctx.Done()
			c.mu.Lock()
			delete(c.held, shard)
			c.running--
			c.mu.Unlock()
		},
		OnLost: func(shard int) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lost = append(c.lost, shard)
		},
		OnLeader: func(shard int, identity string) {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.leaders[shard] = identity
		},
		Drain: func(shard int, to string) {
			c.mu.Lock()
			defer c.mu.Unlock()
			if _, ok := c.held[shard]; !ok {
				c.t.Errorf("%s: told to drain shard %d, not held", c.id, shard)
			}
			c.drained = append(c.drained, fmt.Sprintf("%d→%s", shard, to))
		},
	}
	go func() { c.done <- Elect(ctx, kube, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Errorf("%s: Elect did not return after its context ended", id)
		}
	})
	return c
}

// holds are the shards held now.
func (c *candidate) holds() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for s := range 8 {
		if _, ok := c.held[s]; ok {
			out = append(out, s)
		}
	}
	return out
}

func (c *candidate) heldSince(shard int) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.held[shard]
	return at, ok
}

// stop ends Elect and waits for it and every OnShard to return, with
// nothing lost.
func (c *candidate) stop() {
	c.t.Helper()
	c.cancel()
	select {
	case err := <-c.done:
		if err != nil {
			c.t.Errorf("%s: Elect: %v", c.id, err)
		}
		c.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		c.t.Fatalf("%s: Elect did not return after its context ended", c.id)
	}
	waitFor(c.t, c.id+"'s OnShard to return", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.running == 0
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.lost) > 0 {
		c.t.Errorf("%s: OnLost(%v) on a stop", c.id, c.lost)
	}
}

// holder is who holds the Lease.
func holder(t *testing.T, kube kubernetes.Interface, name string) string {
	t.Helper()
	l, err := kube.CoordinationV1().Leases("gitops").Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func TestElectOne(t *testing.T) {
	t.Parallel()
	kube := fake.NewClientset()
	a := elect(t, kube, "a", 1, 0)
	waitFor(t, "a to hold the shard", func() bool { return cmp.Equal(a.holds(), []int{0}) })
	if got := holder(t, kube, "agent"); got != "a" {
		t.Errorf("Lease agent held by %q, want a", got)
	}
	a.mu.Lock()
	if diff := cmp.Diff(map[int]string{0: "a"}, a.leaders); diff != "" {
		t.Errorf("OnLeader (-want +got):\n%s", diff)
	}
	a.mu.Unlock()
	a.stop()
	if got := a.holds(); len(got) != 0 {
		t.Errorf("shards held after Elect returned: %v", got)
	}
	if got := holder(t, kube, "agent"); got != "" {
		t.Errorf("Lease agent held by %q after Elect returned, want it released", got)
	}
}

// TestElectNoPreference: with Preferred negative, a replica campaigns for
// every shard at once.
func TestElectNoPreference(t *testing.T) {
	t.Parallel()
	kube := fake.NewClientset()
	start := time.Now()
	a := elect(t, kube, "a", 3, -1)
	waitFor(t, "a to hold every shard", func() bool { return cmp.Equal(a.holds(), []int{0, 1, 2}) })
	for s := range 3 {
		if at, _ := a.heldSince(s); at.Sub(start) >= time.Second {
			t.Errorf("shard %d taken %s after the start, want at once", s, at.Sub(start))
		}
	}
	a.stop()
}

// TestElectShards: two replicas of a full set each hold their preferred
// shard, also once they campaign for the other's as standbys, and one
// that stops hands its shard to the other. Meanwhile, on another cluster,
// a lone replica takes its preferred shard at once and the other one
// LeaseDuration later. (Both run at once: each waits a LeaseDuration.)
func TestElectShards(t *testing.T) {
	t.Parallel()
	kube, other := fake.NewClientset(), fake.NewClientset()
	start := time.Now()
	a := elect(t, kube, "a", 2, 0)
	b := elect(t, kube, "b", 2, 1)
	lone := elect(t, other, "lone", 2, 1)

	waitFor(t, "each to hold its shard", func() bool {
		return cmp.Equal(a.holds(), []int{0}) && cmp.Equal(b.holds(), []int{1})
	})
	waitFor(t, "the lone replica to hold both shards", func() bool { return cmp.Equal(lone.holds(), []int{0, 1}) })
	preferred, _ := lone.heldSince(1)
	standby, _ := lone.heldSince(0)
	if d := standby.Sub(start); d < time.Second {
		t.Errorf("lone replica took shard 0 %s after the start, want a LeaseDuration (1s) at least", d)
	}
	if !preferred.Before(standby) {
		t.Errorf("lone replica took its preferred shard at %s, after the other (%s)", preferred.Sub(start), standby.Sub(start))
	}
	lone.stop()

	// Past a LeaseDuration a and b campaign for each other's shard too.
	time.Sleep(time.Until(start.Add(1300 * time.Millisecond)))
	if got := a.holds(); !cmp.Equal(got, []int{0}) {
		t.Errorf("a holds %v, want [0]", got)
	}
	if got := b.holds(); !cmp.Equal(got, []int{1}) {
		t.Errorf("b holds %v, want [1]", got)
	}
	for s, want := range []string{"a", "b"} {
		if got := holder(t, kube, LeaseName("agent", s, 2)); got != want {
			t.Errorf("Lease of shard %d held by %q, want %q", s, got, want)
		}
	}
	a.mu.Lock()
	b.mu.Lock()
	if a.ever[1] || b.ever[0] {
		t.Errorf("a shard changed hands: a held %v, b held %v", a.ever, b.ever)
	}
	b.mu.Unlock()
	a.mu.Unlock()
	// OnLeader is called on a goroutine of its own.
	leaders := map[int]string{0: "a", 1: "b"}
	for _, c := range []*candidate{a, b} {
		waitFor(t, c.id+" to be told the leaders", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return cmp.Equal(leaders, c.leaders)
		})
	}

	// a stops and releases its Lease: b, a standby for it, takes it over.
	a.stop()
	waitFor(t, "b to take shard 0", func() bool { return cmp.Equal(b.holds(), []int{0, 1}) })
	if got := holder(t, kube, LeaseName("agent", 0, 2)); got != "b" {
		t.Errorf("Lease of shard 0 held by %q, want b", got)
	}
	b.stop()
	for s := range 2 {
		if got := holder(t, kube, LeaseName("agent", s, 2)); got != "" {
			t.Errorf("Lease of shard %d held by %q after both stopped, want it released", s, got)
		}
	}
}

// TestElectHandBack: a replica that comes back gets its preferred shard
// back from the one that took it over while it was gone (drained first,
// and not told it lost it); the other shard stays where it is.
func TestElectHandBack(t *testing.T) {
	t.Parallel()
	kube := fake.NewClientset()
	a := elect(t, kube, "a", 2, 0)
	b := elect(t, kube, "b", 2, 1)
	waitFor(t, "each to hold its shard", func() bool {
		return cmp.Equal(a.holds(), []int{0}) && cmp.Equal(b.holds(), []int{1})
	})
	a.stop()
	waitFor(t, "b to take shard 0", func() bool { return cmp.Equal(b.holds(), []int{0, 1}) })

	back := elect(t, kube, "a-again", 2, 0)
	waitFor(t, "the returning replica to get shard 0 back", func() bool {
		return cmp.Equal(back.holds(), []int{0}) && cmp.Equal(b.holds(), []int{1})
	})
	if got := holder(t, kube, LeaseName("agent", 0, 2)); got != "a-again" {
		t.Errorf("Lease of shard 0 held by %q, want a-again", got)
	}
	b.mu.Lock()
	if want := []string{"0→a-again"}; !cmp.Equal(b.drained, want) {
		t.Errorf("b drained %v, want %v", b.drained, want)
	}
	if len(b.lost) != 0 {
		t.Errorf("b was told it lost shards %v; a hand-back is no loss", b.lost)
	}
	b.mu.Unlock()
	// b campaigns again for shard 0 as a standby, without taking it.
	time.Sleep(1500 * time.Millisecond)
	if got := back.holds(); !cmp.Equal(got, []int{0}) {
		t.Errorf("the returning replica holds %v after b campaigned again, want [0]", got)
	}
	if got := b.holds(); !cmp.Equal(got, []int{1}) {
		t.Errorf("b holds %v, want [1]", got)
	}
}
