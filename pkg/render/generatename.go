package render

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// annotationGenerateName marks, during a build, a hook whose
// metadata.generateName stood in for the name kustomize requires.
const annotationGenerateName = "gitops.kubectl-gitops.dev/generate-name"

// generateNameFS lets kustomize build hooks that have metadata.generateName
// and no name (Argo CD's own hook examples do; kustomize refuses any
// resource without a name). As a file is read, each such hook (an object
// with argocd.argoproj.io/hook or helm.sh/hook) gets its generateName as its
// name and a marker; after the build restoreGenerateNames turns the name,
// with namePrefix and nameSuffix applied, back into generateName. Other
// objects and files are read as they are.
type generateNameFS struct{ filesys.FileSystem }

func (g *generateNameFS) ReadFile(path string) ([]byte, error) {
	data, err := g.FileSystem.ReadFile(path)
	if err != nil || !bytes.Contains(data, []byte("generateName")) {
		return data, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
	default:
		return data, nil
	}
	nodes, err := kio.FromBytes(data)
	if err != nil {
		return data, nil // kustomize says what is wrong with it
	}
	changed := false
	for _, n := range nodes {
		if n.GetName() != "" || n.GetKind() == "" {
			continue
		}
		gen, err := n.Pipe(kyaml.Lookup("metadata", "generateName"))
		if err != nil || gen == nil || kyaml.GetValue(gen) == "" {
			continue
		}
		ann := n.GetAnnotations()
		if _, argo := ann["argocd.argoproj.io/hook"]; !argo {
			if _, helm := ann["helm.sh/hook"]; !helm {
				continue
			}
		}
		if err := n.SetName(kyaml.GetValue(gen)); err != nil {
			return data, nil
		}
		ann[annotationGenerateName] = "true"
		if err := n.SetAnnotations(ann); err != nil {
			return data, nil
		}
		changed = true
	}
	if !changed {
		return data, nil
	}
	out, err := kio.StringAll(nodes)
	if err != nil {
		return data, nil
	}
	return []byte(out), nil
}

// restoreGenerateNames turns the marked hooks' names back into
// generateName. The marker anywhere else (a generator that read a rewritten
// file as data) is an error: the data would not be the file's.
func restoreGenerateNames(objs []map[string]any) error {
	for _, o := range objs {
		meta, _ := o["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		if _, ok := ann[annotationGenerateName]; ok {
			meta["generateName"] = meta["name"]
			delete(meta, "name")
			delete(ann, annotationGenerateName)
			if len(ann) == 0 {
				delete(meta, "annotations")
			}
		}
		if where := findString(o, annotationGenerateName); where != "" {
			return fmt.Errorf("%s/%v: %s holds a hook file kubectl-gitops rewrote to let kustomize build its generateName; read that file as data from a copy without generateName, or give the hook a name", o["kind"], meta["name"], where)
		}
	}
	return nil
}

// findString says where (a field path) a string value contains s.
func findString(v any, s string) string {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if w := findString(e, s); w != "" {
				return "." + k + w
			}
		}
	case []any:
		for i, e := range t {
			if w := findString(e, s); w != "" {
				return fmt.Sprintf("[%d]%s", i, w)
			}
		}
	case string:
		if strings.Contains(t, s) {
			return ":"
		}
	}
	return ""
}
