package redact

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func secret() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"},
		"data":       map[string]any{"password": "czNjcjN0LXBhc3N3b3Jk"}, // s3cr3t-password
		"stringData": map[string]any{"token": "tok-123456", "config": "user: admin\npass: line-secret-value\n"},
	}}
}

func TestSecretsMasksValuesOnly(t *testing.T) {
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": map[string]any{"k": "visible"}}}
	in := []*unstructured.Unstructured{secret(), cm}
	out := Secrets(in)
	if v, _, _ := unstructured.NestedString(out[0].Object, "data", "password"); v != Mask {
		t.Errorf("data.password = %q", v)
	}
	if v, _, _ := unstructured.NestedString(out[0].Object, "stringData", "token"); v != Mask {
		t.Errorf("stringData.token = %q", v)
	}
	if v, _, _ := unstructured.NestedString(in[0].Object, "data", "password"); v == Mask {
		t.Errorf("the input was changed")
	}
	if out[1] != cm {
		t.Errorf("a ConfigMap was copied or changed")
	}
}

func TestRedactorMasksEveryForm(t *testing.T) {
	r := NewFromObjects([]*unstructured.Unstructured{secret()})
	msg := `Secret "db" is invalid: data[password]: Invalid value: "czNjcjN0LXBhc3N3b3Jk" (s3cr3t-password); token tok-123456 dG9rLTEyMzQ1Ng==; pass: line-secret-value`
	got := r.String(msg)
	for _, plain := range []string{"czNjcjN0LXBhc3N3b3Jk", "s3cr3t-password", "tok-123456", "dG9rLTEyMzQ1Ng==", "line-secret-value"} {
		if strings.Contains(got, plain) {
			t.Errorf("%q survived: %s", plain, got)
		}
	}
	if !strings.Contains(got, `Secret "db" is invalid`) {
		t.Errorf("the rest of the message was lost: %s", got)
	}
	var nilR *Redactor
	if nilR.String("x") != "x" {
		t.Errorf("a nil Redactor changed text")
	}
}

// Values learned with Add (decrypted from SOPS files) are masked in any
// object, in place, without touching objects that do not hold them.
func TestObjectsMasksAddedValues(t *testing.T) {
	r := &Redactor{}
	r.Add("dsn-password-123", "abc") // "abc" is too short to mask
	cm := &unstructured.Unstructured{Object: map[string]any{
		"kind": "ConfigMap",
		"data": map[string]any{"dsn": "postgres://app:dsn-password-123@db", "other": "abc"},
		"list": []any{"x", "ZHNuLXBhc3N3b3JkLTEyMw=="},
	}}
	plain := &unstructured.Unstructured{Object: map[string]any{"kind": "ConfigMap", "data": map[string]any{"k": "v"}}}
	out := r.Objects([]*unstructured.Unstructured{cm, plain})
	if out[1] != plain {
		t.Error("an object without secrets was copied")
	}
	data := out[0].Object["data"].(map[string]any)
	if data["dsn"] != "postgres://app:"+Mask+"@db" || data["other"] != "abc" {
		t.Errorf("data: %v", data)
	}
	if l := out[0].Object["list"].([]any); l[1] != Mask || l[0] != "x" {
		t.Errorf("list (base64 form): %v", l)
	}
	if cm.Object["data"].(map[string]any)["dsn"] == data["dsn"] {
		t.Error("the input object was changed")
	}
}
