package health

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, s string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAssess(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want Status
	}{
		{"configmap has no health notion", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, generation: 1}\n", Healthy},
		{"deployment rolling out", `apiVersion: apps/v1
kind: Deployment
metadata: {name: a, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 1, replicas: 2}
`, Progressing},
		{"deployment available", `apiVersion: apps/v1
kind: Deployment
metadata: {name: a, generation: 1}
spec: {replicas: 2}
status:
  observedGeneration: 1
  replicas: 2
  updatedReplicas: 2
  readyReplicas: 2
  availableReplicas: 2
  conditions: [{type: Available, status: "True"}, {type: Progressing, status: "True", reason: NewReplicaSetAvailable}]
`, Healthy},
		{"deployment past its progress deadline", `apiVersion: apps/v1
kind: Deployment
metadata: {name: a, generation: 1}
spec: {replicas: 2}
status:
  observedGeneration: 1
  replicas: 2
  conditions: [{type: Progressing, status: "False", reason: ProgressDeadlineExceeded, message: "timed out"}]
`, Degraded},
		{"paused deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {paused: true}\n", Suspended},
		{"suspended cronjob", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}\nspec: {suspend: true}\n", Suspended},
	}
	for _, tt := range tests {
		if got := Assess(obj(t, tt.obj)); got.Status != tt.want {
			t.Errorf("%s: %s (%s), want %s", tt.name, got.Status, got.Message, tt.want)
		}
	}
	if got := Assess(nil); got.Status != Missing {
		t.Errorf("nil: %s, want Missing", got.Status)
	}
}

// The app's health is its worst object's, in Argo CD's order Healthy <
// Suspended < Progressing < Missing < Degraded < Unknown.
func TestAggregate(t *testing.T) {
	tests := []struct {
		name string
		in   []Status
		want Status
	}{
		{"no objects", nil, Healthy},
		{"all healthy", []Status{Healthy, Healthy}, Healthy},
		{"suspended beats healthy", []Status{Healthy, Suspended}, Suspended},
		{"progressing beats suspended", []Status{Suspended, Progressing, Healthy}, Progressing},
		{"missing beats progressing", []Status{Progressing, Missing}, Missing},
		{"degraded beats missing", []Status{Missing, Degraded, Progressing}, Degraded},
		{"unknown is worst", []Status{Degraded, Unknown, Healthy}, Unknown},
		{"order of the objects does not matter", []Status{Degraded, Missing}, Degraded},
		{"a word outside the vocabulary is unknown", []Status{Healthy, "Weird"}, Unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Aggregate(tt.in...); got != tt.want {
				t.Errorf("Aggregate(%v) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
