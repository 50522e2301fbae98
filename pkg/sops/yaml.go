package sops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// yamlIndent is the indentation sops writes YAML with.
const yamlIndent = 4

func loadYAML(data []byte) ([]Branch, error) {
	var out []Branch
	// Aliases may expand a document; the budget bounds the nodes visited
	// to what a document without aliases of this size could hold.
	w := &yamlWalker{budget: len(data) + 10000}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", yamlError(err))
		}
		b, err := w.mapping(&doc, nil, false)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
}

// quoted matches what yaml.v3 quotes of the input in its errors.
var quoted = regexp.MustCompile("`[^`]*`")

// yamlError drops the input that yaml.v3 quotes in its messages (a value
// there may be a secret).
func yamlError(err error) error {
	return errors.New(quoted.ReplaceAllString(err.Error(), "(value not shown)"))
}

// yamlWalker turns yaml.v3 nodes into a tree, counting the nodes it visits.
type yamlWalker struct {
	budget int
}

func (w *yamlWalker) visit() error {
	w.budget--
	if w.budget < 0 {
		return errors.New("invalid YAML: the document expands too much through aliases")
	}
	return nil
}

// commentItems splits a node comment into comment items.
func commentLines(text string, inline bool) []Comment {
	var out []Comment
	for _, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		out = append(out, Comment{Value: strings.TrimPrefix(line, "#"), Inline: inline})
	}
	return out
}

func addComments(b Branch, text string, inline bool) Branch {
	for _, c := range commentLines(text, inline) {
		b = append(b, Item{Key: c})
	}
	return b
}

func addListComments(l []any, text string, inline bool) []any {
	for _, c := range commentLines(text, inline) {
		l = append(l, c)
	}
	return l
}

// mapping appends a document or mapping node to b, placing comments
// where sops places them (which decides the path they are encrypted
// under).
func (w *yamlWalker) mapping(n *yaml.Node, b Branch, commentsHandled bool) (Branch, error) {
	if err := w.visit(); err != nil {
		return nil, err
	}
	if b == nil {
		b = Branch{}
	}
	if !commentsHandled {
		b = addComments(b, n.HeadComment, false)
		b = addComments(b, n.LineComment, false)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			var err error
			if b, err = w.mapping(c, b, false); err != nil {
				return nil, err
			}
		}
	case yaml.SequenceNode:
		return nil, errors.New("a YAML document that is a list is not supported; make it a mapping")
	case yaml.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			b = addComments(b, k.HeadComment, false)
			b = addComments(b, k.LineComment, false)
			scalar := v.Kind == yaml.ScalarNode || v.Kind == yaml.AliasNode
			if scalar {
				b = addComments(b, v.HeadComment, false)
				b = addComments(b, v.LineComment, true)
			}
			var key any
			if err := k.Decode(&key); err != nil {
				return nil, fmt.Errorf("line %d: %w", k.Line, yamlError(err))
			}
			ks, ok := key.(string)
			if !ok {
				return nil, fmt.Errorf("line %d: a key is not a string; quote it", k.Line)
			}
			if seen[ks] {
				return nil, fmt.Errorf("line %d: key %q is given twice in one mapping", k.Line, ks)
			}
			seen[ks] = true
			val, err := w.value(v, scalar)
			if err != nil {
				return nil, err
			}
			b = append(b, Item{Key: ks, Value: val})
			if scalar {
				b = addComments(b, v.FootComment, false)
			}
			b = addComments(b, k.FootComment, false)
		}
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return b, nil
		}
		return nil, errors.New("a YAML document that is a single value is not supported; make it a mapping")
	case yaml.AliasNode:
		var err error
		if b, err = w.mapping(n.Alias, b, false); err != nil {
			return nil, err
		}
	}
	if !commentsHandled {
		b = addComments(b, n.FootComment, false)
	}
	return b, nil
}

func (w *yamlWalker) value(n *yaml.Node, commentsHandled bool) (any, error) {
	if err := w.visit(); err != nil {
		return nil, err
	}
	switch n.Kind {
	case yaml.SequenceNode:
		l := []any{}
		if !commentsHandled {
			l = addListComments(l, n.HeadComment, false)
			l = addListComments(l, n.LineComment, false)
		}
		for _, item := range n.Content {
			l = addListComments(l, item.HeadComment, false)
			l = addListComments(l, item.LineComment, true)
			v, err := w.value(item, true)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			l = addListComments(l, item.FootComment, false)
		}
		if !commentsHandled {
			l = addListComments(l, n.FootComment, false)
		}
		return l, nil
	case yaml.MappingNode:
		return w.mapping(n, nil, commentsHandled)
	case yaml.AliasNode:
		return w.value(n.Alias, false)
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, yamlError(err))
		}
		switch x := v.(type) {
		case int64:
			return int(x), nil
		case uint64:
			if x > math.MaxInt64 {
				return nil, fmt.Errorf("line %d: an integer is too large; quote it", n.Line)
			}
			return int(x), nil
		}
		return v, nil
	}
	return nil, nil
}

func emitYAML(docs []Branch) ([]byte, error) {
	if len(docs) == 0 {
		return []byte{}, nil // an empty file (the encoder refuses no document)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(yamlIndent)
	for _, b := range docs {
		m := &yaml.Node{Kind: yaml.MappingNode}
		if err := yamlFromBranch(b, m); err != nil {
			return nil, err
		}
		if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func joinComments(cs []string) string {
	if len(cs) == 0 {
		return ""
	}
	return "#" + strings.Join(cs, "\n#")
}

func prependHead(n *yaml.Node, cs []string) {
	if c := joinComments(cs); c != "" {
		if n.HeadComment != "" {
			n.HeadComment = c + "\n" + n.HeadComment
		} else {
			n.HeadComment = c
		}
	}
}

func appendTo(s *string, cs []string) {
	if c := joinComments(cs); c != "" {
		if *s != "" {
			*s += "\n" + c
		} else {
			*s = c
		}
	}
}

func yamlNode(v any) (*yaml.Node, error) {
	switch v := v.(type) {
	case Branch:
		m := &yaml.Node{Kind: yaml.MappingNode}
		return m, yamlFromBranch(v, m)
	case []any:
		s := &yaml.Node{Kind: yaml.SequenceNode}
		return s, yamlFromList(v, s)
	}
	n, err := encodeScalar(v)
	if err != nil {
		return nil, err
	}
	// The emitter writes an integral float (80 read from "080" or "80.0")
	// as "80", which reads back as an integer: keep it a float.
	if _, ok := v.(float64); ok && !strings.ContainsAny(n.Value, ".eEnN") {
		n.Value, n.Tag = n.Value+".0", "!!float"
	}
	quoteIndicated(n)
	return n, nil
}

// yamlFromBranch is the inverse of mapping.
func yamlFromBranch(b Branch, m *yaml.Node) error {
	return layOut(m, len(b), func(i int) (Comment, bool) {
		c, ok := b[i].Key.(Comment)
		return c, ok
	}, func(i int) (*yaml.Node, *yaml.Node, error) {
		k, err := encodeScalar(b[i].Key)
		if err != nil {
			return nil, nil, err
		}
		quoteIndicated(k)
		v, err := yamlNode(b[i].Value)
		return k, v, err
	})
}

func yamlFromList(l []any, s *yaml.Node) error {
	return layOut(s, len(l), func(i int) (Comment, bool) {
		c, ok := l[i].(Comment)
		return c, ok
	}, func(i int) (*yaml.Node, *yaml.Node, error) {
		n, err := yamlNode(l[i])
		return n, n, err
	})
}

// encodeScalar is v as a YAML node. The encoder refuses some strings it
// would write as block scalars (a multi-line string that starts with a
// tab); those are written double-quoted, which holds any string.
func encodeScalar(v any) (*yaml.Node, error) {
	n := &yaml.Node{}
	err := n.Encode(v)
	if s, ok := v.(string); ok && err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: yaml.DoubleQuotedStyle}, nil
	}
	return n, err
}

// quoteIndicated double-quotes two kinds of string (a value or a key) the
// YAML emitter writes wrong. A multi-line string that starts with a space
// or an empty line needs an indentation indicator as a block scalar, which
// the emitter writes wrong under an indented sequence ("- |4-", "- k: |4"
// over lines its own parser rejects). A string holding one of YAML 1.1's
// other line breaks (U+0085, U+2028, U+2029) is written with the break raw,
// which the parser reads as the end of a line: the indentation after it is
// lost or the document does not parse. Double-quoted, both are escaped and
// read back as the same string.
func quoteIndicated(n *yaml.Node) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return
	}
	if strings.Contains(n.Value, "\n") && (strings.HasPrefix(n.Value, " ") || strings.HasPrefix(n.Value, "\n")) ||
		strings.ContainsAny(n.Value, "\u0085\u2028\u2029") {
		n.Style = yaml.DoubleQuotedStyle
	}
}

// layOut appends n entries to a mapping or sequence node, placing comments
// where sops places them: comments before the first entry on the node
// itself, comments before an entry on its first node (a key, or the item),
// inline ones on its value, trailing ones below the last entry. comment
// says whether entry i is a comment; nodes builds the others.
func layOut(parent *yaml.Node, n int, comment func(int) (Comment, bool), nodes func(int) (first, value *yaml.Node, err error)) error {
	var head, inline []string
	var last *yaml.Node
	for i := 0; i < n; i++ {
		if c, ok := comment(i); ok {
			if c.Inline {
				inline = append(inline, c.Value)
			} else {
				head = append(head, c.Value)
			}
			continue
		}
		if last == nil {
			prependHead(parent, head)
			head = nil
		}
		first, value, err := nodes(i)
		if err != nil {
			return err
		}
		prependHead(first, head)
		appendTo(&value.LineComment, inline)
		head, inline = nil, nil
		parent.Content = append(parent.Content, first)
		if value != first {
			parent.Content = append(parent.Content, value)
		}
		last = first
	}
	head = append(head, inline...)
	if last == nil {
		prependHead(parent, head)
	} else {
		appendTo(&last.FootComment, head)
	}
	return nil
}
