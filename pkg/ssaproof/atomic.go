package ssaproof

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The fields of built-in kinds that the API server's schema marks atomic
// (+listType=atomic, +mapType=atomic, +structType=atomic) and that
// manifests commonly set. A manager that applied such a field owns it as one
// leaf of its field set, whatever it holds.
//
// The list matters because a leaf alone does not say atomic: a granular
// field applied as {} (or null) is a leaf too, and if defaulting then fills
// it, applying the filled value makes the manager own each field below it, a
// change in managedFields with no change in values. A field not listed here
// is never proven from a leaf, only by its fields one by one. The server
// test checks that every entry it meets is a leaf on the real server.
//
// Paths are field names joined by dots, with * for a list item.
var atomicFields = func() map[schema.GroupKind]map[string]bool {
	container := []string{"command", "args", "envFrom"}
	podSpec := func(prefix string) []string {
		out := []string{prefix + ".nodeSelector", prefix + ".tolerations"}
		for _, list := range []string{"containers", "initContainers", "ephemeralContainers"} {
			for _, f := range container {
				out = append(out, prefix+"."+list+".*."+f)
			}
		}
		return out
	}
	m := map[schema.GroupKind]map[string]bool{}
	add := func(group, kind string, paths ...string) {
		gk := schema.GroupKind{Group: group, Kind: kind}
		if m[gk] == nil {
			m[gk] = map[string]bool{}
		}
		for _, p := range paths {
			m[gk][p] = true
		}
	}
	add("", "Pod", podSpec("spec")...)
	for _, kind := range []string{"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"} {
		add("apps", kind, "spec.selector")
		add("apps", kind, podSpec("spec.template.spec")...)
	}
	add("", "ReplicationController", podSpec("spec.template.spec")...)
	add("batch", "Job", "spec.selector")
	add("batch", "Job", podSpec("spec.template.spec")...)
	add("batch", "CronJob", podSpec("spec.jobTemplate.spec.template.spec")...)
	add("", "Service", "spec.selector")
	add("policy", "PodDisruptionBudget", "spec.selector")
	add("autoscaling", "HorizontalPodAutoscaler", "spec.metrics", "spec.behavior.scaleUp.policies", "spec.behavior.scaleDown.policies")
	return m
}()

// atomic reports whether path of a gk object is a known atomic field.
// autoscaling/v1 has no metrics, so one table serves both versions.
func atomic(gk schema.GroupKind, path []elem) bool {
	fields := atomicFields[gk]
	if fields == nil {
		return false
	}
	var b strings.Builder
	for i, e := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		if e.item {
			b.WriteByte('*')
		} else {
			b.WriteString(e.field)
		}
	}
	return fields[b.String()]
}

// atomicPath reports whether the dotted path (with * for list items) of a
// gk object is one Prove knows to be atomic. It is for tests that check the
// table against a real server.
func atomicPath(gk schema.GroupKind, path string) bool { return atomicFields[gk][path] }
