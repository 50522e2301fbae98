// Package interop holds no code: its tests and benchmarks run pkg/sops
// against the real sops 3.13.2 (built by hack/tools), through pkg/sops'
// exported API only.
//
//	go test ./pkg/sops/interop                  # byte-for-byte interop with sops
//	go test -run '^$' -bench . ./pkg/sops/interop # library vs kubectl gitops vs sops
//
// They live apart from pkg/sops so that the fuzz targets' test binary does
// not import the tools build and the test cluster harness (and through them
// client-go and envtest): a fuzz build instruments every package it links,
// and compiling Kubernetes a second time that way was most of the time of
// make test.
package interop
