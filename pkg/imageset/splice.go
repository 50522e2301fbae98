package imageset

import (
	"reflect"
	"regexp"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// spliceApplication writes an Application's edited images into the
// document's own text, touching only the lines of the list: a changed item
// gets its new value in its old quoting, a removed one loses its line, new
// ones are added after the last, and a missing list (or kustomize section)
// is added after the last line of the mapping it goes into. It reports
// false when the text is not of a shape it knows (flow style, an item over
// several lines, a list or section that was null, ...) or when the result
// does not parse to the edited tree doc; then the caller re-encodes.
func spliceApplication(body []byte, doc *yaml.Node, e *imagesEdit, style yaml.SequenceIndentStyle) ([]byte, bool) {
	if e.wasNull {
		return nil, false
	}
	lines := strings.SplitAfter(string(body), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	eol := "\n"
	if len(lines) > 0 && strings.HasSuffix(lines[0], "\r\n") {
		eol = "\r\n"
	}
	ed := lineEdits{replace: map[int]string{}, drop: map[int]bool{}, eol: eol}
	var ok bool
	if e.made == nil {
		ok = spliceItems(lines, e, &ed)
	} else {
		ok = spliceList(lines, e, &ed, style)
	}
	if !ok {
		return nil, false
	}
	out := ed.apply(lines)
	if !sameContent(out, doc) {
		return nil, false
	}
	return out, true
}

// lineEdits are changes to a document's lines (0-based): lines replaced,
// lines dropped, and lines inserted after line after.
type lineEdits struct {
	replace map[int]string
	drop    map[int]bool
	after   int
	insert  []string
	eol     string
}

func (ed *lineEdits) apply(lines []string) []byte {
	var b []byte
	for i, l := range lines {
		if !ed.drop[i] {
			if r, ok := ed.replace[i]; ok {
				l = r
			}
			b = append(b, l...)
		}
		if i == ed.after && len(ed.insert) > 0 {
			if len(b) > 0 && b[len(b)-1] != '\n' {
				b = append(b, ed.eol...)
			}
			for _, s := range ed.insert {
				b = append(b, s...)
			}
		}
	}
	return b
}

// spliceItems plans the edit of an existing block list whose items each sit
// on a line of their own.
func spliceItems(lines []string, e *imagesEdit, ed *lineEdits) bool {
	if e.seq.Style&yaml.FlowStyle != 0 || len(e.before) == 0 {
		return false
	}
	type extent struct{ line, start, end int }
	at := map[*yaml.Node]extent{}
	dash := -1
	for _, n := range e.before {
		l := n.Line - 1
		if l < 0 || l >= len(lines) {
			return false
		}
		start, end, ok := itemExtent(lines[l], n, e.values[n])
		if !ok {
			return false
		}
		indent := len(lines[l]) - len(strings.TrimLeft(lines[l], " "))
		if dash >= 0 && indent != dash {
			return false
		}
		dash = indent
		at[n] = extent{l, start, end}
		ed.after = l
	}
	kept := map[*yaml.Node]bool{}
	for _, n := range e.seq.Content {
		kept[n] = true
		if _, old := at[n]; old {
			continue
		}
		raw, ok := scalarText(n.Value, 0)
		if !ok {
			return false
		}
		ed.insert = append(ed.insert, strings.Repeat(" ", dash)+"- "+raw+ed.eol)
	}
	for _, n := range e.before {
		x := at[n]
		switch {
		case !kept[n]:
			ed.drop[x.line] = true
		case n.Value != e.values[n]:
			raw, ok := scalarText(n.Value, n.Style)
			if !ok {
				return false
			}
			line := lines[x.line]
			ed.replace[x.line] = line[:x.start] + raw + line[x.end:]
		}
	}
	return true
}

// itemPrefix is what comes before a list item on its line.
var itemPrefix = regexp.MustCompile(`^ *- +$`)

// itemExtent finds the text of the list item n, whose value was value, on
// line: from byte start to end, with only a comment after it.
func itemExtent(line string, n *yaml.Node, value string) (start, end int, ok bool) {
	start = n.Column - 1
	if start <= 0 || start > len(line) || !itemPrefix.MatchString(line[:start]) {
		return 0, 0, false
	}
	text := line[start:]
	switch n.Style {
	case 0:
		if !strings.HasPrefix(text, value) {
			return 0, 0, false
		}
		end = start + len(value)
	case yaml.SingleQuotedStyle:
		i := closingQuote(text, '\'')
		if i < 0 {
			return 0, 0, false
		}
		end = start + i + 1
	case yaml.DoubleQuotedStyle:
		i := closingQuote(text, '"')
		if i < 0 {
			return 0, 0, false
		}
		end = start + i + 1
	default:
		return 0, 0, false
	}
	rest := strings.TrimLeft(strings.TrimRight(line[end:], "\r\n"), " \t")
	if rest != "" && rest[0] != '#' {
		return 0, 0, false
	}
	return start, end, true
}

// closingQuote returns the index of the quote that closes the scalar
// opened by text[0], or -1 when it is not on this line.
func closingQuote(text string, q byte) int {
	if len(text) == 0 || text[0] != q {
		return -1
	}
	for i := 1; i < len(text); i++ {
		switch {
		case q == '"' && text[i] == '\\':
			i++
		case text[i] == q && q == '\'' && i+1 < len(text) && text[i+1] == '\'':
			i++
		case text[i] == q:
			return i
		case text[i] == '\n':
			return -1
		}
	}
	return -1
}

// scalarText is a string as YAML writes it in style (plain when it can be),
// or false when that takes more than one line.
func scalarText(value string, style yaml.Style) (string, bool) {
	b, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Style: style})
	if err != nil {
		return "", false
	}
	s := strings.TrimSuffix(string(b), "\n")
	return s, !strings.Contains(s, "\n")
}

// spliceList plans the addition of the images list, and of the kustomize
// section when e.made is the source, after the last line of e.made.
func spliceList(lines []string, e *imagesEdit, ed *lineEdits, style yaml.SequenceIndentStyle) bool {
	m := e.made
	if m.Style&yaml.FlowStyle != 0 || len(m.Content) < 4 || m.Content[0].Line == 0 {
		return false // flow, or nothing but what was added
	}
	col := m.Content[0].Column
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Line == 0 {
			continue
		}
		if k.Column != col || k.Line > len(lines) || len(lines[k.Line-1])-len(strings.TrimLeft(lines[k.Line-1], " ")) != col-1 {
			return false
		}
	}
	indent := col - 1
	step := indent - (e.madeKey.Column - 1)
	if step <= 0 {
		return false
	}
	ed.after = lastLine(lines, m, indent)
	pad := func(n int) string { return strings.Repeat(" ", n) }
	listIndent := indent
	if e.section {
		ed.insert = append(ed.insert, pad(indent)+"kustomize:"+ed.eol)
		listIndent = indent + step
	}
	ed.insert = append(ed.insert, pad(listIndent)+"images:"+ed.eol)
	if style == yaml.WideSequenceStyle {
		listIndent += 2
	}
	for _, n := range e.seq.Content {
		raw, ok := scalarText(n.Value, 0)
		if !ok {
			return false
		}
		ed.insert = append(ed.insert, pad(listIndent)+"- "+raw+ed.eol)
	}
	return true
}

// lastLine returns the last line (0-based) of the block mapping m, whose
// keys are indented by indent: the last line of its last node, and the
// lines after it indented deeper (the rest of a block scalar, comments).
func lastLine(lines []string, m *yaml.Node, indent int) int {
	end := maxLine(m) - 1
	for j := end + 1; j < len(lines); j++ {
		t := strings.TrimRight(lines[j], "\r\n")
		trimmed := strings.TrimLeft(t, " ")
		if trimmed == "" {
			continue
		}
		if len(t)-len(trimmed) <= indent {
			break
		}
		end = j
	}
	return end
}

func maxLine(n *yaml.Node) int {
	l := n.Line
	for _, c := range n.Content {
		l = max(l, maxLine(c))
	}
	return l
}

// sameContent reports whether out is one document with the content of doc.
func sameContent(out []byte, doc *yaml.Node) bool {
	got, err := decodeDocument(out)
	if err != nil || got == nil {
		return false
	}
	var a, b any
	if got.Decode(&a) != nil || doc.Decode(&b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// hasBlockList matches the first line of a block list item.
var hasBlockList = regexp.MustCompile(`(?m)^ *- `)

// seqIndentStyle is the list indentation of the document body, or of the
// whole stream when the body has no block list.
func seqIndentStyle(body, data []byte) yaml.SequenceIndentStyle {
	src := body
	if !hasBlockList.Match(body) {
		src = data
	}
	return yaml.SequenceIndentStyle(yaml.DeriveSeqIndentStyle(string(src)))
}
