package sops

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Dotenv files hold KEY=value lines and #comments; newlines in values are
// written as \n. Their metadata is flattened into sops_-prefixed keys:
// sops_age__list_0__map_recipient=...

const (
	flatPrefix = MetadataKey + "_"
	flatMap    = "__map_"
	flatList   = "__list_"
)

func loadDotenv(data []byte) (Branch, error) {
	b := Branch{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			b = append(b, Item{Key: Comment{Value: string(line[1:])}})
			continue
		}
		eq := bytes.IndexByte(line, '=')
		if eq < 0 {
			return nil, fmt.Errorf("line %d is not KEY=value", i+1)
		}
		b = append(b, Item{Key: string(line[:eq]), Value: strings.ReplaceAll(string(line[eq+1:]), `\n`, "\n")})
	}
	return b, nil
}

func emitDotenv(b Branch) ([]byte, error) {
	var buf bytes.Buffer
	for _, it := range b {
		if c, ok := it.Key.(Comment); ok {
			buf.WriteString("#" + c.Value + "\n")
			continue
		}
		var s string
		switch v := it.Value.(type) {
		case Branch, []any:
			return nil, fmt.Errorf("key %v holds a mapping or list, which a dotenv file cannot", it.Key)
		case string:
			s = strings.ReplaceAll(v, "\n", `\n`)
		default:
			s = scalarString(v)
			if bv, ok := v.(bool); ok {
				s = strconv.FormatBool(bv)
			}
		}
		fmt.Fprintf(&buf, "%s=%s\n", it.Key, s)
	}
	return buf.Bytes(), nil
}

// flatten writes a metadata branch as prefixed flat keys.
func flatten(prefix string, v any, out *Branch) {
	switch v := v.(type) {
	case Branch:
		for _, it := range v {
			if k, ok := it.Key.(string); ok {
				p := prefix + k
				if _, nested := it.Value.(Branch); nested {
					flatten(p+flatMap, it.Value, out)
				} else if _, list := it.Value.([]any); list {
					flatten(p+flatList, it.Value, out)
				} else {
					*out = append(*out, Item{Key: p, Value: it.Value})
				}
			}
		}
	case []any:
		i := 0
		for _, e := range v {
			if _, ok := e.(Comment); ok {
				continue
			}
			p := prefix + strconv.Itoa(i)
			switch e.(type) {
			case Branch:
				flatten(p+flatMap, e, out)
			case []any:
				flatten(p+flatList, e, out)
			default:
				*out = append(*out, Item{Key: p, Value: e})
			}
			i++
		}
	}
}

// unflatten rebuilds a metadata branch from flat keys (prefix removed).
func unflatten(items Branch) (Branch, error) {
	root := &flatNode{}
	for _, it := range items {
		k, ok := it.Key.(string)
		if !ok {
			continue
		}
		if err := root.place(splitFlat(k), it.Value); err != nil {
			return nil, fmt.Errorf("metadata key %s: %w", k, err)
		}
	}
	v, err := root.build()
	if err != nil {
		return nil, err
	}
	b, ok := v.(Branch)
	if !ok {
		return nil, fmt.Errorf("metadata is not a mapping")
	}
	return b, nil
}

type flatStep struct {
	key   string
	index int
	list  bool
}

func splitFlat(k string) []flatStep {
	var steps []flatStep
	cur := flatStep{}
	for {
		mi, li := strings.Index(k, flatMap), strings.Index(k, flatList)
		next, sep := -1, ""
		if mi >= 0 && (li < 0 || mi < li) {
			next, sep = mi, flatMap
		} else if li >= 0 {
			next, sep = li, flatList
		}
		part := k
		if next >= 0 {
			part = k[:next]
		}
		if cur.list {
			cur.index, _ = strconv.Atoi(part)
		} else {
			cur.key = part
		}
		steps = append(steps, cur)
		if next < 0 {
			return steps
		}
		cur = flatStep{list: sep == flatList}
		k = k[next+len(sep):]
	}
}

type flatNode struct {
	value    any
	hasValue bool
	keys     map[string]*flatNode
	indices  map[int]*flatNode
}

func (n *flatNode) place(steps []flatStep, v any) error {
	for _, s := range steps {
		var next *flatNode
		if s.list {
			if n.indices == nil {
				n.indices = map[int]*flatNode{}
			}
			if next = n.indices[s.index]; next == nil {
				next = &flatNode{}
				n.indices[s.index] = next
			}
		} else {
			if n.keys == nil {
				n.keys = map[string]*flatNode{}
			}
			if next = n.keys[s.key]; next == nil {
				next = &flatNode{}
				n.keys[s.key] = next
			}
		}
		n = next
	}
	if n.hasValue {
		return fmt.Errorf("given twice")
	}
	n.value, n.hasValue = v, true
	return nil
}

func (n *flatNode) build() (any, error) {
	kinds := 0
	for _, b := range []bool{n.hasValue, len(n.keys) > 0, len(n.indices) > 0} {
		if b {
			kinds++
		}
	}
	if kinds > 1 {
		return nil, fmt.Errorf("a key is both a value and a mapping or list")
	}
	switch {
	case n.hasValue:
		return n.value, nil
	case len(n.indices) > 0:
		out := make([]any, len(n.indices))
		for i, c := range n.indices {
			if i < 0 || i >= len(out) {
				return nil, fmt.Errorf("list index %d out of order", i)
			}
			v, err := c.build()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	keys := make([]string, 0, len(n.keys))
	for k := range n.keys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := Branch{}
	for _, k := range keys {
		v, err := n.keys[k].build()
		if err != nil {
			return nil, err
		}
		b = append(b, Item{Key: k, Value: v})
	}
	return b, nil
}
