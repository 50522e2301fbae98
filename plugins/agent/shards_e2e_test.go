package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/agent"
)

// Two replicas with --shards 2 each run the apps of their own shard; one
// killed, the other runs both shards; back, it gets its shard back (handed
// over after the running work, not lost), and every commit is synced once.
func TestAgentShards(t *testing.T) {
	inv := testcluster.Namespace(t, lc)
	dest := []string{testcluster.Namespace(t, lc), testcluster.Namespace(t, lc)}
	git := serve(t, map[string]string{"apps/web/cm.yaml": configMap("hello")})
	// One app in each shard: the shard is a hash of the app's key.
	var names [2]string
	for i := 0; names[0] == "" || names[1] == ""; i++ {
		name := fmt.Sprintf("sh%d-%s", i, inv)
		if s := agent.ShardOf("file/"+name, 2); names[s] == "" {
			names[s] = name
		}
	}
	dir := t.TempDir()
	for s, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(application(name, dest[s], git.url, true)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := func(ordinal int) []string {
		return []string{"--app-file", dir, "--app-namespace", "", "--reconcile-interval", "2s", "--inventory-namespace", inv,
			"--leader-elect", "--leader-election-namespace", inv, "--lease-duration", "3s", "--shards", "2", "--shard-ordinal", fmt.Sprint(ordinal)}
	}
	k := kube(t)
	both := func(want string) {
		t.Helper()
		for _, ns := range dest {
			waitGreeting(t, k, ns, want, 60*time.Second)
		}
	}
	leads := func(p *agentProc, shard int) bool {
		return strings.Contains(p.Logs(), fmt.Sprintf(`"msg":"leading","shard":%d`, shard))
	}
	zero, one := startAgent(t, args(0)...), startAgent(t, args(1)...)
	both("hello")
	// Past a lease duration each campaigns for the other's shard too, as a
	// standby, and takes nothing.
	time.Sleep(4 * time.Second)
	if !leads(zero, 0) || leads(zero, 1) || !leads(one, 1) || leads(one, 0) {
		t.Fatalf("want replica 0 leading shard 0 only and replica 1 shard 1 only:\n%s\n%s", zero.Logs(), one.Logs())
	}

	zero.kill()
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("one-replica")})
	both("one-replica")
	if !leads(one, 0) {
		t.Errorf("replica 1 did not take shard 0 over")
	}

	back := startAgent(t, args(0)...)
	eventually(t, 30*time.Second, "shard 0 handed back", func() error {
		if !leads(back, 0) || !strings.Contains(one.Logs(), `"msg":"handing the shard back to the replica preferring it","shard":0`) {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("back")})
	both("back")
	if leads(back, 1) {
		t.Errorf("the returning replica took shard 1")
	}
	if strings.Contains(one.Logs(), "lost the lease") {
		t.Errorf("replica 1 lost a lease; handing one back is no loss:\n%s", one.Logs())
	}
	for _, name := range names {
		syncedOnce(t, inv, name, 3)
	}
}
