package sops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

func loadJSON(data []byte) (Branch, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("a JSON document must be an object ({...}); wrap other values in one")
	}
	b, err := jsonObject(dec, 1)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: data after the top-level object")
	}
	return b, nil
}

// maxDepth bounds the nesting of a document, so a deep one is an error,
// not a stack overflow.
const maxDepth = 1000

var errTooDeep = fmt.Errorf("nested deeper than %d levels", maxDepth)

func jsonObject(dec *json.Decoder, depth int) (Branch, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	b := Branch{}
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return b, nil
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", tok)
		}
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		v, err := jsonValue(dec, depth)
		if err != nil {
			return nil, err
		}
		b = append(b, Item{Key: key, Value: v})
	}
}

func jsonValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return jsonObject(dec, depth+1)
		case '[':
			l := []any{}
			for dec.More() {
				v, err := jsonValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return l, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return int(i), nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, errors.New("a number is out of range")
		}
		return f, nil
	}
	return tok, nil
}

// emitJSON writes a tree as sops does: keys in order, comments dropped,
// indented with tabs, with a final newline.
func emitJSON(b Branch) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeJSON(&buf, b); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "\t"); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case Branch:
		buf.WriteByte('{')
		n := 0
		for _, it := range v {
			k, ok := it.Key.(string)
			if !ok {
				continue
			}
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteByte(':')
			if err := writeJSON(buf, it.Value); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		n := 0
		for _, e := range v {
			if _, ok := e.(Comment); ok {
				continue
			}
			if n > 0 {
				buf.WriteByte(',')
			}
			n++
			if err := writeJSON(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}
