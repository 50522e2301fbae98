// Package render turns a path in a checked-out repository into the objects
// to sync: a Kustomize build (in process, with krusty) when the path holds a
// kustomization, otherwise every YAML and JSON document below it.
//
// KRM functions listed in a kustomization run with the semantics of
// `kustomize build --enable-alpha-plugins --enable-exec`, except that an exec
// function (which runs whatever program the repository names) needs
// Options.EnableExec: without it the render fails, naming the function,
// instead of skipping it silently as kustomize does.
//
// The path and every file the build reads must stay inside the repository:
// `..` and symbolic links that lead out are refused.
//
//	objs, err := render.Render(checkout.Dir, "apps/web/overlays/prod", render.Options{})
package render
