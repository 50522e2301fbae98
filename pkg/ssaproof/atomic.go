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
var atomicFields = func() map[schema.GroupKind][][]string {
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
	m := map[schema.GroupKind][][]string{}
	add := func(group, kind string, paths ...string) {
		gk := schema.GroupKind{Group: group, Kind: kind}
		for _, p := range paths {
			m[gk] = append(m[gk], strings.Split(p, "."))
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

// atomicInVersion are atomic fields of one version only. autoscaling/v1's
// scaleTargetRef has no marker in the Go types, but the v1.37 server records
// a non-empty one as a leaf, which only an atomic field gives; in
// autoscaling/v2 it records the fields below it.
var atomicInVersion = map[schema.GroupVersionKind][][]string{
	{Group: "autoscaling", Version: "v1", Kind: "HorizontalPodAutoscaler"}: {{"spec", "scaleTargetRef"}},
}

// atomic reports whether path of a gvk object is a known atomic field.
func atomic(gvk schema.GroupVersionKind, path []elem) bool {
	for _, pattern := range atomicInVersion[gvk] {
		if matches(pattern, path) {
			return true
		}
	}
	for _, pattern := range atomicFields[gvk.GroupKind()] {
		if matches(pattern, path) {
			return true
		}
	}
	return false
}

func matches(pattern []string, path []elem) bool {
	if len(pattern) != len(path) {
		return false
	}
	for i, e := range path {
		if e.item != (pattern[i] == "*") || (!e.item && e.field != pattern[i]) {
			return false
		}
	}
	return true
}
