// Package plan orders rendered objects the way Argo CD syncs them, and reads
// the Argo CD annotations that steer a sync.
//
// Order: phase (PreSync, Sync, PostSync), then sync wave
// (argocd.argoproj.io/sync-wave, default 0), then kind (KindOrder; kinds not
// listed go last), then name. Afterwards a Namespace moves ahead of the first
// object in it, and a CustomResourceDefinition ahead of its first custom
// resource, each taking that object's phase and wave.
//
//	p, err := plan.New(objects, plan.SyncOptions{})
//	for _, w := range p.Waves { ... }
package plan
