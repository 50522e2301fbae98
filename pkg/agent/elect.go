package agent

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

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
}

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
	var electors []*leaderelection.LeaderElector
	for i := range o.Shards {
		lock := &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: o.Namespace, Name: LeaseName(o.Name, i, o.Shards)},
			Client:     kube.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: o.Identity},
		}
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, Name: lock.LeaseMeta.Name,
			LeaseDuration: o.LeaseDuration, RenewDeadline: o.RenewDeadline, RetryPeriod: o.RetryPeriod,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					if o.OnShard != nil {
						o.OnShard(ctx, i)
					}
				},
				OnStoppedLeading: func() {
					if ctx.Err() == nil && o.OnLost != nil {
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
	for i, le := range electors {
		wg.Go(func() {
			if o.Shards > 1 && o.Preferred >= 0 && i != o.Preferred {
				select {
				case <-time.After(o.LeaseDuration):
				case <-ctx.Done():
					return
				}
			}
			// Run returns when the lease is lost or ctx ends; a replica
			// that lost a shard campaigns again as a standby.
			for ctx.Err() == nil {
				le.Run(ctx)
			}
		})
	}
	wg.Wait()
	return nil
}
