package ignore

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// plainJQ matches jq path expressions made only of field and index
// steps, iteration, recursion, pipes and commas: no conditions (select,
// if, //), whose paths could depend on values the first removal took away.
var plainJQ = regexp.MustCompile(`^(\s*(\.[A-Za-z_][A-Za-z0-9_]*|\.?\["[^"\\]*"\]|\.?\[[0-9]*\]|\.\.|\.|\||,))*\s*$`)

// leaves lists the paths of obj's scalars, empty maps and empty lists.
func leaves(v any, at Path, out *[]Path) {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 && len(at) > 0 {
			*out = append(*out, at)
		}
		for k, x := range t {
			leaves(x, append(append(Path{}, at...), k), out)
		}
	case []any:
		if len(t) == 0 {
			*out = append(*out, at)
		}
		for i, x := range t {
			leaves(x, append(append(Path{}, at...), i), out)
		}
	default:
		*out = append(*out, at)
	}
}

// removed is what Remove should leave of v (at path at), written from its
// documentation: the ignored paths go (a list item is spliced out), then
// every map they emptied, except the object itself and list items; a
// list that ends up empty stays. keep is false for a map that goes.
func removed(v any, at Path, ignored []Path) (out any, keep bool) {
	is := func(p Path) bool {
		for _, q := range ignored {
			if comparePaths(p, q) == 0 {
				return true
			}
		}
		return false
	}
	switch t := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, x := range t {
			p := append(append(Path{}, at...), k)
			if is(p) {
				continue
			}
			if r, keep := removed(x, p, ignored); keep {
				m[k] = r
			}
		}
		if len(m) == 0 && len(t) > 0 && len(at) > 0 {
			if _, item := at[len(at)-1].(int); !item {
				return nil, false
			}
		}
		return m, true
	case []any:
		l := []any{}
		for i, x := range t {
			p := append(append(Path{}, at...), i)
			if is(p) {
				continue
			}
			r, _ := removed(x, p, ignored)
			l = append(l, r)
		}
		return l, true
	}
	return v, true
}

func hasInt(paths []Path) bool {
	for _, p := range paths {
		for _, e := range p {
			if _, ok := e.(int); ok {
				return true
			}
		}
	}
	return false
}

// FuzzRules: a rule of a JSON pointer, a jq path expression and field
// managers compiles or is refused with an error naming what is wrong; on
// any object, what it ignores are paths in the object, none inside
// another; Remove, Respect and RemoveLive never panic nor change their
// arguments; Remove leaves what removed (written from Remove's
// documentation) says. When no ignored path goes through a list index
// (nothing is spliced out of a list): every ignored path is gone from the
// result, every field it does not address is still there with its value,
// the result has no field the object lacked, removing again changes
// nothing (for pointers and jq expressions without conditions), and
// Respect with the object as both desired and live gives the object back.
func FuzzRules(f *testing.F) {
	deployment := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"prod","labels":{"app":"web","a/b":"x","c~d":"y"},
"managedFields":[{"manager":"kube-controller-manager","operation":"Update","fieldsV1":{"f:spec":{"f:replicas":{}}}},
{"manager":"hpa","operation":"Update","fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{"f:resources":{}}}}}}}}]},
"spec":{"replicas":3,"template":{"spec":{"initContainers":[{"name":"injected","image":"proxy"},{"name":"init"}],"containers":[{"name":"web","image":"web:1","resources":{"limits":{"cpu":"1"}}},{"name":"sidecar","image":"s:1"}]}}},
"status":{"replicas":3}}`
	webhook := `{"apiVersion":"admissionregistration.k8s.io/v1","kind":"MutatingWebhookConfiguration","metadata":{"name":"w"},"webhooks":[{"name":"a","clientConfig":{"caBundle":"Y2E="}},{"name":"b","clientConfig":{"caBundle":"Y2I="}}]}`
	for _, s := range []struct {
		pointer, jq, kind string
		managers          bool
	}{
		// The examples of Argo CD's diffing documentation.
		{"/spec/replicas", "", "Deployment", false},
		{"", ".spec.template.spec.initContainers[] | select(.name == \"injected\")", "Deployment", false},
		{"/webhooks/0/clientConfig/caBundle", ".webhooks[]?.clientConfig.caBundle", "MutatingWebhookConfiguration", false},
		{"", "", "*", true},
		{"/metadata/labels/a~1b", ".metadata.labels[\"c~d\"]", "*", false},
		{"/spec/template/spec/containers/1", ".spec.template.spec.containers[0].image", "Deploy*", true},
		{"/status", "..", "*", false},
		{"/metadata/managedFields", ".metadata | .name, .namespace", "*", true},
		{"spec/replicas", "", "*", false},
		{"/a~2b", "", "*", false},
		{"/", "", "*", false},
		{"", ".spec | select(", "*", false},
		{"", "length", "*", false},
		{"", ".spec.template.spec.containers[1:]", "*", false},
		{"/spec/replicas", "", "", false},
		{"/spec/replicas", "", "[", false},
	} {
		f.Add([]byte(deployment), s.pointer, s.jq, s.kind, s.managers)
		f.Add([]byte(webhook), s.pointer, s.jq, s.kind, s.managers)
	}
	f.Add([]byte(`{"a":{"b":{}},"l":[[],{}],"n":null,"x":1.5}`), "/a/b", ".l[1]", "*", false)
	f.Fuzz(func(t *testing.T, data []byte, pointer, jq, kind string, managers bool) {
		if len(data) > 8<<10 || len(jq) > 200 || len(pointer) > 200 || len(kind) > 100 {
			return
		}
		r := Rule{Kind: kind}
		if pointer != "" {
			r.JSONPointers = []string{pointer}
		}
		if jq != "" {
			r.JQPathExpressions = []string{jq}
		}
		if managers {
			r.ManagedFieldsManagers = []string{"kube-controller-manager", "hpa"}
		}
		rules, err := Compile([]Rule{r})
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "ignoreDifferences[0]: ") {
				t.Fatalf("error does not name the rule: %v", err)
			}
			if !strings.Contains(msg, "kind") && !strings.Contains(msg, "ignores nothing") &&
				!strings.Contains(msg, "jsonPointers[0]") && !strings.Contains(msg, "jqPathExpressions[0]") {
				t.Fatalf("error does not name the field: %v", err)
			}
			return
		}
		var m map[string]any
		if utiljson.Unmarshal(data, &m) != nil || m == nil {
			return
		}
		obj := &unstructured.Unstructured{Object: m}
		before := obj.DeepCopy()

		paths := Paths(rules, obj, obj)
		for i, p := range paths {
			if len(p) == 0 {
				t.Fatal("the whole object ignored")
			}
			if _, ok := get(obj.Object, p); !ok {
				t.Fatalf("ignored path %s is not in the object", p)
			}
			for j, q := range paths {
				if i != j && hasPrefix(p, q) {
					t.Fatalf("ignored paths %s and %s: one inside the other", q, p)
				}
			}
		}
		out := Remove(rules, obj, obj)
		respected := Respect(rules, obj, obj)
		live := RemoveLive(rules, obj)
		if !reflect.DeepEqual(obj.Object, before.Object) {
			t.Fatal("the object was changed")
		}
		md, _ := obj.Object["metadata"].(map[string]any)
		if _, has := md["managedFields"]; !has && !reflect.DeepEqual(live.Object, Remove(rules, obj, obj).Object) {
			t.Fatalf("without managedFields, RemoveLive differs from Remove:\n%v\n%v", live.Object, out.Object)
		}
		if want, _ := removed(obj.Object, nil, paths); !reflect.DeepEqual(out.Object, want) {
			t.Fatalf("removing %v:\n got %v\nwant %v", paths, out.Object, want)
		}
		if hasInt(paths) {
			return
		}
		for _, p := range paths {
			if _, ok := get(out.Object, p); ok {
				t.Fatalf("ignored path %s still in the result", p)
			}
		}
		var kept []Path
		leaves(obj.Object, nil, &kept)
	leaf:
		for _, l := range kept {
			for _, p := range paths {
				if hasPrefix(l, p) {
					continue leaf
				}
			}
			want, _ := get(obj.Object, l)
			if got, ok := get(out.Object, l); !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("field %s, not ignored, removed or changed: %v, want %v", l, got, want)
			}
		}
		var outLeaves []Path
		leaves(out.Object, nil, &outLeaves)
		for _, l := range outLeaves {
			if _, ok := get(obj.Object, l); !ok {
				t.Fatalf("field %s is new", l)
			}
		}
		if pointerOrPlain := jq == "" || plainJQ.MatchString(jq); pointerOrPlain {
			if again := Remove(rules, out, out); !reflect.DeepEqual(again.Object, out.Object) {
				t.Fatalf("removing twice differs from once:\nonce:  %v\ntwice: %v", out.Object, again.Object)
			}
		}
		for _, p := range paths {
			if s, _ := p[0].(string); s == "status" || (s == "metadata" && len(p) > 1 && notCopied[fmt.Sprint(p[1])]) {
				return
			}
		}
		if !reflect.DeepEqual(respected.Object, obj.Object) {
			t.Fatalf("Respect with the object as desired and live:\n%v\nwant %v", respected.Object, obj.Object)
		}
	})
}
