// Package agent runs apps continuously: the loop around the sync engine that
// `kubectl gitops agent` is.
//
// A Controller holds a set of apps by key and calls a Reconciler for each,
// never for one key twice at once, at most Concurrency at a time: when the
// app is added, every Interval (plus a random jitter, so that apps added
// together do not poll together), and at once when Refresh is called (a
// webhook's push, a member that changed, an operator's refresh). Work asked
// for while an app reconciles is merged into one more run after it.
//
// A Watcher sees the apps' members change: one metadata informer per
// resource type for the whole cluster, filtered by the ApplySet membership
// label, shared by every app (never a watch per object or per app); an
// event names the ApplySet, and so the app to refresh. Metadata informers
// keep only object metadata in memory: no Secret value is held.
//
// Elect holds Leases (client-go leader election) so that of several replicas
// one reconciles each shard of the apps, and hands a shard over when its
// holder dies.
//
// SelfHealDelay is Argo CD's self-heal backoff: the wait before the nth
// correction of the same commit.
package agent
