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
