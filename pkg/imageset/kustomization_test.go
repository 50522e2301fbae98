package imageset

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/api/types"
)

func TestSetKustomizationChangedEntries(t *testing.T) {
	const existing = `images:
- name: nginx
  newTag: "1.25"
- name: redis
  newName: cache.example/redis
  newTag: "7.0"
`
	tests := []struct {
		name   string
		file   string
		images []Image
		want   []Entry
	}{
		{
			name:   "new entry",
			file:   existing,
			images: []Image{{Name: "busybox", NewTag: "1.36"}},
			want:   []Entry{{Name: "busybox", NewTag: "1.36"}},
		},
		{
			name:   "digest replaces tag",
			file:   existing,
			images: []Image{{Name: "nginx", Digest: digestA}},
			want:   []Entry{{Name: "nginx", Digest: digestA}},
		},
		{
			name:   "tag drops the new name",
			file:   existing,
			images: []Image{{Name: "redis", NewTag: "7.2"}},
			want:   []Entry{{Name: "redis", NewTag: "7.2"}},
		},
		{
			name:   "star keeps the new name",
			file:   existing,
			images: []Image{{Name: "redis", NewName: "*", NewTag: "7.2"}},
			want:   []Entry{{Name: "redis", NewName: "cache.example/redis", NewTag: "7.2"}},
		},
		{
			name:   "star without an entry is empty",
			file:   existing,
			images: []Image{{Name: "busybox", NewName: "*", NewTag: "1.36"}},
			want:   []Entry{{Name: "busybox", NewTag: "1.36"}},
		},
		{
			name:   "several, sorted by name; the unchanged one is not listed",
			file:   existing,
			images: []Image{{Name: "zookeeper", NewTag: "3"}, {Name: "nginx", NewTag: "1.25"}, {Name: "alpine", NewTag: "3.20"}},
			want:   []Entry{{Name: "alpine", NewTag: "3.20"}, {Name: "zookeeper", NewTag: "3"}},
		},
		{
			name:   "the last image of a name counts",
			file:   existing,
			images: []Image{{Name: "nginx", NewTag: "1.26"}, {Name: "nginx", NewTag: "1.27"}},
			want:   []Entry{{Name: "nginx", NewTag: "1.27"}},
		},
		{
			name: "the first entry of a name counts; a written star is cleared",
			file: `images:
- name: nginx
  newTag: "1.25"
- name: nginx
  newTag: "1.24"
- name: redis
  newTag: "*"
`,
			images: []Image{{Name: "nginx", NewTag: "1.25"}},
			want:   []Entry{{Name: "redis"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got, err := SetKustomization([]byte(tt.file), tt.images)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("changed entries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSetKustomizationNoChange: when every entry is already as asked, the
// data comes back as it is, although kustomize would rewrite it.
func TestSetKustomizationNoChange(t *testing.T) {
	const file = `resources: [deployment.yaml]   # kustomize would drop this comment
images:
  - name: redis
    newTag: "7.0"
  - name: nginx   # and sort these
    newTag: "1.25"
# and drop this one
`
	for _, images := range [][]Image{
		{{Name: "nginx", NewTag: "1.25"}},
		{{Name: "nginx", NewTag: "*"}, {Name: "redis", NewTag: "7.0"}},
	} {
		got, changed, err := SetKustomization([]byte(file), images)
		if err != nil {
			t.Fatal(err)
		}
		if changed != nil || string(got) != file {
			t.Errorf("SetKustomization(%v) = %v and\n%s\nwant nil entries and the input", images, changed, got)
		}
	}
}

// TestSetKustomizationRewritesAsKustomize spells out, for one file, what
// kustomize's rewrite keeps and moves (TestSetKustomizationMatchesKustomize
// checks the same against the binary).
func TestSetKustomizationRewritesAsKustomize(t *testing.T) {
	const file = `# Overlay for prod.
resources:
- deployment.yaml # the app
# the service, too
- service.yaml

commonLabels: {tier: web, app: shop}
images:
  - name: nginx
    newTag: "1.25"
# A comment at the end.
`
	const want = `# Overlay for prod.
# the service, too
resources:
- deployment.yaml
- service.yaml

commonLabels:
  app: shop
  tier: web
images:
- name: nginx
  newTag: "1.26"
- name: redis
  newTag: "7"
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
`
	got, _, err := SetKustomization([]byte(file), []Image{{Name: "nginx", NewTag: "1.26"}, {Name: "redis", NewTag: "7"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSetKustomizationErrors(t *testing.T) {
	if _, _, err := SetKustomization([]byte("resources: [a.yaml]\n"), nil); !errors.Is(err, ErrNoImages) {
		t.Errorf("no images: error %v, want ErrNoImages", err)
	}
	tests := []struct{ name, file, want string }{
		{"unknown field", "resources: [a.yaml]\nimagez: []\n", `invalid Kustomization: json: unknown field "imagez"`},
		{"unknown image field", "images:\n- name: nginx\n  tag: \"1\"\n", `invalid Kustomization: json: unknown field "tag"`},
		{"not YAML", "images: [\n", "invalid Kustomization"},
	}
	for _, tt := range tests {
		_, _, err := SetKustomization([]byte(tt.file), []Image{{Name: "nginx", NewTag: "1.26"}})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestEntries(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []Entry
	}{
		{name: "no images", file: "resources:\n- a.yaml\n"},
		{name: "empty file", file: ""},
		{
			name: "file order, then imageTags",
			file: `imageTags:
- name: old
  newTag: "1"
images:
- name: web
  newName: registry.example/web
  newTag: 1.4.2 # CI
- name: db
  digest: ` + digestA + `
- name: cache
  newName: cache.example/redis
  newTag: "*"
`,
			want: []Entry{
				{Name: "web", NewName: "registry.example/web", NewTag: "1.4.2"},
				{Name: "db", Digest: digestA},
				{Name: "cache", NewName: "cache.example/redis", NewTag: "*"},
				{Name: "old", NewTag: "1"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Entries([]byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntriesErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"tagSuffix", "images:\n- name: web\n  newTag: \"1\"\n- name: debug\n  tagSuffix: -debug\n", `images[1] (name "debug"): tagSuffix "-debug" cannot be carried by an image entry; set that image by hand`},
		{"unknown field", "images:\n- name: web\n  version: \"1\"\n", `invalid Kustomization: json: unknown field "version"`},
	}
	for _, tt := range tests {
		_, err := Entries([]byte(tt.file))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestFieldOrderCoversKustomization: every field kustomize writes is in
// fieldOrder once, so a kustomize upgrade that adds one fails here.
func TestFieldOrderCoversKustomization(t *testing.T) {
	want := map[string]bool{"APIVersion": true, "Kind": true}
	typ := reflect.TypeOf(types.Kustomization{})
	for i := range typ.NumField() {
		switch name := typ.Field(i).Name; name {
		case "TypeMeta", "ImageTags": // inlined; folded into images
		default:
			want[name] = true
		}
	}
	seen := map[string]bool{}
	for _, f := range fieldOrder {
		if seen[f] {
			t.Errorf("%s is in fieldOrder twice", f)
		}
		seen[f] = true
		if !want[f] {
			t.Errorf("%s is in fieldOrder but not a field of types.Kustomization", f)
		}
	}
	for f := range want {
		if !seen[f] {
			t.Errorf("types.Kustomization field %s is missing from fieldOrder", f)
		}
	}
}
