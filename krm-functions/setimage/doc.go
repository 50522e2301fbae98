// Package setimage is the set-image KRM function: it sets container image
// names, tags and digests with the semantics of kustomize's `images:` field,
// in any kustomize build (as an exec function) and in kubectl gitops.
//
// Config (apiVersion fn.kubectl-gitops.dev/v1alpha1, kind SetImage):
//
//	images:
//	- name: registry.example/web      # matched with or without a tag or digest
//	  newName: registry.example/web2  # optional
//	  newTag: "1.5.0"                  # optional
//	  digest: sha256:...               # optional; with newTag both are kept
//	additionalImageFields:            # image fields of custom resources
//	- {group: argoproj.io, version: v1alpha1, kind: Rollout, path: spec/template/spec/containers[]/image}
//
// The ConfigMap form of other set-image functions is accepted too: data keys
// name, newName, newTag and digest, for one image.
// A key neither form defines, at any level, is an error naming its path.
//
// Each changed image is an info result; a configured image that matched
// nothing is a warning (a typo must not pass silently); a config that sets
// nothing is an error.
package setimage
