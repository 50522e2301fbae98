package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// objs parses a YAML stream into objects.
func objs(t *testing.T, stream string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(stream, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{{
		name: "kind order within a wave, then name; unlisted kinds last",
		input: `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: a, namespace: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: shop}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: shop}
`,
		want: `Sync wave 0
  ServiceAccount/shop/web
  ConfigMap/shop/a
  ConfigMap/shop/b
  Service/shop/web
  Deployment/shop/web
  Ingress/shop/web
  Widget/shop/a
`,
	}, {
		name: "waves, phases and the Skip hook",
		input: `
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop, annotations: {argocd.argoproj.io/sync-wave: "1"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: shop, annotations: {argocd.argoproj.io/sync-wave: "-1"}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop, annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/sync-wave: "5"}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: smoke, namespace: shop, annotations: {argocd.argoproj.io/hook: PostSync}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: scratch, namespace: shop, annotations: {argocd.argoproj.io/hook: Skip}}
`,
		want: `PreSync wave 5
  Job/shop/migrate (hook)
Sync wave -1
  ConfigMap/shop/web
Sync wave 0
  Deployment/shop/web
Sync wave 1
  HorizontalPodAutoscaler/shop/web
PostSync wave 0
  Job/shop/smoke (hook)
skipped ConfigMap/shop/scratch
`,
	}, {
		name: "a Namespace moves ahead of its first object and takes its wave",
		input: `
apiVersion: v1
kind: ConfigMap
metadata: {name: early, namespace: shop, annotations: {argocd.argoproj.io/sync-wave: "-2"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: unused, annotations: {argocd.argoproj.io/sync-wave: "3"}}
`,
		want: `Sync wave -2
  Namespace/shop
  ConfigMap/shop/early
Sync wave 3
  Namespace/unused
`,
	}, {
		name: "a CRD moves ahead of its first custom resource",
		input: `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: shop, annotations: {argocd.argoproj.io/sync-wave: "-1"}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, names: {kind: Widget, plural: widgets}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec: {group: example.com, names: {kind: Gadget, plural: gadgets}}
`,
		want: `Sync wave -1
  CustomResourceDefinition/widgets.example.com
  Widget/shop/w
Sync wave 0
  CustomResourceDefinition/gadgets.example.com
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(objs(t, tt.input), SyncOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.String()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnnotationErrors(t *testing.T) {
	_, err := New(objs(t, `
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: shop, annotations: {argocd.argoproj.io/sync-wave: "first"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: shop, annotations: {argocd.argoproj.io/sync-options: "Prune=false,Turbo=true"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: c, annotations: {argocd.argoproj.io/hook: Sometimes}}
`), SyncOptions{})
	want := `ConfigMap/shop/a: annotation argocd.argoproj.io/sync-wave="first" is not an integer; use a whole number such as "-1" or "2"
ConfigMap/shop/b: annotation argocd.argoproj.io/sync-options: unknown sync option "Turbo=true"; supported: ` + strings.Join(SupportedOptions(), ", ") + `
Namespace/c: annotation argocd.argoproj.io/hook="Sometimes": "Sometimes" is not a hook; use one or more of PreSync, Sync, PostSync, SyncFail, Skip, PreDelete, PostDelete`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestSyncOptions(t *testing.T) {
	tests := []struct {
		in      []string
		want    SyncOptions
		wantErr string
	}{
		{in: nil, want: SyncOptions{}},
		{in: []string{"Prune=false, PruneLast=true"}, want: SyncOptions{NoPrune: true, PruneLast: true}},
		{in: []string{"CreateNamespace=true", "PrunePropagationPolicy=orphan,Replace=true"}, want: SyncOptions{CreateNamespace: true, PropagationPolicy: PropagationOrphan, Replace: true}},
		{in: []string{"Validate=false,SkipDryRunOnMissingResource=true,ServerSideApply=true"}, want: SyncOptions{NoValidate: true, SkipDryRunOnMissingResource: true}},
		{in: []string{"Prune=false", "Prune=true"}, want: SyncOptions{}},
		{in: []string{"PrunePropagationPolicy=later"}, wantErr: `sync option "PrunePropagationPolicy=later" has an unsupported value; use PrunePropagationPolicy=background or PrunePropagationPolicy=foreground or PrunePropagationPolicy=orphan`},
		{in: []string{"ServerSideApply=false"}, wantErr: `sync option "ServerSideApply=false" has an unsupported value; use ServerSideApply=true`},
		{in: []string{"Prune"}, wantErr: `unknown sync option "Prune"; supported: ` + strings.Join(SupportedOptions(), ", ")},
	}
	for _, tt := range tests {
		got, err := SyncOptions{}.Apply(tt.in...)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != tt.wantErr {
			t.Errorf("Apply(%q) error %q, want %q", tt.in, gotErr, tt.wantErr)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("Apply(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
