package imageset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// SetApplication sets images in spec.source.kustomize.images of each Argo CD
// Application (apiVersion argoproj.io/*, kind Application) in data, and
// returns the result and the entries that are new or differ, one per
// Application and image in document order. When nothing changes, it returns
// data itself and nil entries.
//
// Argo CD writes each entry as a string in the argument form of
// `kustomize edit set image` (Image.String), and before it builds it runs
// that command with those strings, in order, so at build time the last
// string of a name wins. SetApplication therefore matches an existing
// string to an image by the name Parse reads from it (not by Argo CD's
// `argocd app set --kustomize-image` prefix match, which takes
// localhost:5000/a and localhost:5000/b for one image):
//   - An image with strings of its name replaces the first of them, in
//     place, and the later ones are removed. Its "*" parts take those of the
//     string in effect (the last).
//   - An image without one is appended, "*" parts and all: kustomize
//     resolves them against the kustomization when Argo CD builds.
//   - Of several images of one name the last counts.
//   - An image that does not read back from its string (a new name with a
//     port and no path, such as localhost:5000) is an error.
//
// The Application must have a single source, spec.source, of a kind that
// kustomize builds: an error names spec.source.helm, .directory, .plugin or
// .chart when one is set, and spec.sources or spec.sourceHydrator when the
// Application uses them. A source without a kustomize section gets one.
//
// Documents other than the changed Applications keep their bytes, and so
// does the rest of a changed Application in the usual case: only the lines
// of the list change (a changed string keeps its quoting and its comment),
// and a new list or kustomize section is added after the last line of the
// mapping it goes into. Where the text is of another shape (flow style, a
// list or section written as null, a string over several lines), the
// document is re-encoded by kyaml instead: comments, key order and quoting
// stay, indentation becomes two spaces, with lists indented as the file's
// first one is. Documents must be separated by "---" lines of their own.
func SetApplication(data []byte, images []Image) ([]byte, []Entry, error) {
	if len(images) == 0 {
		return nil, nil, ErrNoImages
	}
	for _, im := range images {
		if back, err := Parse(im.String()); err != nil || back != im {
			return nil, nil, fmt.Errorf("image %s cannot be written as an Argo CD image string: kustomize would read it as name %q, new name %q, tag %q, digest %q", im, back.Name, back.NewName, back.NewTag, back.Digest)
		}
	}
	images = lastOfEachName(images)
	var out []byte
	var changed []Entry
	found := false
	for i, doc := range splitDocuments(data) {
		node, err := decodeDocument(doc.body)
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, doc.separator...)
		if node == nil || !isApplication(node) {
			out = append(out, doc.body...)
			continue
		}
		found = true
		app := yaml.NewRNode(node.Content[0])
		entries, edit, err := setApplicationImages(app, images)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", applicationName(app), err)
		}
		if len(entries) == 0 {
			out = append(out, doc.body...)
			continue
		}
		changed = append(changed, entries...)
		style := seqIndentStyle(doc.body, data)
		b, ok := spliceApplication(doc.body, node, edit, style)
		if !ok {
			if b, err = yaml.MarshalWithOptions(node, &yaml.EncoderOptions{SeqIndent: style}); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", applicationName(app), err)
			}
		}
		out = append(out, b...)
	}
	if !found {
		return nil, nil, errors.New("no Argo CD Application (apiVersion argoproj.io/v1alpha1, kind Application) in the data")
	}
	if len(changed) == 0 {
		return data, nil, nil
	}
	return out, changed, nil
}

// lastOfEachName keeps one image per name, the last, at the place of the
// first (kustomize: the last argument of a name wins).
func lastOfEachName(images []Image) []Image {
	at := map[string]int{}
	var out []Image
	for _, im := range images {
		if i, ok := at[im.Name]; ok {
			out[i] = im
			continue
		}
		at[im.Name] = len(out)
		out = append(out, im)
	}
	return out
}

// document is one YAML document of a stream: the "---" line that opens it
// (empty for the first) and the rest.
type document struct{ separator, body []byte }

var documentStart = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?\r?\n?$`)

// splitDocuments splits data at lines that hold only "---" (and perhaps a
// comment), keeping every byte.
func splitDocuments(data []byte) []document {
	var docs []document
	cur := document{}
	rest := data
	for {
		loc := documentStart.FindIndex(rest)
		if loc == nil {
			cur.body = rest
			return append(docs, cur)
		}
		end := loc[1]
		if end < len(rest) && rest[end] == '\n' {
			end++
		}
		cur.body = rest[:loc[0]]
		docs = append(docs, cur)
		cur = document{separator: rest[loc[0]:end]}
		rest = rest[end:]
	}
}

// decodeDocument parses one document; nil for one without content.
func decodeDocument(body []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(body))
	var node yaml.Node
	if err := dec.Decode(&node); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, errors.New(`holds more than one document; put each "---" on a line of its own`)
	}
	if len(node.Content) == 0 {
		return nil, nil
	}
	return &node, nil
}

func isApplication(doc *yaml.Node) bool {
	root := yaml.NewRNode(doc.Content[0])
	if root.YNode().Kind != yaml.MappingNode {
		return false
	}
	return strings.HasPrefix(root.GetApiVersion(), "argoproj.io/") && root.GetKind() == "Application"
}

func applicationName(app *yaml.RNode) string {
	if ns := app.GetNamespace(); ns != "" {
		return "Application/" + ns + "/" + app.GetName()
	}
	return "Application/" + app.GetName()
}

// imagesEdit is what setApplicationImages did to one Application, for
// spliceApplication: the images list after the edit, the items it had
// before and their values, and how the list came to be.
type imagesEdit struct {
	seq    *yaml.Node
	before []*yaml.Node
	values map[*yaml.Node]string
	// made is the mapping the list was added to with its key (source and
	// "source" when spec.source had no kustomize section, the kustomize
	// section and "kustomize" when it had no images), or nil.
	made, madeKey *yaml.Node
	// section: the kustomize section is new (made is the source).
	section bool
	// wasNull: the kustomize section or the list was written as null.
	wasNull bool
}

// setApplicationImages sets images in app and returns the changed entries
// and what it edited.
func setApplicationImages(app *yaml.RNode, images []Image) ([]Entry, *imagesEdit, error) {
	spec := app.Field("spec")
	if spec == nil || yaml.IsMissingOrNull(spec.Value) {
		return nil, nil, errors.New("has no spec")
	}
	for _, f := range []string{"sources", "sourceHydrator"} {
		if present(spec.Value, f) {
			return nil, nil, fmt.Errorf("spec.%s is set: image set edits the single source spec.source only; set the images in the kustomization the source points at", f)
		}
	}
	source := spec.Value.Field("source")
	if source == nil || yaml.IsMissingOrNull(source.Value) {
		return nil, nil, errors.New("has no spec.source")
	}
	if source.Value.YNode().Kind != yaml.MappingNode {
		return nil, nil, errors.New("spec.source is not a mapping")
	}
	for _, f := range []string{"helm", "directory", "plugin"} {
		if present(source.Value, f) {
			return nil, nil, fmt.Errorf("spec.source.%s is set: images can only be set on a source kustomize builds (spec.source.kustomize)", f)
		}
	}
	if f := source.Value.Field("chart"); f != nil && yaml.GetValue(f.Value) != "" {
		return nil, nil, errors.New("spec.source.chart is set (a Helm chart): images can only be set on a source kustomize builds (spec.source.kustomize)")
	}
	edit := &imagesEdit{values: map[*yaml.Node]string{}}
	kust, how := field(source.Value.YNode(), "kustomize", yaml.MappingNode)
	if kust.Kind != yaml.MappingNode {
		return nil, nil, errors.New("spec.source.kustomize is not a mapping")
	}
	switch how {
	case added:
		edit.made, edit.madeKey, edit.section = source.Value.YNode(), source.Key.YNode(), true
	case wasNull:
		edit.wasNull = true
	}
	seq, how := field(kust, "images", yaml.SequenceNode)
	if seq.Kind != yaml.SequenceNode {
		return nil, nil, errors.New("spec.source.kustomize.images is not a list")
	}
	switch {
	case how == added && edit.made == nil && !edit.wasNull:
		edit.made, edit.madeKey = kust, keyOf(source.Value.YNode(), "kustomize")
	case how == wasNull:
		edit.wasNull = true
	}
	for i, n := range seq.Content {
		if n.Kind != yaml.ScalarNode {
			return nil, nil, fmt.Errorf("spec.source.kustomize.images[%d] is not a string", i)
		}
		edit.before = append(edit.before, n)
		edit.values[n] = n.Value
	}
	edit.seq = seq

	var changed []Entry
	for _, im := range images {
		e, ok := setApplicationImage(seq, im)
		if ok {
			changed = append(changed, e)
		}
	}
	if len(changed) == 0 {
		return nil, nil, nil
	}
	return changed, edit, nil
}

// setApplicationImage sets im in the list of image strings seq and reports
// the entry written, if any.
func setApplicationImage(seq *yaml.Node, im Image) (Entry, bool) {
	var same []int // the strings of im's name
	for i, n := range seq.Content {
		if nameOf(n.Value) == im.Name {
			same = append(same, i)
		}
	}
	if len(same) == 0 {
		seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: im.String()})
		return Entry(im), true
	}
	current, err := Parse(seq.Content[same[len(same)-1]].Value)
	want := keepPreserved(im, current)
	if err == nil && want == current {
		return Entry{}, false
	}
	first := seq.Content[same[0]]
	first.Value = want.String()
	if first.Tag == "" {
		first.Tag = "!!str"
	}
	var kept []*yaml.Node
	for i, n := range seq.Content {
		if i == same[0] || !slices.Contains(same, i) {
			kept = append(kept, n)
		}
	}
	seq.Content = kept
	return Entry(want), true
}

// nameOf is the name kustomize reads from an image string; a string it
// rejects (a bare name) is taken for a name.
func nameOf(s string) string {
	if im, err := Parse(s); err == nil {
		return im.Name
	}
	return s
}

// keepPreserved replaces the "*" parts of im by those of current.
func keepPreserved(im, current Image) Image {
	if im.NewName == preserve {
		im.NewName = current.NewName
	}
	if im.NewTag == preserve {
		im.NewTag = current.NewTag
	}
	if im.Digest == preserve {
		im.Digest = current.Digest
	}
	return im
}

func present(m *yaml.RNode, field string) bool {
	f := m.Field(field)
	return f != nil && !yaml.IsMissingOrNull(f.Value)
}

// How field found a key.
const (
	existed = iota
	wasNull // written as null; now an empty node of the kind asked for
	added
)

// field returns the value of key in the mapping m, making it a node of kind
// when it is missing or null (a null keeps its comments).
func field(m *yaml.Node, key string, kind yaml.Kind) (*yaml.Node, int) {
	if v := valueOf(m, key); v != nil {
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null" {
			v.Kind, v.Tag, v.Value, v.Style = kind, "", "", 0
			return v, wasNull
		}
		return v, existed
	}
	v := &yaml.Node{Kind: kind}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
	return v, added
}

// keyOf and valueOf return the key node and the value node of key in the
// mapping m, or nil.
func keyOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

func valueOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
