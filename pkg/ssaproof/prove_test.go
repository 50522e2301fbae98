package ssaproof

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

const manager = "kubectl-gitops"

func decode(t testing.TB, y string) *unstructured.Unstructured {
	t.Helper()
	objs, err := render.Decode([]byte(strings.ReplaceAll(y, "\t", "  ")))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("want one object, got %d", len(objs))
	}
	return objs[0]
}

// A ConfigMap as the server returns it after an apply of cmDesired.
const cmLive = `
apiVersion: v1
kind: ConfigMap
metadata:
	name: web
	namespace: prod
	uid: 0a4d
	resourceVersion: "12"
	creationTimestamp: "2026-01-01T00:00:00Z"
	labels: {app: web}
	managedFields:
	- manager: kubectl-gitops
		operation: Apply
		apiVersion: v1
		time: "2026-01-01T00:00:00Z"
		fieldsType: FieldsV1
		fieldsV1:
			f:data: {f:LOG_LEVEL: {}, f:PORT: {}}
			f:metadata: {f:labels: {f:app: {}}}
data: {LOG_LEVEL: info, PORT: "8000"}
`

const cmDesired = `
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: prod, labels: {app: web}}
data: {LOG_LEVEL: info, PORT: "8000"}
`

// A Deployment and a Service as the server returns them after an apply.
const deployLive = `
apiVersion: apps/v1
kind: Deployment
metadata:
	name: web
	namespace: prod
	generation: 1
	managedFields:
	- manager: kubectl-gitops
		operation: Apply
		apiVersion: apps/v1
		fieldsType: FieldsV1
		fieldsV1:
			f:spec:
				f:replicas: {}
				f:selector: {}
				f:template:
					f:metadata: {f:labels: {f:app: {}}}
					f:spec:
						f:containers:
							k:{"name":"main"}:
								.: {}
								f:name: {}
								f:image: {}
								f:args: {}
								f:ports:
									k:{"containerPort":8000,"protocol":"TCP"}: {.: {}, f:containerPort: {}}
							k:{"name":"side"}: {.: {}, f:name: {}, f:image: {}}
	- manager: kube-controller-manager
		operation: Update
		apiVersion: apps/v1
		subresource: status
		fieldsType: FieldsV1
		fieldsV1: {f:status: {f:replicas: {}}}
spec:
	replicas: 2
	revisionHistoryLimit: 10
	selector: {matchLabels: {app: web}}
	template:
		metadata: {labels: {app: web}}
		spec:
			containers:
			- name: main
				image: web:1
				args: [serve, --port=8000]
				imagePullPolicy: IfNotPresent
				ports: [{containerPort: 8000, protocol: TCP}]
			- name: side
				image: side:1
status: {replicas: 2}
`

const deployDesired = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
	replicas: 2
	selector: {matchLabels: {app: web}}
	template:
		metadata: {labels: {app: web}}
		spec:
			containers:
			- name: main
				image: web:1
				args: [serve, --port=8000]
				ports: [{containerPort: 8000}]
			- name: side
				image: side:1
`

// A custom resource whose whole spec.config was applied as one leaf.
const crLive = `
apiVersion: example.dev/v1
kind: Widget
metadata:
	name: w
	managedFields:
	- manager: kubectl-gitops
		operation: Apply
		apiVersion: example.dev/v1
		fieldsType: FieldsV1
		fieldsV1:
			f:spec: {f:config: {}, f:tags: {v:"a": {}, v:"b": {}}}
spec:
	config: {size: 1}
	tags: [a, b]
`

const crDesired = `
apiVersion: example.dev/v1
kind: Widget
metadata: {name: w}
spec:
	config: {size: 1}
	tags: [a, b]
`

type edit func(live, desired map[string]any)

func set(obj string, value any, path ...string) edit {
	return func(live, desired map[string]any) {
		m := desired
		if obj == "live" {
			m = live
		}
		if err := unstructured.SetNestedField(m, value, path...); err != nil {
			panic(err)
		}
	}
}

func del(obj string, path ...string) edit {
	return func(live, desired map[string]any) {
		m := desired
		if obj == "live" {
			m = live
		}
		unstructured.RemoveNestedField(m, path...)
	}
}

// entry edits the i-th managedFields entry of the live object.
func entry(i int, f func(e map[string]any)) edit {
	return func(live, _ map[string]any) {
		mf := live["metadata"].(map[string]any)["managedFields"].([]any)
		f(mf[i].(map[string]any))
	}
}

func containers(obj string, f func(cs []any) []any) edit {
	return func(live, desired map[string]any) {
		m := desired
		if obj == "live" {
			m = live
		}
		spec := m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		spec["containers"] = f(spec["containers"].([]any))
	}
}

func TestProve(t *testing.T) {
	cases := []struct {
		name          string
		live, desired string
		edits         []edit
		manager       string
		want          Verdict
	}{
		{name: "configmap re-applied", live: cmLive, desired: cmDesired, want: Verdict{Unchanged: true}},
		{name: "deployment re-applied", live: deployLive, desired: deployDesired, want: Verdict{Unchanged: true}},
		{name: "no live object", desired: cmDesired, want: Verdict{Reason: "no live object"}},
		{name: "never applied", live: cmLive, desired: cmDesired, manager: "other",
			want: Verdict{Reason: "never applied by other"}},
		{name: "apiVersion changed", live: cmLive, desired: cmDesired,
			edits: []edit{entry(0, func(e map[string]any) { e["apiVersion"] = "v0" })},
			want:  Verdict{Reason: "apiVersion changed from v0"}},
		{name: "read at another version", live: cmLive, desired: cmDesired, edits: []edit{set("desired", "v2", "apiVersion")},
			want: Verdict{Reason: "live object was read as v1, desired is v2"}},
		{name: "an update entry of ours too", live: cmLive, desired: cmDesired,
			edits: []edit{func(live, _ map[string]any) {
				meta := live["metadata"].(map[string]any)
				meta["managedFields"] = append(meta["managedFields"].([]any), map[string]any{"manager": manager, "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": map[string]any{}})
			}},
			want: Verdict{Reason: "kubectl-gitops also has a managedFields entry for operation Update"}},
		{name: "value changed in Git", live: cmLive, desired: cmDesired, edits: []edit{set("desired", "debug", "data", "LOG_LEVEL")},
			want: Verdict{Reason: "value differs at .data.LOG_LEVEL (or the server normalised it)"}},
		{name: "int against string", live: cmLive, desired: cmDesired, edits: []edit{set("desired", int64(8000), "data", "PORT")},
			want: Verdict{Reason: "value differs at .data.PORT (Git has an integer, live a string)"}},
		{name: "int from kustomize equals int64", live: deployLive, desired: deployDesired, edits: []edit{func(_, d map[string]any) {
			d["spec"].(map[string]any)["replicas"] = 2
		}}, want: Verdict{Unchanged: true}},
		{name: "float against int", live: deployLive, desired: deployDesired, edits: []edit{func(_, d map[string]any) {
			d["spec"].(map[string]any)["replicas"] = 2.0
		}}, want: Verdict{Reason: "value differs at .spec.replicas (Git has a float, live an integer)"}},
		{name: "field added in Git", live: cmLive, desired: cmDesired, edits: []edit{set("desired", "x", "data", "NEW"), set("desired", "y", "data", "NEW2")},
			want: Verdict{Reason: "fields added in Git: .data.NEW, .data.NEW2"}},
		{name: "field removed from Git", live: cmLive, desired: cmDesired, edits: []edit{del("desired", "data", "PORT")},
			want: Verdict{Reason: "fields removed from Git: .data.PORT"}},
		{name: "field owned by another manager", live: deployLive, desired: deployDesired,
			edits: []edit{
				entry(0, func(e map[string]any) {
					delete(e["fieldsV1"].(map[string]any)["f:spec"].(map[string]any), "f:replicas")
				}),
				func(live, _ map[string]any) {
					meta := live["metadata"].(map[string]any)
					meta["managedFields"] = append(meta["managedFields"].([]any), map[string]any{"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": map[string]any{"f:spec": map[string]any{"f:replicas": map[string]any{}}}})
				},
			},
			want: Verdict{Reason: "field .spec.replicas is owned by kubectl-edit now"}},
		{name: "live value changed", live: cmLive, desired: cmDesired, edits: []edit{set("live", "debug", "data", "LOG_LEVEL")},
			want: Verdict{Reason: "value differs at .data.LOG_LEVEL (or the server normalised it)"}},
		{name: "owned field gone from live", live: cmLive, desired: cmDesired, edits: []edit{del("live", "data", "PORT")},
			want: Verdict{Reason: "field .data.PORT is missing in the live object"}},
		{name: "null in Git", live: cmLive, desired: cmDesired, edits: []edit{func(_, d map[string]any) { d["data"].(map[string]any)["PORT"] = nil }},
			want: Verdict{Reason: "null value at .data.PORT"}},
		{name: "creationTimestamp in Git", live: cmLive, desired: cmDesired, edits: []edit{func(_, d map[string]any) { d["metadata"].(map[string]any)["creationTimestamp"] = nil }},
			want: Verdict{Reason: "metadata.creationTimestamp is set in Git (the server does not apply it)"}},
		{name: "namespace differs", live: cmLive, desired: cmDesired, edits: []edit{set("desired", "dev", "metadata", "namespace")},
			want: Verdict{Reason: "metadata.namespace differs from the live object's"}},
		{name: "last-applied with manager kubectl", live: cmLive, desired: cmDesired, manager: "kubectl",
			edits: []edit{set("live", "{}", "metadata", "annotations", LastAppliedAnnotation)},
			want:  Verdict{Reason: "the server rewrites kubectl.kubernetes.io/last-applied-configuration on an apply by kubectl"}},
		{name: "containers reordered in Git", live: deployLive, desired: deployDesired,
			edits: []edit{containers("desired", func(cs []any) []any { return []any{cs[1], cs[0]} })},
			want:  Verdict{Reason: "list .spec.template.spec.containers is in another order than in the live object"}},
		{name: "a container of another manager between ours", live: deployLive, desired: deployDesired,
			edits: []edit{containers("live", func(cs []any) []any {
				return []any{cs[0], map[string]any{"name": "injected", "image": "x"}, cs[1]}
			})},
			want: Verdict{Unchanged: true}},
		{name: "container added in Git", live: deployLive, desired: deployDesired,
			edits: []edit{containers("desired", func(cs []any) []any { return append(cs, map[string]any{"name": "new", "image": "x"}) })},
			want:  Verdict{Reason: "item 2 of .spec.template.spec.containers is not owned by kubectl-gitops (added in Git, or its key changed)"}},
		{name: "container removed from Git", live: deployLive, desired: deployDesired,
			edits: []edit{containers("desired", func(cs []any) []any { return cs[:1] })},
			want:  Verdict{Reason: "list items removed from Git: .spec.template.spec.containers[name=side]"}},
		{name: "port protocol explicit in Git but not owned", live: deployLive, desired: deployDesired,
			edits: []edit{containers("desired", func(cs []any) []any {
				cs[0].(map[string]any)["ports"] = []any{map[string]any{"containerPort": int64(8000), "protocol": "TCP"}}
				return cs
			})},
			want: Verdict{Reason: "fields added in Git: .spec.template.spec.containers[name=main].ports[containerPort=8000,protocol=TCP].protocol"}},
		{name: "port as a float", live: deployLive, desired: deployDesired,
			edits: []edit{containers("desired", func(cs []any) []any {
				cs[0].(map[string]any)["ports"] = []any{map[string]any{"containerPort": float64(8000.5)}}
				return cs
			})},
			want: Verdict{Reason: "item 0 of .spec.template.spec.containers[name=main].ports is not owned by kubectl-gitops (added in Git, or its key changed)"}},
		{name: "args reordered", live: deployLive, desired: deployDesired,
			edits: []edit{containers("desired", func(cs []any) []any {
				cs[0].(map[string]any)["args"] = []any{"--port=8000", "serve"}
				return cs
			})},
			want: Verdict{Reason: "value differs at .spec.template.spec.containers[name=main].args"}},
		{name: "atomic selector with fields below owned by another", live: deployLive, desired: deployDesired,
			edits: []edit{func(live, _ map[string]any) {
				meta := live["metadata"].(map[string]any)
				meta["managedFields"] = append(meta["managedFields"].([]any), map[string]any{"manager": "x", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": map[string]any{"f:spec": map[string]any{"f:selector": map[string]any{"f:matchLabels": map[string]any{}}}}})
			}},
			want: Verdict{Reason: "fields below .spec.selector are owned by x"}},
		{name: "custom resource whole value", live: crLive, desired: crDesired,
			want: Verdict{Reason: ".spec.config is owned as a whole and not known to be atomic (without the schema it cannot be told from a field applied empty and defaulted)"}},
		{name: "set items", live: crLive, desired: crDesired, edits: []edit{del("desired", "spec", "config"), entry(0, func(e map[string]any) {
			delete(e["fieldsV1"].(map[string]any)["f:spec"].(map[string]any), "f:config")
		})},
			want: Verdict{Unchanged: true}},
		{name: "set item removed", live: crLive, desired: crDesired, edits: []edit{del("desired", "spec", "config"), set("desired", []any{"a"}, "spec", "tags"), entry(0, func(e map[string]any) {
			delete(e["fieldsV1"].(map[string]any)["f:spec"].(map[string]any), "f:config")
		})},
			want: Verdict{Reason: "list items removed from Git: .spec.tags[b]"}},
		{name: "set reordered", live: crLive, desired: crDesired, edits: []edit{del("desired", "spec", "config"), set("desired", []any{"b", "a"}, "spec", "tags"), entry(0, func(e map[string]any) {
			delete(e["fieldsV1"].(map[string]any)["f:spec"].(map[string]any), "f:config")
		})},
			want: Verdict{Reason: "list .spec.tags is in another order than in the live object"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var live *unstructured.Unstructured
			if tc.live != "" {
				live = decode(t, tc.live)
			}
			desired := decode(t, tc.desired)
			for _, e := range tc.edits {
				e(live.Object, desired.Object)
			}
			m := tc.manager
			if m == "" {
				m = manager
			}
			var before *unstructured.Unstructured
			if tc.name != "int from kustomize equals int64" { // DeepCopy refuses int
				before = desired.DeepCopy()
			}
			var liveBefore *unstructured.Unstructured
			if live != nil {
				liveBefore = live.DeepCopy()
			}
			got := Prove(live, desired, m)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Prove (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, desired); before != nil && diff != "" {
				t.Errorf("Prove modified desired (-before +after):\n%s", diff)
			}
			if live != nil {
				if diff := cmp.Diff(liveBefore, live); diff != "" {
					t.Errorf("Prove modified live (-before +after):\n%s", diff)
				}
			}
		})
	}
}

// BenchmarkProveFixtures proves 600 objects (the ConfigMap and the
// Deployment above, 300 each) unchanged per op, without a server.
// BenchmarkProve600 does the same with objects listed from a real one.
func BenchmarkProveFixtures(b *testing.B) {
	type pair struct{ live, desired *unstructured.Unstructured }
	var pairs []pair
	for i := 0; i < 300; i++ {
		pairs = append(pairs, pair{decode(b, cmLive), decode(b, cmDesired)}, pair{decode(b, deployLive), decode(b, deployDesired)})
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range pairs {
			if !Prove(p.live, p.desired, manager).Unchanged {
				b.Fatal("not proven")
			}
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	for _, in := range []string{
		`{"name":"main"}`, `{"containerPort":8000,"protocol":"TCP"}`, `"a"`, `-12`, `1.5`, `1e3`, `true`,
		`{"a":"x\"y"}`, `{"a":{"b":1}}`, `{"a":null}`, `{}`, `{"a":1,}`, `"unterminated`, `99999999999999999999`,
	} {
		t.Run(in, func(t *testing.T) {
			want, wantErr := func() (any, error) {
				var v any
				if err := json.Unmarshal([]byte(in), &v); err != nil {
					return nil, err
				}
				return numbers(func() any {
					dec := json.NewDecoder(strings.NewReader(in))
					dec.UseNumber()
					var v any
					_ = dec.Decode(&v)
					return v
				}())
			}()
			got, err := decodeJSON(in)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("error %v, want %v", err, wantErr)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
