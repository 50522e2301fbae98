package imageset

import (
	"errors"
	"fmt"
	"sort"

	"sigs.k8s.io/kustomize/api/types"
)

// ErrNoImages is returned by SetKustomization and SetApplication when they
// are given no image (kustomize: "no image specified").
var ErrNoImages = errors.New("no image given")

// Entry is one entry of a kustomization's images: (name, newName, newTag,
// digest). It converts to and from Image.
type Entry struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

// SetKustomization returns the kustomization file data with images set as
// `kustomize edit set image` (kustomize v5.8) leaves them, and the entries
// that are new or differ from the entry of the same name before. When no
// entry changes, it returns data itself and nil entries (where kustomize
// would still rewrite the file).
//
// The entries are those of kustomize:
//   - An image without an entry of its name adds one; an image with one
//     replaces it whole: nginx@DIGEST drops the entry's newTag and newName,
//     nginx:TAG its digest.
//   - "*" as the new name, tag or digest keeps that part of the existing
//     entry, or leaves it empty when there is none. A "*" already written in
//     an entry is cleared, whichever image is set.
//   - Of several images of one name the last counts; of several entries of
//     one name the first, and the others are dropped.
//   - The entries of the deprecated imageTags field move to images.
//   - The entries are sorted by name.
//
// The file is written back the way kustomize writes it, not edited in
// place, so the bytes are the ones `kustomize edit set image` leaves:
//   - Each top-level field is re-serialized as sigs.k8s.io/yaml does: keys
//     below the top sorted, lists not indented, strings quoted only when
//     needed, flow style and anchors gone, inline comments dropped.
//   - Top-level fields keep their order; a field the file lacks (images, and
//     apiVersion and kind, which are always written) comes after them in
//     kustomize's field order, and so does one that starts on a last line
//     without a newline. Deprecated fields are folded into their successors
//     as kustomize reads them (bases into resources, imageTags into images,
//     helmChartInflationGenerator into helmCharts and helmGlobals).
//   - Comment and blank lines (blank: spaces only) are kept, but each run of
//     them moves to just above the top-level field it is in or precedes;
//     those after the last line that is not a comment are dropped, as is a
//     "---" line. A line of a block scalar that looks like a comment is
//     copied above its field too (and stays in the scalar).
//
// A file as `kustomize edit` leaves it therefore changes only in its images.
//
// The data must be a kustomization kustomize accepts (an unknown field is
// an error that names it; keys match case-insensitively, as in kustomize).
// Images are used as given: Parse's check is not repeated, so an Image
// built by hand (or from Entries) is set as it is.
func SetKustomization(data []byte, images []Image) ([]byte, []Entry, error) {
	if len(images) == 0 {
		return nil, nil, ErrNoImages
	}
	k, err := readKustomization(data)
	if err != nil {
		return nil, nil, err
	}
	merged := merge(k.Images, images)
	changed := changedEntries(k.Images, merged)
	if len(changed) == 0 {
		return data, nil, nil
	}
	k.Images = merged
	out, err := writeKustomization(data, k)
	if err != nil {
		return nil, nil, err
	}
	return out, changed, nil
}

// Entries returns the entries of a kustomization's images as kustomize
// reads them: in file order, followed by those of the deprecated imageTags.
// An entry with a tagSuffix is an error, because an Entry cannot carry it
// and SetKustomization cannot write it.
func Entries(data []byte) ([]Entry, error) {
	k, err := readKustomization(data)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	for i, im := range k.Images {
		if im.TagSuffix != "" {
			return nil, fmt.Errorf("images[%d] (name %q): tagSuffix %q cannot be carried by an image entry; set that image by hand", i, im.Name, im.TagSuffix)
		}
		entries = append(entries, Entry{Name: im.Name, NewName: im.NewName, NewTag: im.NewTag, Digest: im.Digest})
	}
	return entries, nil
}

// readKustomization decodes data as kustomize's edit commands do: strictly,
// then with the deprecated fields folded into their successors and
// apiVersion and kind defaulted.
func readKustomization(data []byte) (*types.Kustomization, error) {
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return nil, err
	}
	k.FixKustomization()
	return &k, nil
}

// merge returns the entries kustomize leaves after setting images over
// existing, sorted by name.
func merge(existing []types.Image, images []Image) []types.Image {
	byName := make(map[string]types.Image, len(existing)+len(images))
	for _, im := range images {
		byName[im.Name] = types.Image{Name: im.Name, NewName: im.NewName, NewTag: im.NewTag, Digest: im.Digest}
	}
	// An entry whose name is taken already (by an image, or by an earlier
	// entry) only fills in that one's "*" parts.
	for _, e := range existing {
		if cur, ok := byName[e.Name]; ok {
			byName[e.Name] = fillPreserved(cur, e)
			continue
		}
		byName[e.Name] = e
	}
	out := make([]types.Image, 0, len(byName))
	for _, im := range byName {
		out = append(out, fillPreserved(im, types.Image{}))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// fillPreserved replaces each "*" part of im by that part of from. Like
// kustomize, it drops im's tagSuffix when it replaces anything.
func fillPreserved(im, from types.Image) types.Image {
	if im.NewName == preserve {
		im.NewName, im.TagSuffix = from.NewName, ""
	}
	if im.NewTag == preserve {
		im.NewTag, im.TagSuffix = from.NewTag, ""
	}
	if im.Digest == preserve {
		im.Digest, im.TagSuffix = from.Digest, ""
	}
	return im
}

// changedEntries lists the entries of merged that differ from the first
// existing entry of their name, or have none.
func changedEntries(existing, merged []types.Image) []Entry {
	first := make(map[string]types.Image, len(existing))
	for _, e := range existing {
		if _, ok := first[e.Name]; !ok {
			first[e.Name] = e
		}
	}
	var changed []Entry
	for _, im := range merged {
		if e, ok := first[im.Name]; ok && e == im {
			continue
		}
		changed = append(changed, Entry{Name: im.Name, NewName: im.NewName, NewTag: im.NewTag, Digest: im.Digest})
	}
	return changed
}
