package render

import (
	"strings"
	"testing"
)

// Every file a kustomize build reads is bounded as a plain directory's
// files are: a resource, a generator's file, the kustomization itself. A
// file just under the bound builds.
func TestKustomizeFilesAreBounded(t *testing.T) {
	big := func(size int) string {
		head := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: "
		return head + strings.Repeat("x", size-len(head)-1) + "\n"
	}
	root := writeTree(t, map[string]string{
		"resource/kustomization.yaml":      "resources: [big.yaml]\n",
		"resource/big.yaml":                big(MaxFileSize + 1),
		"generator/kustomization.yaml":     "configMapGenerator:\n- name: values\n  files: [values.yaml]\n",
		"generator/values.yaml":            big(MaxFileSize + 1),
		"kustomization/kustomization.yaml": "resources: []\n# " + strings.Repeat("x", MaxFileSize) + "\n",
		"under/kustomization.yaml":         "resources: [big.yaml]\n",
		"under/big.yaml":                   big(MaxFileSize),
	})
	for path, want := range map[string]string{
		"resource":      "big.yaml: file is larger than 16 MiB; split it",
		"generator":     "values.yaml: file is larger than 16 MiB; split it",
		"kustomization": "kustomization.yaml: file is larger than 16 MiB; split it",
	} {
		if _, err := Render(root, path, Options{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Render(%q): got %v, want an error containing %q", path, err, want)
		}
	}
	objs, err := Render(root, "under", Options{})
	if err != nil || len(objs) != 1 {
		t.Errorf("Render of a file of exactly %d bytes: %d objects, %v", MaxFileSize, len(objs), err)
	}
}
