package validateproject

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
	sigsyaml "sigs.k8s.io/yaml"
)

// BenchmarkCheck10k checks 10,000 parsed items (Deployments, Services and
// ConfigMaps across namespaces) against a project with globs, whitelists and
// blacklists: the function's own work, without YAML parsing or writing.
func BenchmarkCheck10k(b *testing.B) {
	var in strings.Builder
	kinds := []string{"apps/v1\nkind: Deployment", "v1\nkind: Service", "v1\nkind: ConfigMap"}
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&in, "apiVersion: %s\nmetadata:\n  name: item-%05d\n  namespace: team-a-%d\n---\n", kinds[i%3], i, i%7)
	}
	cfg := &Config{}
	if err := sigsyaml.Unmarshal([]byte(`apiVersion: fn.kubectl-gitops.dev/v1alpha1
kind: ValidateProject
project:
  apiVersion: argoproj.io/v1alpha1
  kind: AppProject
  metadata: {name: team-a}
  spec:
    destinations: [{server: "*", namespace: "team-a-*"}, {server: "*", namespace: "!kube-*"}]
    namespaceResourceWhitelist: [{group: apps, kind: "*"}, {group: "", kind: Service}, {group: "", kind: ConfigMap}]
    namespaceResourceBlacklist: [{group: "", kind: Secret}]
destination: {server: https://kubernetes.default.svc, namespace: team-a-0}
`), cfg); err != nil {
		b.Fatal(err)
	}
	nodes, err := (&kio.ByteReader{Reader: bytes.NewReader([]byte(in.String())), OmitReaderAnnotations: true}).Read()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := Check(cfg, nodes); len(res) != 1 {
			b.Fatalf("%d results, want only the summary: %v", len(res), res[0])
		}
	}
}
