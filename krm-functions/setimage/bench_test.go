package setimage

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/filters/imagetag"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/provider"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/kio"
)

// benchResources is 1,000: the kustomize builds below grow faster than
// linearly with the number of resources (10,000 take minutes), and so does
// kyaml's writing of one large ResourceList. BenchmarkSetImageApply10k
// measures the function's own work at 10,000.
const benchResources = 1000

func benchDeployments(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-%05d\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: registry.example/shop/web:1.4.0\n      - name: proxy\n        image: registry.example/shop/proxy:2.0\n---\n", i)
	}
	return b.String()
}

// BenchmarkSetImageFunction is the function as kustomize runs it, without
// the process start: a ResourceList of 10,000 Deployments in, parsed,
// changed and written out.
func BenchmarkSetImageFunction(b *testing.B) {
	var in strings.Builder
	in.WriteString("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n  apiVersion: fn.kubectl-gitops.dev/v1alpha1\n  kind: SetImage\n  metadata: {name: release}\n  images: [{name: registry.example/shop/web, newTag: \"1.5.0\"}]\nitems:\n")
	for _, doc := range strings.Split(strings.TrimSuffix(benchDeployments(benchResources), "---\n"), "---\n") {
		for i, line := range strings.Split(strings.TrimSuffix(doc, "\n"), "\n") {
			if i == 0 {
				in.WriteString("- " + line + "\n")
			} else {
				in.WriteString("  " + line + "\n")
			}
		}
	}
	input := []byte(in.String())
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var out bytes.Buffer
		rw := &kio.ByteReadWriter{Reader: bytes.NewReader(input), Writer: &out}
		if err := framework.Execute(Processor{}, rw); err != nil {
			b.Fatal(err)
		}
		if !bytes.Contains(out.Bytes(), []byte("registry.example/shop/web:1.5.0")) {
			b.Fatal("image not set")
		}
	}
}

func benchKustomize(b *testing.B, kustomization string) {
	fs := filesys.MakeFsInMemory()
	if err := fs.WriteFile("/app/all.yaml", []byte(benchDeployments(benchResources))); err != nil {
		b.Fatal(err)
	}
	if err := fs.WriteFile("/app/kustomization.yaml", []byte(kustomization)); err != nil {
		b.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := k.Run(fs, "/app")
		if err != nil {
			b.Fatal(err)
		}
		if m.Size() != benchResources {
			b.Fatalf("%d resources", m.Size())
		}
	}
}

// BenchmarkKustomizeImagesField is kustomize's built-in images: field on
// the same 10,000 Deployments, in process (a whole build).
func BenchmarkKustomizeImagesField(b *testing.B) {
	benchKustomize(b, "resources: [all.yaml]\nimages:\n- name: registry.example/shop/web\n  newTag: \"1.5.0\"\n")
}

// BenchmarkKustomizeNoTransform is the same build without images:, to
// read the field's own cost off the one above.
func BenchmarkKustomizeNoTransform(b *testing.B) {
	benchKustomize(b, "resources: [all.yaml]\n")
}

// BenchmarkSetImageApply10k is the function's own work on 10,000 parsed
// Deployments: match, change and record, without YAML parsing or writing.
func BenchmarkSetImageApply10k(b *testing.B) {
	data := []byte(benchDeployments(10000))
	cfg := &Config{APIVersion: APIVersion, Kind: Kind, Images: []Image{{Name: "registry.example/shop/web", NewTag: "1.5.0"}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		nodes, err := (&kio.ByteReader{Reader: bytes.NewReader(data), OmitReaderAnnotations: true}).Read()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		changes, err := Apply(cfg, nodes)
		if err != nil || len(changes) != 10000 {
			b.Fatalf("%d changes, %v", len(changes), err)
		}
	}
}

// BenchmarkKustomizeImagesTransform10k is what kustomize's images: field
// does to a built resource map (its ImageTagTransformer: the legacy
// containers filter, then the image field specs), on the same 10,000
// Deployments, without the rest of the build: the side-by-side peer of
// BenchmarkSetImageApply10k.
func BenchmarkKustomizeImagesTransform10k(b *testing.B) {
	data := []byte(benchDeployments(10000))
	factory := resmap.NewFactory(provider.NewDefaultDepProvider().GetResourceFactory())
	image := types.Image{Name: "registry.example/shop/web", NewTag: "1.5.0"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, err := factory.NewResMapFromBytes(data)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := m.ApplyFilter(imagetag.LegacyFilter{ImageTag: image}); err != nil {
			b.Fatal(err)
		}
		if err := m.ApplyFilter(imagetag.Filter{ImageTag: image, FsSlice: defaultFields}); err != nil {
			b.Fatal(err)
		}
	}
}
