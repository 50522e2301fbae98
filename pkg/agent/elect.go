package agent

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// ElectOptions configure Elect.
type ElectOptions struct {
	// Namespace and Name name the Lease; with Shards above 1, shard i is
	// held through the Lease Name-shard-i.
	Namespace, Name string
	// Identity names this replica in the Leases (its pod name).
	Identity string
	// Shards is how many shards the apps are spread over (at least 1);
	// Preferred is the shard this replica campaigns for at once: it
	// campaigns for the others one LeaseDuration later, as a standby, so
	// that each replica of a full set holds its own shard and takes over
	// a dead one's. A negative Preferred campaigns for all at once.
	Shards, Preferred int
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// (defaults 15 s, 10 s, 2 s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// OnShard runs while this replica holds shard i; its ctx ends when the
	// shard is lost or Elect's ctx ends. It must return soon after.
	OnShard func(ctx context.Context, shard int)
	// OnLost is told that a shard held was lost (another replica holds it
	// now, or it could not be renewed): the caller should stop everything
	// of that shard, and a process usually exits.
	OnLost func(shard int)
	// OnLeader is told who holds each shard when that changes.
	OnLeader func(shard int, identity string)
	// Drain is called before this replica hands a shard back to the
	// replica that prefers it (to: its identity): it must stop starting
	// the shard's work and return once the work under way is done. The
	// Lease is released when it returns.
	Drain func(shard int, to string)
}

// ClaimName is the Lease through which the replica preferring shard i of
// n asks whoever holds it for it back.
func ClaimName(name string, i, n int) string { return LeaseName(name, i, n) + "-claim" }

// LeaseName is the Lease of shard i of n.
func LeaseName(name string, i, n int) string {
	if n <= 1 {
		return name
	}
	return fmt.Sprintf("%s-shard-%d", name, i)
}

// ShardOf is the shard of n that key belongs to: a stable hash, so every
// replica agrees without talking.
func ShardOf(key string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// Elect campaigns for every shard's Lease until ctx ends, then releases
// those held and returns.
func Elect(ctx context.Context, kube kubernetes.Interface, o ElectOptions) error {
	if o.Shards < 1 {
		o.Shards = 1
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = 15 * time.Second
	}
	if o.RenewDeadline == 0 {
		o.RenewDeadline = 10 * time.Second
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = 2 * time.Second
	}
	if o.Identity == "" {
		return fmt.Errorf("leader election needs an identity (the pod name)")
	}
	e := &elector{o: o, kube: kube, held: make([]bool, o.Shards), handback: make([]chan string, o.Shards)}
	var electors []*leaderelection.LeaderElector
	for i := range o.Shards {
		lock := &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: o.Namespace, Name: LeaseName(o.Name, i, o.Shards)},
			Client:     kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
		}
		e.handback[i] = make(chan string, 1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, Name: lock.LeaseMeta.Name,
			LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					e.setHeld(i, true)
					defer e.setHeld(i, false)
					if e.foreign(i) {
						go e.watchClaim(ctx, i)
					}
					if o.OnShard != nil {
						o.OnShard(ctx, i)
					}
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil && o.OnLost != nil && !e.handingBack(i) {
						o.OnLost(i)
					}
				},
				OnNewLeader: func(identity string) {
					if o.OnLeader != nil {
						o.OnLeader(i, identity)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election on Lease %s/%s: %w", o.Namespace, lock.LeaseMeta.Name, err)
		}
		electors = append(electors, le)
	}
	var wg sync.WaitGroup
	if o.Shards > 1 && o.Preferred >= 0 && o.Preferred < o.Shards {
		wg.Go(func() { e.claim(ctx, o.Preferred) })
	}
	for i, le := range electors {
		wg.Go(func() {
			standby := func() bool {
				select {
				case <-time.After(o.LeaseDuration):
					return true
				case <-ctx.Done():
					return false
				}
			}
			if e.foreign(i) && !standby() {
				return
			}
			// Run returns when the lease is lost, handed back or ctx ends;
			// the replica then campaigns again (for a shard handed back, as
			// a standby).
			for ctx.Err() == nil {
				select { // a hand-back asked of an earlier term
				case <-e.handback[i]:
				default:
				}
				run, stop := context.WithCancel(ctx)
				go func() {
					select {
					case to := <-e.handback[i]:
						if o.Drain != nil {
							o.Drain(i, to)
						}
						stop()
					case <-run.Done():
					}
				}()
				le.Run(run)
				stop()
				if e.takeHandingBack(i) && !standby() {
					return
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// elector is the state Elect shares between its shards.
type elector struct {
	o    ElectOptions
	kube kubernetes.Interface

	mu       sync.Mutex
	held     []bool
	back     map[int]bool
	handback []chan string
}

// foreign says shard i is not this replica's preferred one, while some
// replica may prefer it: held only until that one asks for it back.
func (e *elector) foreign(i int) bool {
	return e.o.Shards > 1 && e.o.Preferred >= 0 && i != e.o.Preferred
}

func (e *elector) setHeld(i int, held bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.held[i] = held
}

func (e *elector) isHeld(i int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.held[i]
}

func (e *elector) handingBack(i int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.back[i]
}

func (e *elector) takeHandingBack(i int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.back[i]
	delete(e.back, i)
	return b
}

// claim asks for the preferred shard back while another replica holds it:
// it keeps the shard's claim Lease, which the holder reads.
func (e *elector) claim(ctx context.Context, i int) {
	leases := e.kube.CoordinationV1().Leases(e.o.Namespace)
	name := ClaimName(e.o.Name, i, e.o.Shards)
	every := e.o.LeaseDuration / 3
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if e.isHeld(i) {
			continue
		}
		l, err := leases.Get(ctx, LeaseName(e.o.Name, i, e.o.Shards), metav1.GetOptions{})
		if err != nil || !valid(l, time.Now()) || leaseHolder(l) == e.o.Identity {
			continue // nobody holds it: the election takes it
		}
		now := metav1.NewMicroTime(time.Now())
		secs := int32(e.o.LeaseDuration / time.Second)
		if secs < 1 {
			secs = 1
		}
		c, err := leases.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.o.Namespace}}
			c.Spec = coordinationv1.LeaseSpec{HolderIdentity: &e.o.Identity, RenewTime: &now, LeaseDurationSeconds: &secs}
			_, _ = leases.Create(ctx, c, metav1.CreateOptions{})
		case err == nil:
			// Two replicas preferring one shard (more replicas than
			// shards): the first claim stands while it is renewed.
			if leaseHolder(c) != e.o.Identity && valid(c, time.Now()) {
				continue
			}
			c.Spec.HolderIdentity, c.Spec.RenewTime, c.Spec.LeaseDurationSeconds = &e.o.Identity, &now, &secs
			_, _ = leases.Update(ctx, c, metav1.UpdateOptions{})
		}
	}
}

// watchClaim hands shard i back, while this replica holds it (ctx), as
// soon as the replica preferring it claims it.
func (e *elector) watchClaim(ctx context.Context, i int) {
	leases := e.kube.CoordinationV1().Leases(e.o.Namespace)
	name := ClaimName(e.o.Name, i, e.o.Shards)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.o.LeaseDuration / 3):
		}
		c, err := leases.Get(ctx, name, metav1.GetOptions{})
		if err != nil || !valid(c, time.Now()) || leaseHolder(c) == "" || leaseHolder(c) == e.o.Identity {
			continue
		}
		e.mu.Lock()
		if e.back == nil {
			e.back = map[int]bool{}
		}
		e.back[i] = true
		e.mu.Unlock()
		select {
		case e.handback[i] <- leaseHolder(c):
		default:
		}
		return
	}
}

func leaseHolder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// valid says a Lease is held at now: renewed within its duration.
func valid(l *coordinationv1.Lease, now time.Time) bool {
	if leaseHolder(l) == "" || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return false
	}
	return now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}
