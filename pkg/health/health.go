// Package health tells how healthy a live object is, in Argo CD's words,
// computed by kstatus (sigs.k8s.io/cli-utils/pkg/kstatus).
//
//	h := health.Assess(liveObject)
//	if h.Status == health.Degraded { ... h.Message ... }
package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Status is Argo CD's health vocabulary.
type Status string

// Health statuses.
const (
	Healthy     Status = "Healthy"
	Progressing Status = "Progressing"
	Degraded    Status = "Degraded"
	Suspended   Status = "Suspended"
	Missing     Status = "Missing"
	Unknown     Status = "Unknown"
)

// Result is an object's health and why.
type Result struct {
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
}

// Settled reports whether a sync may move past an object in this state:
// Healthy, or Suspended (which does not progress by itself).
func (r Result) Settled() bool { return r.Status == Healthy || r.Status == Suspended }

// Assess computes the health of a live object; nil means Missing. Objects
// without a health notion (a ConfigMap) are Healthy.
func Assess(obj *unstructured.Unstructured) Result {
	if obj == nil {
		return Result{Status: Missing, Message: "object not found"}
	}
	if suspended(obj) {
		return Result{Status: Suspended, Message: "suspended"}
	}
	res, err := status.Compute(obj)
	if err != nil {
		return Result{Status: Unknown, Message: err.Error()}
	}
	switch res.Status {
	case status.CurrentStatus:
		return Result{Status: Healthy, Message: res.Message}
	case status.InProgressStatus, status.TerminatingStatus:
		return Result{Status: Progressing, Message: res.Message}
	case status.FailedStatus:
		return Result{Status: Degraded, Message: res.Message}
	case status.NotFoundStatus:
		return Result{Status: Missing, Message: res.Message}
	}
	return Result{Status: Unknown, Message: res.Message}
}

// suspended follows Argo CD: a paused Deployment and a suspended CronJob or
// Job are Suspended, not Progressing.
func suspended(obj *unstructured.Unstructured) bool {
	gk := obj.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "apps" && gk.Kind == "Deployment":
		paused, _, _ := unstructured.NestedBool(obj.Object, "spec", "paused")
		return paused
	case gk.Group == "batch" && (gk.Kind == "CronJob" || gk.Kind == "Job"):
		s, _, _ := unstructured.NestedBool(obj.Object, "spec", "suspend")
		return s
	}
	return false
}

// order is Argo CD's, from the healthiest to the worst (gitops-engine's
// health order): an app is as healthy as its worst object.
var order = map[Status]int{Healthy: 0, Suspended: 1, Progressing: 2, Missing: 3, Degraded: 4, Unknown: 5}

// Worse reports whether b is a worse health than a, in Argo CD's order
// Healthy, Suspended, Progressing, Missing, Degraded, Unknown. A status
// outside that vocabulary counts as Unknown.
func Worse(a, b Status) bool { return rank(b) > rank(a) }

func rank(s Status) int {
	if r, ok := order[s]; ok {
		return r
	}
	return order[Unknown]
}

// Aggregate is the health of a set of objects: the worst of them, in Argo
// CD's order; Healthy when there are none.
func Aggregate(statuses ...Status) Status {
	worst := Healthy
	for _, s := range statuses {
		if Worse(worst, s) {
			worst = s
		}
	}
	if _, ok := order[worst]; !ok {
		return Unknown
	}
	return worst
}
