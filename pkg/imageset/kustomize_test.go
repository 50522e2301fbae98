package imageset

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

// kustomizeBinary returns the pinned kustomize of the tools cache, building
// the tools when the cache lacks them (no control plane is started).
func kustomizeBinary(t *testing.T) string {
	t.Helper()
	dir, err := tools.Ensure(context.Background(), tools.Options{Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, tools.Kustomize)
}

const (
	digestA = "sha256:24a0c4b4a4c0eb97a1aabb8e29f18e917d05abfe1b7a7c07857230879ce7d3d3"
	digestB = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
)

// kustomizationFiles are the starting points of the comparison with
// kustomize.
var kustomizationFiles = map[string]string{
	"canonical": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
images:
- name: nginx
  newTag: "1.25"
- name: redis
  newName: cache.example/redis
  newTag: "7.0"
`,
	"comments": `# Overlay for prod.
# Owned by the web team.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

# What we deploy.
resources:
- deployment.yaml   # the app
# the service, too
- service.yaml

namespace: prod # inline comment
# Images are bumped by CI.
images:
  # the web server
  - name: nginx
    newTag: "1.25" # pinned
  - name: alpine
    digest: ` + digestB + `
# Replicas after images.
replicas:
- name: web
  count: 3
# A comment at the end.
`,
	"keys around images": `namePrefix: dev-
commonAnnotations:
  team: web
  app: shop
images:
    - newTag: "1.25"
      name: nginx
    - name: localhost:5000/app
      newTag: "1.0"
configMapGenerator:
  - name: settings
    literals:
      - MODE=prod
      - LEVEL=info
resources:
  - deployment.yaml
kind: Kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
`,
	"no images": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
# the base
resources:
- ../base
namePrefix: prod-
`,
	"no apiVersion": `resources:
- deployment.yaml
`,
	"empty": ``,
	"deprecated fields": `bases:
- ../base
imageTags:
- name: nginx
  newTag: "1.20"
commonLabels:
  app: web
images:
- name: redis
  newTag: "6"
`,
	"duplicates and stars": `images:
- name: nginx
  newTag: "1.25"
- name: nginx
  newTag: "1.24"
- name: redis
  newTag: "*"
- name: busybox
  tagSuffix: -debug
resources:
- deployment.yaml
`,
	"flow style and anchors": `resources: [deployment.yaml, service.yaml]
images: [{name: nginx, newTag: "1.25"}]
labels:
- pairs: &p {app: web}
  includeSelectors: true
`,
	"no final newline": `resources:
- deployment.yaml
namespace: prod`,
	"document start": `---
# first
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml
`,
	"component": `apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
images:
- name: nginx
  newTag: "1.25"
`,
	"comment lines in a block scalar": `resources:
- a.yaml
patches:
- patch: |-
    # a comment inside the patch
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: x
images:
- name: nginx
  newTag: "1.25"
`,
	"keys in another case": "Resources:\n- deployment.yaml\nIMAGES:\n- name: nginx\n  newtag: \"1.25\"\n",
	"crlf":                 "resources:\r\n- deployment.yaml\r\n\r\n# images\r\nimages:\r\n- name: nginx\r\n  newTag: \"1.25\"\r\n",
}

// imageArguments are the argument lists given to both; fails marks those
// kustomize rejects.
var imageArguments = []struct {
	name  string
	args  []string
	fails bool
}{
	{name: "name:tag", args: []string{"nginx:1.26"}},
	{name: "name@digest", args: []string{"nginx@" + digestA}},
	{name: "name=new:tag", args: []string{"nginx=mirror.example/nginx:1.26"}},
	{name: "name=new@digest", args: []string{"nginx=mirror.example/nginx@" + digestA}},
	{name: "name=new", args: []string{"nginx=mirror.example/nginx"}},
	{name: "name=new:tag@digest", args: []string{"nginx=mirror.example/nginx:1.26@" + digestA}},
	{name: "name:tag@digest", args: []string{"nginx:1.26@" + digestA}},
	{name: "registry with port", args: []string{"localhost:5000/app:1.2"}},
	{name: "registry with port, digest", args: []string{"localhost:5000/app@" + digestA}},
	{name: "new name with port", args: []string{"nginx=localhost:5000/nginx:1.26"}},
	{name: "existing entry updated", args: []string{"redis=cache.example/redis:7.2"}},
	{name: "several images", args: []string{"nginx:1.26", "redis=cache.example/redis@" + digestA, "busybox:1.36", "alpine:3.20"}},
	{name: "same name twice", args: []string{"nginx:1.26", "nginx:1.27"}},
	{name: "keep new name", args: []string{"redis=*:7.4"}},
	{name: "keep tag", args: []string{"nginx=mirror.example/nginx:*"}},
	{name: "keep digest", args: []string{"alpine:3.20@*"}},
	{name: "keep everything", args: []string{"nginx=*:*@*"}},
	{name: "tag with a space", args: []string{"nginx:1.26 beta"}},
	{name: "name only with colon", args: []string{"nginx:"}},
	{name: "empty key", args: []string{"=nginx:1.26"}},
	{name: "empty name", args: []string{":1.26"}},
	{name: "second equals sign", args: []string{"a=b=c:1"}},
	{name: "host and port only", args: []string{"localhost:5000"}},
	{name: "rejected: bare name", args: []string{"nginx"}, fails: true},
	{name: "rejected: registry with port, no tag", args: []string{"localhost:5000/app"}, fails: true},
	{name: "rejected: one of several", args: []string{"nginx:1.26", "redis"}, fails: true},
	{name: "rejected: empty", args: []string{""}, fails: true},
	{name: "rejected: slash in the tag", args: []string{"nginx:1.26/rc"}, fails: true},
}

// TestSetKustomizationMatchesKustomize runs the real `kustomize edit set
// image` and SetKustomization on every file with every argument list and
// wants the same bytes and, as changed entries, those kustomize made new or
// different; where SetKustomization finds nothing to change it must return
// the input, and kustomize's rewrite must hold the same entries. With
// -short it uses two of the files.
func TestSetKustomizationMatchesKustomize(t *testing.T) {
	kustomize := kustomizeBinary(t)
	var fileNames []string
	for name := range kustomizationFiles {
		if testing.Short() && name != "comments" && name != "no images" {
			continue // every argument still runs against two files
		}
		fileNames = append(fileNames, name)
	}
	sort.Strings(fileNames)
	for _, file := range fileNames {
		input := []byte(kustomizationFiles[file])
		for _, tt := range imageArguments {
			t.Run(file+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "kustomization.yaml")
				if err := os.WriteFile(path, input, 0o644); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(kustomize, append([]string{"edit", "set", "image"}, tt.args...)...)
				cmd.Dir = dir
				kout, kerr := cmd.CombinedOutput()
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}

				var images []Image
				var parseErr error
				for _, a := range tt.args {
					im, err := Parse(a)
					if err != nil {
						parseErr = err
						if !strings.Contains(err.Error(), strconv.Quote(a)) {
							t.Errorf("Parse(%q) error %q does not name the argument", a, err)
						}
						break
					}
					images = append(images, im)
				}
				if tt.fails {
					if kerr == nil {
						t.Fatalf("kustomize accepted %q, want it rejected:\n%s", tt.args, want)
					}
					if parseErr == nil {
						t.Fatalf("Parse accepted all of %q; kustomize failed: %s", tt.args, kout)
					}
					return
				}
				if kerr != nil {
					t.Fatalf("kustomize edit set image %q: %v\n%s", tt.args, kerr, kout)
				}
				if parseErr != nil {
					t.Fatalf("kustomize accepted %q, Parse: %v", tt.args, parseErr)
				}

				got, changed, err := SetKustomization(input, images)
				if err != nil {
					t.Fatalf("SetKustomization: %v", err)
				}
				if changed == nil {
					if !bytes.Equal(got, input) {
						t.Errorf("no entry changed, but the bytes did:\n%s", got)
					}
					before, after := sortedEntries(t, input), sortedEntries(t, want)
					if diff := cmp.Diff(before, after); diff != "" {
						t.Errorf("no entry changed, but kustomize changed the entries (-before +kustomize):\n%s", diff)
					}
					return
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("SetKustomization differs from kustomize (-kustomize +got):\n%s", diff)
				}
				if diff := cmp.Diff(newEntries(t, input, want), changed); diff != "" {
					t.Errorf("changed entries differ from those kustomize made new or different (-kustomize +got):\n%s", diff)
				}
			})
		}
	}
}

// sortedEntries returns the entries of data sorted by name (kustomize
// sorts them on every write), tagSuffix entries as they are.
func sortedEntries(t *testing.T, data []byte) []Entry {
	t.Helper()
	k, err := readKustomization(data)
	if err != nil {
		t.Fatal(err)
	}
	var es []Entry
	for _, im := range k.Images {
		es = append(es, Entry{Name: im.Name, NewName: im.NewName, NewTag: im.NewTag + im.TagSuffix, Digest: im.Digest})
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Name < es[j].Name })
	return es
}

// newEntries returns the entries of after that differ from the first entry
// of their name in before, or have none.
func newEntries(t *testing.T, before, after []byte) []Entry {
	t.Helper()
	b, err := readKustomization(before)
	if err != nil {
		t.Fatal(err)
	}
	a, err := readKustomization(after)
	if err != nil {
		t.Fatal(err)
	}
	return changedEntries(b.Images, a.Images)
}
