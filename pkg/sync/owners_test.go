package sync

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

func TestOwnerOf(t *testing.T) {
	inv := inventory.Inventory{App: "web", Namespace: "gitops"}
	other := inventory.Inventory{App: "api", Namespace: "gitops"}
	obj := func(labels, anns map[string]string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
		u.SetName("c")
		u.SetNamespace("shop")
		u.SetLabels(labels)
		u.SetAnnotations(anns)
		return u
	}
	plain := obj(nil, nil)
	ours := plain.DeepCopy()
	inv.Mark(ours)
	theirs := plain.DeepCopy()
	other.Mark(theirs)
	for _, tc := range []struct {
		name          string
		live, desired *unstructured.Unstructured
		want          string // Owner.String(), "" for none
		removable     []string
	}{
		{"no marker", plain, nil, "", nil},
		{"ours", ours, nil, "", nil},
		{"another app of ours", theirs, nil, "kubectl-gitops/api (label applyset.kubernetes.io/part-of, annotation gitops.kubectl-gitops.dev/tracking-id)", nil},
		{"another ApplySet", obj(map[string]string{inventory.LabelPartOf: "applyset-x-v1"}, nil), nil, "applyset/applyset-x-v1 (label applyset.kubernetes.io/part-of)", nil},
		{"Argo CD annotation", obj(map[string]string{argoInstance: "shop"}, map[string]string{argoTrackingID: "shop:/ConfigMap:shop/c"}), nil,
			"argocd/shop (annotation argocd.argoproj.io/tracking-id, label app.kubernetes.io/instance)", []string{argoInstance, argoTrackingID}},
		{"Argo CD label method", obj(map[string]string{argoInstance: "shop"}, nil), nil, "argocd/shop (label app.kubernetes.io/instance)", []string{argoInstance}},
		{"an instance label Git sets alike is Git's", obj(map[string]string{argoInstance: "shop"}, nil), obj(map[string]string{argoInstance: "shop"}, nil), "", nil},
		{"Flux", obj(map[string]string{fluxKustomizeName: "apps", fluxKustomizeNS: "flux-system"}, nil), nil,
			"flux/flux-system/apps (label kustomize.toolkit.fluxcd.io/name, label kustomize.toolkit.fluxcd.io/namespace)", []string{fluxKustomizeName, fluxKustomizeNS}},
		{"Helm release", obj(map[string]string{managedBy: "Helm"}, map[string]string{helmRelease: "shop", helmReleaseNS: "shop"}), nil,
			"helm/shop/shop (annotation meta.helm.sh/release-name, annotation meta.helm.sh/release-namespace, label app.kubernetes.io/managed-by)", nil},
		{"Helm label only", obj(map[string]string{managedBy: "Helm"}, nil), nil, "helm/(release unknown) (label app.kubernetes.io/managed-by)", nil},
		{"a chart rendered into Git says managed-by Helm", obj(map[string]string{managedBy: "Helm"}, nil), obj(map[string]string{managedBy: "Helm"}, nil), "", nil},
		{"kapp", obj(map[string]string{kappApp: "1234", kappAssociation: "v1.abc"}, nil), nil,
			"kapp/1234 (label kapp.k14s.io/app, label kapp.k14s.io/association)", []string{kappApp, kappAssociation}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := OwnerOf(tc.live, tc.desired, inv)
			got := ""
			if o != nil {
				got = o.String()
			}
			if got != tc.want {
				t.Fatalf("owner %q, want %q", got, tc.want)
			}
			if o == nil {
				return
			}
			var keys []string
			for _, m := range o.removable() {
				keys = append(keys, m.Key)
			}
			if !cmp.Equal(keys, tc.removable) {
				t.Errorf("removable %v, want %v", keys, tc.removable)
			}
		})
	}
}

func TestParseAdoptPolicy(t *testing.T) {
	for in, want := range map[string]AdoptPolicy{"": AdoptIfUnowned, "if-unowned": AdoptIfUnowned, "all": AdoptAll} {
		if got, err := ParseAdoptPolicy(in); err != nil || got != want {
			t.Errorf("ParseAdoptPolicy(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseAdoptPolicy("force"); err == nil || err.Error() != `adopt policy "force": want if-unowned or all` {
		t.Errorf("ParseAdoptPolicy(force): %v", err)
	}
}

// The take-over patch removes the owner's markers and client-side apply's
// record, guarded by the resourceVersion, and never a key Git sets (to
// another value: Git's is applied already).
func TestTakeOverPatch(t *testing.T) {
	inv := inventory.Inventory{App: "web", Namespace: "gitops"}
	live := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap"}}
	live.SetName("c")
	live.SetNamespace("shop")
	live.SetResourceVersion("42")
	live.SetLabels(map[string]string{argoInstance: "web-prod"})
	live.SetAnnotations(map[string]string{argoTrackingID: "web-prod:/ConfigMap:shop/c", lastApplied: "{}"})
	desired := live.DeepCopy()
	desired.SetLabels(map[string]string{argoInstance: "web"}) // the chart's own label
	desired.SetAnnotations(nil)
	inv.Mark(desired)
	c := &Change{Desired: desired, Owner: OwnerOf(live, desired, inv)}
	if c.Owner == nil || c.Owner.Tool != "argocd" {
		t.Fatalf("owner %v", c.Owner)
	}
	s := &Syncer{opts: Options{Adopt: AdoptAll}}
	body, err := s.takeOverPatch(c, live)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"test","path":"/metadata/resourceVersion","value":"42"},` +
		`{"op":"remove","path":"/metadata/annotations/argocd.argoproj.io~1tracking-id"},` +
		`{"op":"remove","path":"/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"}]`
	if string(body) != want {
		t.Errorf("patch\n%s\nwant\n%s", body, want)
	}
	// Without AdoptAll only client-side apply's record goes.
	s.opts.Adopt = AdoptIfUnowned
	if body, _ := s.takeOverPatch(c, live); strings.Contains(string(body), "tracking-id") {
		t.Errorf("markers removed without AdoptAll: %s", body)
	}
}
