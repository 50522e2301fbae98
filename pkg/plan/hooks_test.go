package plan

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func annotated(ann map[string]string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "batch/v1", "kind": "Job", "metadata": map[string]any{"generateName": "migrate-", "namespace": "shop"}}}
	o.SetAnnotations(ann)
	return o
}

func TestHookOf(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want *Hook
		skip bool
	}{
		{name: "not a hook", ann: nil},
		{name: "Skip alone", ann: map[string]string{AnnotationHook: "Skip"}, skip: true},
		{name: "default policy is BeforeHookCreation", ann: map[string]string{AnnotationHook: "PreSync"},
			want: &Hook{Phases: []Phase{PhasePreSync}, Policies: []DeletePolicy{BeforeHookCreation}}},
		{name: "a list, in phase order; Skip with others is ignored", ann: map[string]string{AnnotationHook: " PostSync, Skip,PreSync,SyncFail"},
			want: &Hook{Phases: []Phase{PhasePreSync, PhasePostSync, PhaseSyncFail}, Policies: []DeletePolicy{BeforeHookCreation}}},
		{name: "policies combined", ann: map[string]string{AnnotationHook: "Sync", AnnotationHookDeletePolicy: "HookSucceeded,HookFailed"},
			want: &Hook{Phases: []Phase{PhaseSync}, Policies: []DeletePolicy{HookSucceeded, HookFailed}}},
		{name: "PreDelete is not run by sync", ann: map[string]string{AnnotationHook: "PreDelete"},
			want: &Hook{NotRun: "PreDelete hooks run when an app is deleted, not by sync", Policies: []DeletePolicy{BeforeHookCreation}}},
		{name: "Helm pre-install and pre-upgrade are PreSync", ann: map[string]string{AnnotationHelmHook: "pre-install,pre-upgrade", AnnotationHelmHookDeletePolicy: "hook-succeeded,before-hook-creation"},
			want: &Hook{Phases: []Phase{PhasePreSync}, Policies: []DeletePolicy{HookSucceeded, BeforeHookCreation}, Helm: true}},
		{name: "Helm post-upgrade is PostSync", ann: map[string]string{AnnotationHelmHook: "post-upgrade", AnnotationHelmHookDeletePolicy: "hook-failed"},
			want: &Hook{Phases: []Phase{PhasePostSync}, Policies: []DeletePolicy{HookFailed}, Helm: true}},
		{name: "Helm test is not run", ann: map[string]string{AnnotationHelmHook: "test"},
			want: &Hook{NotRun: "Helm hook test is not run by sync (Argo CD runs only pre-install, pre-upgrade, post-install and post-upgrade)", Policies: []DeletePolicy{BeforeHookCreation}, Helm: true}},
		{name: "Helm crd-install is a plain resource", ann: map[string]string{AnnotationHelmHook: "crd-install"}},
		{name: "the Argo CD annotation wins over Helm's", ann: map[string]string{AnnotationHook: "PostSync", AnnotationHelmHook: "pre-install"},
			want: &Hook{Phases: []Phase{PhasePostSync}, Policies: []DeletePolicy{BeforeHookCreation}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skip, err := HookOf(annotated(tt.ann))
			if err != nil {
				t.Fatal(err)
			}
			if skip != tt.skip {
				t.Errorf("skip = %v, want %v", skip, tt.skip)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("hook (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHookErrors(t *testing.T) {
	tests := []struct {
		ann  map[string]string
		want string
	}{
		{map[string]string{AnnotationHook: "PreSync,PostSnyc"}, `Job/shop/migrate-*: annotation argocd.argoproj.io/hook="PreSync,PostSnyc": "PostSnyc" is not a hook; use one or more of PreSync, Sync, PostSync, SyncFail, Skip, PreDelete, PostDelete`},
		{map[string]string{AnnotationHook: "PreSync", AnnotationHookDeletePolicy: "HookSucceded"}, `Job/shop/migrate-*: annotation argocd.argoproj.io/hook-delete-policy="HookSucceded": "HookSucceded" is not a delete policy; use one or more of HookSucceeded, HookFailed, BeforeHookCreation`},
		{map[string]string{AnnotationHelmHook: "pre-instal"}, `"pre-instal" is not a Helm hook; use one or more of pre-install, pre-upgrade`},
		{map[string]string{AnnotationHelmHook: "pre-install", AnnotationHelmHookDeletePolicy: "always"}, `"always" is not a Helm delete policy; use one or more of before-hook-creation, hook-succeeded, hook-failed`},
		{map[string]string{AnnotationHook: " , "}, `annotation argocd.argoproj.io/hook is empty`},
	}
	for _, tt := range tests {
		_, _, err := HookOf(annotated(tt.ann))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want it to contain %q", tt.ann, err, tt.want)
		}
	}
}

func TestPlanOfHooks(t *testing.T) {
	p, err := New(objs(t, `
apiVersion: batch/v1
kind: Job
metadata: {generateName: migrate-, namespace: shop, annotations: {argocd.argoproj.io/hook: PreSync}}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
---
apiVersion: batch/v1
kind: Job
metadata: {name: warm, namespace: shop, annotations: {argocd.argoproj.io/hook: Sync}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: check, namespace: shop, annotations: {argocd.argoproj.io/hook: "PreSync,PostSync"}}
---
apiVersion: v1
kind: Pod
metadata: {name: smoke, namespace: shop, annotations: {helm.sh/hook: post-install, helm.sh/hook-weight: "-3"}}
---
apiVersion: v1
kind: Pod
metadata: {name: cleanup, namespace: shop, annotations: {argocd.argoproj.io/hook: SyncFail}}
---
apiVersion: v1
kind: Namespace
metadata: {name: fail-only}
---
apiVersion: v1
kind: Pod
metadata: {name: page, namespace: fail-only, annotations: {argocd.argoproj.io/hook: SyncFail}}
---
apiVersion: v1
kind: Pod
metadata: {name: test, namespace: shop, annotations: {helm.sh/hook: test}}
`), SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The Namespace moves ahead of the PreSync hook in it; a Namespace only
	// a SyncFail hook uses stays in the Sync phase; a wave's hooks come
	// after its resources; Helm's weight is the wave.
	want := `PreSync wave 0
  Namespace/shop
  ConfigMap/shop/check (hook)
  Job/shop/migrate-* (hook)
Sync wave 0
  Namespace/fail-only
  Deployment/shop/web
  Job/shop/warm (hook)
PostSync wave -3
  Pod/shop/smoke (hook)
PostSync wave 0
  ConfigMap/shop/check (hook)
SyncFail wave 0
  Pod/shop/cleanup (hook)
  Pod/fail-only/page (hook)
not run Pod/shop/test
`
	if diff := cmp.Diff(want, p.String()); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// Helm and Argo CD read a hook weight that is not an integer as 0; a
// sync-wave that is not one is an error.
func TestHelmWeightThatIsNoInteger(t *testing.T) {
	if w, err := waveOf(annotated(map[string]string{AnnotationHelmHook: "pre-install", AnnotationHelmHookWeight: "heavy"})); err != nil || w != 0 {
		t.Errorf("wave %d, %v", w, err)
	}
	if w, err := waveOf(annotated(map[string]string{AnnotationHelmHookWeight: "-2", AnnotationSyncWave: "3"})); err != nil || w != 3 {
		t.Errorf("sync-wave wins: %d, %v", w, err)
	}
	if _, err := waveOf(annotated(map[string]string{AnnotationSyncWave: "x"})); err == nil {
		t.Error("a bad sync-wave is accepted")
	}
}
