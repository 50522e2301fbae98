package plan

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Annotations read from rendered objects, as Argo CD names them.
const (
	AnnotationSyncWave    = "argocd.argoproj.io/sync-wave"
	AnnotationSyncOptions = "argocd.argoproj.io/sync-options"
	AnnotationHook        = "argocd.argoproj.io/hook"
)

// Phase is a sync phase.
type Phase string

// Phases in the order they run (PhaseSyncFail, last, only when a sync
// fails).
const (
	PhasePreSync  Phase = "PreSync"
	PhaseSync     Phase = "Sync"
	PhasePostSync Phase = "PostSync"
)

var phaseOrder = map[Phase]int{PhasePreSync: -1, PhaseSync: 0, PhasePostSync: 1, PhaseSyncFail: 2}

// Ref names an object the way every message names it: Kind/namespace/name,
// or Kind/name when it is cluster-scoped. An object the server names (a
// hook with metadata.generateName) shows its prefix and a star.
func Ref(obj *unstructured.Unstructured) string {
	name := obj.GetName()
	if name == "" && obj.GetGenerateName() != "" {
		name = obj.GetGenerateName() + "*"
	}
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + "/" + ns + "/" + name
	}
	return obj.GetKind() + "/" + name
}

// waveOf parses the sync-wave annotation, an integer, else (as Argo CD)
// Helm's helm.sh/hook-weight, which is 0 when it is not one (as in Helm
// and Argo CD); default 0.
func waveOf(obj *unstructured.Unstructured) (int, error) {
	if v, ok := obj.GetAnnotations()[AnnotationSyncWave]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("%s: annotation %s=%q is not an integer; use a whole number such as \"-1\" or \"2\"", Ref(obj), AnnotationSyncWave, v)
		}
		return n, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(obj.GetAnnotations()[AnnotationHelmHookWeight]))
	if err != nil {
		return 0, nil // Atoi gives the nearest int for a number out of range
	}
	return n, nil
}

// IsSkipHook reports whether obj carries the Skip hook (alone): Argo CD
// never applies it, and never prunes it while it is in Git.
func IsSkipHook(obj *unstructured.Unstructured) bool {
	_, skip, err := HookOf(obj)
	return err == nil && skip
}

// IsHook reports whether obj is a hook (created by a sync phase, or one
// sync never runs); the Skip hook is not one.
func IsHook(obj *unstructured.Unstructured) bool {
	h, _, err := HookOf(obj)
	return err == nil && h != nil
}
