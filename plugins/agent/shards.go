package agent

import (
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent"
)

// drain stops starting the apps of shard, before it is handed back to the
// replica preferring it, and returns once their reconciles under way are
// done, or after --shutdown-timeout (then the lease's end stops them, and
// an interrupted sync is attempted again by the new holder).
func (a *runner) drain(shard int, to string) {
	a.mu.Lock()
	delete(a.shards, shard) // own's later removal sees another term
	a.mu.Unlock()
	a.setKeys()
	a.log.Info("handing the shard back to the replica preferring it", "shard", shard, "to", to)
	ofShard := func(key string) bool { return agent.ShardOf(key, a.o.Shards) == shard }
	for deadline := time.Now().Add(a.o.ShutdownTimeout); a.controller.Busy(ofShard) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}
