package imageset

import (
	"fmt"
	"strings"
)

// preserve, given as the new name, the new tag or the digest of an Image,
// keeps that part of the entry already there (kustomize's "*").
const preserve = "*"

// Image is one argument of `kustomize edit set image`:
// NAME[=NEWNAME][:TAG][@DIGEST]. See Parse for the forms.
type Image struct{ Name, NewName, NewTag, Digest string }

// String returns the image in the argument form Parse reads:
// NAME[=NEWNAME][:TAG][@DIGEST], with a bare "NAME:" for an image that only
// names (it sets an entry with no new name, tag or digest).
func (im Image) String() string {
	s := im.Name
	if im.NewName != "" {
		s += "=" + im.NewName
	}
	if im.NewTag != "" || (im.NewName == "" && im.Digest == "") {
		s += ":" + im.NewTag
	}
	if im.Digest != "" {
		s += "@" + im.Digest
	}
	return s
}

// Parse reads one argument of `kustomize edit set image` exactly as
// kustomize v5 does:
//
//	NAME:TAG                 nginx:1.25, localhost:5000/app:1.2
//	NAME@DIGEST              nginx@sha256:24a0…
//	NAME:TAG@DIGEST          nginx:1.25@sha256:24a0…
//	NAME=NEWNAME             nginx=mirror.example/nginx
//	NAME=NEWNAME:TAG         nginx=mirror.example/nginx:1.25
//	NAME=NEWNAME@DIGEST      nginx=mirror.example/nginx@sha256:24a0…
//	NAME=NEWNAME:TAG@DIGEST  nginx=mirror.example/nginx:1.25@sha256:24a0…
//
// NAME is everything before the first "=". In the image reference (NAME
// itself when there is no "=", else NEWNAME) the tag and digest separators
// are looked for from the first "/" on, so a registry port is not a tag: in
// localhost:5000/app:1.2 the name is localhost:5000/app. The first "@"
// starts the digest, and a ":" before it starts the tag; when the ":" comes
// first, the tag runs up to the "@". Neither tag nor digest is checked
// further. Any of NEWNAME, TAG and DIGEST may be "*", which keeps that part
// of the existing entry (see SetKustomization).
//
// Like kustomize, Parse only rejects an argument that has no "=", ":" or
// "@" to act on (nginx, localhost:5000/app, or the empty string). It
// accepts what kustomize accepts, however odd: "nginx:" and "nginx="
// (an entry with the name alone), ":1.25" (an empty name), "=nginx:1.25"
// (the same as nginx:1.25), "a=b=c" (new name b=c).
func Parse(arg string) (Image, error) {
	key, ref, hasKey := strings.Cut(arg, "=")
	if !hasKey {
		key, ref = "", arg
	}
	name, tag, digest, split := splitReference(ref)
	if !hasKey && !split {
		return Image{}, fmt.Errorf("image %q: no new name, tag or digest; want NAME:TAG, NAME@DIGEST, NAME:TAG@DIGEST or NAME=NEWNAME[:TAG][@DIGEST]", arg)
	}
	im := Image{NewTag: tag, Digest: digest}
	if key == "" {
		im.Name = name
	} else {
		im.Name, im.NewName = key, name
	}
	return im, nil
}

// splitReference splits an image reference into name, tag and digest the
// way kustomize does (see Parse); split reports whether it found a ":" or an
// "@" at all.
func splitReference(ref string) (name, tag, digest string, split bool) {
	from := max(strings.IndexByte(ref, '/'), 0) // a registry host may hold a port
	at := strings.IndexByte(ref[from:], '@')
	colon := strings.IndexByte(ref[from:], ':')
	switch {
	case at < 0 && colon < 0:
		return ref, "", "", false
	case at >= 0 && (colon < 0 || at < colon):
		at += from
		return ref[:at], "", ref[at+1:], true
	case at >= 0:
		at, colon = at+from, colon+from
		return ref[:colon], ref[colon+1 : at], ref[at+1:], true
	default:
		colon += from
		return ref[:colon], ref[colon+1:], "", true
	}
}
