// Package imageset edits image entries exactly as `kustomize edit set image`
// does, without running kustomize: in a kustomization file (SetKustomization,
// which leaves the same bytes as kustomize v5.8) and in an Argo CD
// Application's spec.source.kustomize.images (SetApplication). Parse reads
// kustomize's argument form, NAME[=NEWNAME][:TAG][@DIGEST]; Entries reads a
// kustomization's images, for copying them to another overlay.
//
//	im, err := imageset.Parse("web=registry.example/web:1.4.2")
//	if err != nil {
//		return err
//	}
//	out, changed, err := imageset.SetKustomization(data, []imageset.Image{im})
//	if err != nil {
//		return err
//	}
//	if changed == nil {
//		return nil // already set; out is data
//	}
//	return os.WriteFile(path, out, 0o644)
//
// The package only transforms bytes: it reads and writes no files, and it
// knows nothing of Git. docs/image.md describes what it writes.
package imageset
