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
