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

// Phases in the order they run.
const (
	PhasePreSync  Phase = "PreSync"
	PhaseSync     Phase = "Sync"
	PhasePostSync Phase = "PostSync"
)

var phaseOrder = map[Phase]int{PhasePreSync: -1, PhaseSync: 0, PhasePostSync: 1}

// Ref names an object the way every message names it: Kind/namespace/name,
// or Kind/name when it is cluster-scoped.
func Ref(obj *unstructured.Unstructured) string {
	if ns := obj.GetNamespace(); ns != "" {
		return obj.GetKind() + "/" + ns + "/" + obj.GetName()
	}
	return obj.GetKind() + "/" + obj.GetName()
}

// waveOf parses the sync-wave annotation: an integer, default 0.
func waveOf(obj *unstructured.Unstructured) (int, error) {
	v, ok := obj.GetAnnotations()[AnnotationSyncWave]
	if !ok {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s: annotation %s=%q is not an integer; use a whole number such as \"-1\" or \"2\"", Ref(obj), AnnotationSyncWave, v)
	}
	return n, nil
}

// phaseOf reads the hook annotation. Objects without it sync in PhaseSync.
// skip reports the "Skip" hook, which Argo CD never applies.
func phaseOf(obj *unstructured.Unstructured) (phase Phase, skip bool, err error) {
	v, ok := obj.GetAnnotations()[AnnotationHook]
	if !ok {
		return PhaseSync, false, nil
	}
	switch p := Phase(strings.TrimSpace(v)); p {
	case PhasePreSync, PhaseSync, PhasePostSync:
		return p, false, nil
	case "Skip":
		return "", true, nil
	}
	return "", false, fmt.Errorf("%s: annotation %s=%q is not supported; use PreSync, Sync, PostSync or Skip", Ref(obj), AnnotationHook, v)
}

// IsSkipHook reports whether obj carries the Skip hook: Argo CD never applies
// it, and never prunes it while it is in Git.
func IsSkipHook(obj *unstructured.Unstructured) bool {
	_, skip, err := phaseOf(obj)
	return err == nil && skip
}
