// Package release builds what a kubectl-gitops release ships: one archive per
// platform holding the version-stamped kubectl-gitops binary, LICENSE and
// README.md; a checksums.txt of their SHA-256 sums; and the Krew plugin
// manifest rendered from the .krew.yaml template for those archives.
//
// The archives are reproducible: the same source, Go toolchain, version,
// commit and timestamp give the same bytes. The binaries are built with
// -trimpath and CGO disabled; archive entries are sorted, with fixed modes,
// owner 0:0 and the given timestamp; the gzip header carries no name and no
// time.
//
//	arts, err := release.Build(ctx, release.Options{
//		Version: "v0.1.0", Commit: commit, SourceDateEpoch: 1700000000,
//		Platforms: release.Platforms, OutDir: "dist", SourceDir: ".",
//	})
//	manifest, err := release.RenderKrewManifest(tmpl, "v0.1.0", "dist")
//
// `make dist` and `make krew-manifest` run it through hack/dist and
// hack/krewmanifest; docs/release.md describes the release.
package release
