// Package sync is the engine behind `kubectl gitops sync`: it takes rendered
// objects to a cluster the way Argo CD syncs an Application.
//
//	dry-run everything ─► record inventory ─► per wave: apply, wait healthy ─► prune ─► record history
//
// Nothing is written unless every object passes a server-side dry-run;
// nothing is pruned unless every wave applied and became healthy. The engine
// prints nothing: it reports Events as they happen and returns a Result with
// one entry per object, which commands render as text, JSON or YAML.
//
//	res, err := sync.New(client, sync.DefaultOptions()).Run(ctx, sync.Input{App: "web", Objects: objs})
package sync
