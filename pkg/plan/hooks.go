package plan

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Hook annotations, as Argo CD and Helm name them.
const (
	AnnotationHookDeletePolicy     = "argocd.argoproj.io/hook-delete-policy"
	AnnotationHelmHook             = "helm.sh/hook"
	AnnotationHelmHookWeight       = "helm.sh/hook-weight"
	AnnotationHelmHookDeletePolicy = "helm.sh/hook-delete-policy"
)

// PhaseSyncFail runs only when a sync fails, after everything else.
const PhaseSyncFail Phase = "SyncFail"

// DeletePolicy says when a hook object is deleted.
type DeletePolicy string

// Delete policies.
const (
	// HookSucceeded deletes the hook once it succeeded.
	HookSucceeded DeletePolicy = "HookSucceeded"
	// HookFailed deletes the hook once it failed.
	HookFailed DeletePolicy = "HookFailed"
	// BeforeHookCreation deletes an existing object of the hook's name
	// before the hook is created again; the default when none is given.
	BeforeHookCreation DeletePolicy = "BeforeHookCreation"
)

// Hook is how a hook object runs.
type Hook struct {
	// Phases are the phases it runs in, in phase order. Empty when sync
	// never runs it (NotRun says why).
	Phases []Phase
	// NotRun says why sync does not run it (PreDelete, a Helm test hook).
	NotRun string
	// Policies are its delete policies; never empty.
	Policies []DeletePolicy
	// Helm says the hook came from helm.sh/hook annotations.
	Helm bool
}

// Has reports whether the hook has delete policy p.
func (h *Hook) Has(p DeletePolicy) bool { return slices.Contains(h.Policies, p) }

var (
	argoHookTypes = []string{"PreSync", "Sync", "PostSync", "SyncFail", "Skip", "PreDelete", "PostDelete"}
	argoPolicies  = []string{string(HookSucceeded), string(HookFailed), string(BeforeHookCreation)}
	// helmHooks maps the Helm hooks Argo CD runs to its phases; the other
	// Helm hooks are known and never run by a sync.
	helmHooks    = map[string]Phase{"pre-install": PhasePreSync, "pre-upgrade": PhasePreSync, "post-install": PhasePostSync, "post-upgrade": PhasePostSync}
	helmOther    = []string{"pre-delete", "post-delete", "pre-rollback", "post-rollback", "test", "test-success", "test-failure"}
	helmAll      = []string{"pre-install", "pre-upgrade", "post-install", "post-upgrade", "pre-delete", "post-delete", "pre-rollback", "post-rollback", "test", "test-success", "test-failure", "crd-install"}
	helmPolicies = map[string]DeletePolicy{"before-hook-creation": BeforeHookCreation, "hook-succeeded": HookSucceeded, "hook-failed": HookFailed}
)

// csv splits an annotation's comma-separated values, trimmed, empty ones
// dropped.
func csv(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// HookOf reads obj's hook annotations as Argo CD does: argocd.argoproj.io/hook
// (a comma-separated list), else helm.sh/hook mapped onto Argo CD's phases. It
// returns nil for an object that is not a hook, and skip for the Skip hook
// alone (never applied). An unknown value is an error naming the object and
// the allowed values.
func HookOf(obj *unstructured.Unstructured) (h *Hook, skip bool, err error) {
	ann := obj.GetAnnotations()
	if v, ok := ann[AnnotationHook]; ok {
		types := csv(v)
		if len(types) == 0 {
			return nil, false, fmt.Errorf("%s: annotation %s is empty; use one or more of %s", Ref(obj), AnnotationHook, strings.Join(argoHookTypes, ", "))
		}
		h = &Hook{}
		seen := map[Phase]bool{}
		var notRun []string
		for _, t := range types {
			switch t {
			case "PreSync", "Sync", "PostSync", "SyncFail":
				seen[Phase(t)] = true
			case "PreDelete", "PostDelete":
				notRun = append(notRun, t)
			case "Skip":
			default:
				return nil, false, fmt.Errorf("%s: annotation %s=%q: %q is not a hook; use one or more of %s", Ref(obj), AnnotationHook, v, t, strings.Join(argoHookTypes, ", "))
			}
		}
		if len(types) == 1 && types[0] == "Skip" {
			return nil, true, nil
		}
		for _, p := range []Phase{PhasePreSync, PhaseSync, PhasePostSync, PhaseSyncFail} {
			if seen[p] {
				h.Phases = append(h.Phases, p)
			}
		}
		if len(h.Phases) == 0 && len(notRun) > 0 {
			h.NotRun = strings.Join(notRun, ",") + " hooks run when an app is deleted, not by sync"
		}
	} else if v, ok := ann[AnnotationHelmHook]; ok {
		types := csv(v)
		if len(types) == 1 && types[0] == "crd-install" {
			return nil, false, nil // Helm calls CRDs hooks; Argo CD applies them as resources
		}
		h = &Hook{Helm: true}
		seen := map[Phase]bool{}
		var notRun []string
		for _, t := range types {
			switch {
			case helmHooks[t] != "":
				seen[helmHooks[t]] = true
			case slices.Contains(helmOther, t):
				notRun = append(notRun, t)
			case t == "crd-install":
			default:
				return nil, false, fmt.Errorf("%s: annotation %s=%q: %q is not a Helm hook; use one or more of %s", Ref(obj), AnnotationHelmHook, v, t, strings.Join(helmAll, ", "))
			}
		}
		for _, p := range []Phase{PhasePreSync, PhasePostSync} {
			if seen[p] {
				h.Phases = append(h.Phases, p)
			}
		}
		if len(h.Phases) == 0 {
			h.NotRun = "Helm hook " + strings.Join(notRun, ",") + " is not run by sync (Argo CD runs only pre-install, pre-upgrade, post-install and post-upgrade)"
		}
	} else {
		return nil, false, nil
	}

	for _, p := range csv(ann[AnnotationHookDeletePolicy]) {
		if !slices.Contains(argoPolicies, p) {
			return nil, false, fmt.Errorf("%s: annotation %s=%q: %q is not a delete policy; use one or more of %s", Ref(obj), AnnotationHookDeletePolicy, ann[AnnotationHookDeletePolicy], p, strings.Join(argoPolicies, ", "))
		}
		h.addPolicy(DeletePolicy(p))
	}
	for _, p := range csv(ann[AnnotationHelmHookDeletePolicy]) {
		policy, ok := helmPolicies[p]
		if !ok {
			return nil, false, fmt.Errorf("%s: annotation %s=%q: %q is not a Helm delete policy; use one or more of before-hook-creation, hook-succeeded, hook-failed", Ref(obj), AnnotationHelmHookDeletePolicy, ann[AnnotationHelmHookDeletePolicy], p)
		}
		h.addPolicy(policy)
	}
	if len(h.Policies) == 0 {
		h.Policies = []DeletePolicy{BeforeHookCreation} // Argo CD's default
	}
	return h, false, nil
}

func (h *Hook) addPolicy(p DeletePolicy) {
	if !h.Has(p) {
		h.Policies = append(h.Policies, p)
	}
}
