// Package render turns a path in a checked-out repository into the objects
// to sync: a Kustomize build (in process, with krusty) when the path holds a
// kustomization, otherwise every YAML and JSON document below it.
//
// KRM functions listed in a kustomization run with the semantics of
// `kustomize build --enable-alpha-plugins --enable-exec`, except that an exec
// function (which runs whatever program the repository names) needs
// Options.EnableExec, and a container function (an image kustomize runs
// with docker, handing it the host environment variables it names)
// Options.EnableContainerFunctions: without them the render fails with an
// *UntrustedFunctionsError naming each function, before any ran, instead
// of skipping exec functions silently and running containers as kustomize
// does. Exec and Go plugins of the kustomize plugin home never run (render
// points $KUSTOMIZE_PLUGIN_HOME at an empty place for the process), nor
// does helm (helmCharts).
//
// The path and every file the build reads must stay inside the repository:
// `..` and symbolic links that lead out are refused.
//
//	objs, err := render.Render(checkout.Dir, "apps/web/overlays/prod", render.Options{})
package render
