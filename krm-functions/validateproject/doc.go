// Package validateproject is the validate-project KRM function: it checks
// every item of a kustomize build against an Argo CD AppProject, so a build
// that deploys outside a team's project fails in CI and in kubectl gitops,
// before anything reaches a cluster. It never changes items.
//
// Config (apiVersion fn.kubectl-gitops.dev/v1alpha1, kind ValidateProject):
//
//	project:                   # the AppProject as written (or projectFile: path)
//	  apiVersion: argoproj.io/v1alpha1
//	  kind: AppProject
//	  metadata: {name: team-a}
//	  spec:
//	    destinations: [{server: https://kubernetes.default.svc, namespace: "team-a-*"}]
//	    clusterResourceWhitelist: []
//	destination:               # where the app deploys
//	  server: https://kubernetes.default.svc
//	  namespace: team-a-prod
//	clusterScopedKinds: [{group: example.com, kind: Tenant}]
//	namespacedKinds: [{group: example.com, kind: Widget}]
//
// A key that neither the config nor Argo CD's AppProject defines, at any
// level, is an error result naming its path: a misspelled rule must not be
// silently dropped.
//
// Kustomize's validators: field rejects even a function that returns its
// input unchanged, so list this function as the last transformers: entry.
package validateproject
