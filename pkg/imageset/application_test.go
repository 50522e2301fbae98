package imageset

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// application is an Argo CD Application with comments and four-space
// indentation; %s is its kustomize section.
const application = `# The web shop, prod.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
    name: web   # the shop
    namespace: argocd
spec:
    project: default
    source:
        repoURL: https://git.example/web.git
        path: overlays/prod # the overlay
        targetRevision: main
%s    destination:
        server: https://kubernetes.default.svc
        namespace: web
`

func app(kustomize string) string { return strings.Replace(application, "%s", kustomize, 1) }

func TestSetApplication(t *testing.T) {
	const images = `        kustomize:
            namePrefix: prod-
            images:
                # bumped by CI
                - nginx:1.25 # pinned
                - 'redis=cache.example/redis:7.0'
                - localhost:5000/app:1.0
`
	tests := []struct {
		name   string
		in     string
		images []Image
		want   string
		wantE  []Entry
	}{
		{
			name:   "tag updated in place",
			in:     app(images),
			images: []Image{{Name: "nginx", NewTag: "1.26"}},
			want: app(`        kustomize:
            namePrefix: prod-
            images:
                # bumped by CI
                - nginx:1.26 # pinned
                - 'redis=cache.example/redis:7.0'
                - localhost:5000/app:1.0
`),
			wantE: []Entry{{Name: "nginx", NewTag: "1.26"}},
		},
		{
			name:   "digest replaces the tag, star keeps the new name, quoting kept",
			in:     app(images),
			images: []Image{{Name: "nginx", Digest: digestA}, {Name: "redis", NewName: "*", NewTag: "7.2"}},
			want: app(`        kustomize:
            namePrefix: prod-
            images:
                # bumped by CI
                - nginx@` + digestA + ` # pinned
                - 'redis=cache.example/redis:7.2'
                - localhost:5000/app:1.0
`),
			wantE: []Entry{{Name: "nginx", Digest: digestA}, {Name: "redis", NewName: "cache.example/redis", NewTag: "7.2"}},
		},
		{
			name: "new images appended; a registry port is part of the name",
			in:   app(images),
			images: []Image{
				{Name: "localhost:5000/other", NewTag: "2.0"},
				{Name: "busybox", NewName: "*", NewTag: "1.36"},
			},
			want: app(`        kustomize:
            namePrefix: prod-
            images:
                # bumped by CI
                - nginx:1.25 # pinned
                - 'redis=cache.example/redis:7.0'
                - localhost:5000/app:1.0
                - localhost:5000/other:2.0
                - busybox=*:1.36
`),
			wantE: []Entry{{Name: "localhost:5000/other", NewTag: "2.0"}, {Name: "busybox", NewName: "*", NewTag: "1.36"}},
		},
		{
			name: "the first string of a name is replaced, later ones removed",
			in: app(`        kustomize:
            images:
            - nginx:1.24
            - redis:7
            - nginx=mirror.example/nginx:1.25
`),
			images: []Image{{Name: "nginx", NewName: "*", NewTag: "1.26"}},
			want: app(`        kustomize:
            images:
            - nginx=mirror.example/nginx:1.26
            - redis:7
`),
			wantE: []Entry{{Name: "nginx", NewName: "mirror.example/nginx", NewTag: "1.26"}},
		},
		{
			name:   "no kustomize section: one is added",
			in:     app(""),
			images: []Image{{Name: "nginx", NewTag: "1.26"}, {Name: "redis", Digest: digestA}},
			want: app(`        kustomize:
            images:
            - nginx:1.26
            - redis@` + digestA + `
`),
			wantE: []Entry{{Name: "nginx", NewTag: "1.26"}, {Name: "redis", Digest: digestA}},
		},
		{
			name: "kustomize section without images: the list is added at its end",
			in: app(`        kustomize:
            commonAnnotations:
                note: |
                    line one

                    line three
    # about the destination
`),
			images: []Image{{Name: "nginx", NewTag: "1.26"}},
			want: app(`        kustomize:
            commonAnnotations:
                note: |
                    line one

                    line three
            images:
            - nginx:1.26
    # about the destination
`),
			wantE: []Entry{{Name: "nginx", NewTag: "1.26"}},
		},
		{
			name: "a flow list is re-encoded by kyaml",
			in: `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web # the shop
spec:
  source:
    repoURL: https://git.example/web.git
    kustomize: {images: [nginx:1.25]}
`,
			images: []Image{{Name: "nginx", NewTag: "1.26"}},
			want: `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web # the shop
spec:
  source:
    repoURL: https://git.example/web.git
    kustomize: {images: ['nginx:1.26']}
`,
			wantE: []Entry{{Name: "nginx", NewTag: "1.26"}},
		},
		{
			name: "a null list is re-encoded by kyaml",
			in: `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  source:
    repoURL: https://git.example/web.git
    kustomize:
      images: # none yet
  destination:
    namespace: web
`,
			images: []Image{{Name: "nginx", NewTag: "1.26"}},
			want: `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  source:
    repoURL: https://git.example/web.git
    kustomize:
      images: # none yet
      - nginx:1.26
  destination:
    namespace: web
`,
			wantE: []Entry{{Name: "nginx", NewTag: "1.26"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, entries, err := SetApplication([]byte(tt.in), tt.images)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantE, entries); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSetApplicationMultiDocument: only the Application documents change;
// the others, an ApplicationSet among them, keep every byte.
func TestSetApplicationMultiDocument(t *testing.T) {
	const other = `# not an Application
apiVersion:   apps/v1
kind: Deployment
metadata: {name: web}
spec:
    template:
        spec:
            containers:
            -   name: web
                image: nginx:1.25
`
	const set = `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: shops
spec:
  template:
    spec:
      source:
        kustomize:
          images:
          - nginx:1.25
`
	appIn := func(tag string) string {
		return `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
spec:
  source:
    repoURL: https://git.example/web.git
    kustomize:
      images:
      - nginx:` + tag + `
`
	}
	in := other + "---\n" + appIn("1.25") + "--- # the set\n" + set + "---\n" + strings.Replace(appIn("1.24"), "name: web", "name: api", 1)
	want := other + "---\n" + appIn("1.26") + "--- # the set\n" + set + "---\n" + strings.Replace(appIn("1.26"), "name: web", "name: api", 1)
	got, entries, err := SetApplication([]byte(in), []Image{{Name: "nginx", NewTag: "1.26"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Entry{{Name: "nginx", NewTag: "1.26"}, {Name: "nginx", NewTag: "1.26"}}, entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestSetApplicationNoChange(t *testing.T) {
	in := app(`        kustomize:
            images:
            - nginx:1.25
            - "redis=cache.example/redis:7.0"
`)
	for _, images := range [][]Image{
		{{Name: "nginx", NewTag: "1.25"}},
		{{Name: "redis", NewName: "*", NewTag: "*"}, {Name: "nginx", NewTag: "*"}},
	} {
		got, entries, err := SetApplication([]byte(in), images)
		if err != nil {
			t.Fatal(err)
		}
		if entries != nil || string(got) != in {
			t.Errorf("SetApplication(%v) = %v and\n%s\nwant nil entries and the input", images, entries, got)
		}
	}
}

func TestSetApplicationErrors(t *testing.T) {
	nginx := []Image{{Name: "nginx", NewTag: "1.26"}}
	source := func(s string) string {
		return strings.Replace(app(""), "        path: overlays/prod # the overlay\n", s, 1)
	}
	tests := []struct{ name, in, want string }{
		{
			name: "helm source",
			in:   source("        helm:\n            releaseName: web\n"),
			want: "Application/argocd/web: spec.source.helm is set: images can only be set on a source kustomize builds (spec.source.kustomize)",
		},
		{
			name: "helm chart",
			in:   source("        chart: web\n"),
			want: "Application/argocd/web: spec.source.chart is set (a Helm chart): images can only be set on a source kustomize builds (spec.source.kustomize)",
		},
		{
			name: "directory source",
			in:   source("        directory:\n            recurse: true\n"),
			want: "Application/argocd/web: spec.source.directory is set: images can only be set on a source kustomize builds (spec.source.kustomize)",
		},
		{
			name: "plugin source",
			in:   source("        plugin:\n            name: cdk8s\n"),
			want: "Application/argocd/web: spec.source.plugin is set: images can only be set on a source kustomize builds (spec.source.kustomize)",
		},
		{
			name: "several sources",
			in:   "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  sources:\n  - repoURL: https://git.example/web.git\n",
			want: "Application/web: spec.sources is set: image set edits the single source spec.source only; set the images in the kustomization the source points at",
		},
		{
			name: "no source",
			in:   "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\nspec:\n  project: default\n",
			want: "Application/web: has no spec.source",
		},
		{
			name: "images not a list",
			in:   app("        kustomize:\n            images: nginx:1.25\n"),
			want: "Application/argocd/web: spec.source.kustomize.images is not a list",
		},
		{
			name: "image not a string",
			in:   app("        kustomize:\n            images:\n            - name: nginx\n"),
			want: "Application/argocd/web: spec.source.kustomize.images[0] is not a string",
		},
		{
			name: "no Application",
			in:   "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n---\napiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: web\n",
			want: "no Argo CD Application (apiVersion argoproj.io/v1alpha1, kind Application) in the data",
		},
		{
			name: "empty",
			in:   "",
			want: "no Argo CD Application (apiVersion argoproj.io/v1alpha1, kind Application) in the data",
		},
		{
			name: "not YAML",
			in:   "apiVersion: v1\n---\nkind: [\n",
			want: "document 2: yaml: line 1: did not find expected node content",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := SetApplication([]byte(tt.in), nginx)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n got %v\nwant %s", err, tt.want)
			}
		})
	}
	const unwritable = `image nginx=localhost:5000 cannot be written as an Argo CD image string: kustomize would read it as name "nginx", new name "localhost", tag "5000", digest ""`
	if _, _, err := SetApplication([]byte(app("")), []Image{{Name: "nginx", NewName: "localhost:5000"}}); err == nil || err.Error() != unwritable {
		t.Errorf("unwritable image: error:\n got %v\nwant %s", err, unwritable)
	}
	if _, _, err := SetApplication([]byte(app("")), nil); !errors.Is(err, ErrNoImages) {
		t.Errorf("no images: error %v, want ErrNoImages", err)
	}
}
