package sops

import (
	"fmt"
	"strconv"
	"time"
)

// Comment is a comment line, kept in the tree where sops keeps it; sops
// encrypts comments too (they are not part of the MAC).
type Comment struct {
	Value  string
	Inline bool
}

// Item is one entry of a mapping. Key is a string, or a Comment (then
// Value is nil).
type Item struct {
	Key   any
	Value any
}

// Branch is an ordered mapping. Values are string, int, float64, bool,
// time.Time, []byte, nil, []any (whose elements may be Comments) or Branch.
type Branch []Item

// leafFunc sees every leaf and comment with the path of mapping keys above
// it (list positions are not part of a path) and the comments seen so far
// at each level, and returns its replacement.
type leafFunc func(v any, path []string, comments [][]string) (any, error)

func walkBranch(b Branch, path []string, comments [][]string, f leafFunc) error {
	comments = append(comments, nil)
	top := len(comments) - 1
	for i, item := range b {
		if c, ok := item.Key.(Comment); ok {
			comments[top] = append(comments[top], c.Value)
			out, err := f(c, path, comments)
			if err != nil {
				return err
			}
			b[i].Key = asComment(out, c.Inline)
			continue
		}
		key, ok := item.Key.(string)
		if !ok {
			return fmt.Errorf("key %v is a %T; only string keys are supported", item.Key, item.Key)
		}
		v, err := walkValue(item.Value, append(path[:len(path):len(path)], key), comments, f)
		if err != nil {
			return err
		}
		b[i].Value = v
		comments[top] = nil
	}
	return nil
}

func walkValue(v any, path []string, comments [][]string, f leafFunc) (any, error) {
	switch v := v.(type) {
	case Branch:
		return v, walkBranch(v, path, comments, f)
	case []any:
		comments = append(comments, nil)
		top := len(comments) - 1
		for i, e := range v {
			if c, ok := e.(Comment); ok {
				comments[top] = append(comments[top], c.Value)
				out, err := f(c, path, comments)
				if err != nil {
					return nil, err
				}
				v[i] = asComment(out, c.Inline)
				continue
			}
			out, err := walkValue(e, path, comments, f)
			if err != nil {
				return nil, err
			}
			v[i] = out
			comments[top] = nil
		}
		return v, nil
	case nil:
		return nil, nil
	case []byte:
		return f(string(v), path, comments)
	case string, int, float64, bool, time.Time:
		return f(v, path, comments)
	default:
		return nil, fmt.Errorf("value of type %T at %s is not supported", v, pathString(path))
	}
}

// asComment turns what a leafFunc returned for a comment back into one
// (encryption returns the ENC[...] string).
func asComment(v any, inline bool) Comment {
	switch v := v.(type) {
	case Comment:
		v.Inline = inline
		return v
	case string:
		return Comment{Value: v, Inline: inline}
	}
	return Comment{Value: fmt.Sprint(v), Inline: inline}
}

// macBytes is the byte form of a value hashed into the MAC, as sops writes
// it (booleans as True/False, floats in the shortest exact decimal).
func macBytes(v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return []byte(v), nil
	case int:
		return []byte(strconv.Itoa(v)), nil
	case float64:
		return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
	case bool:
		if v {
			return []byte("True"), nil
		}
		return []byte("False"), nil
	case []byte:
		return v, nil
	case time.Time:
		return v.MarshalText()
	}
	return nil, fmt.Errorf("cannot hash a %T", v)
}

func pathString(path []string) string {
	if len(path) == 0 {
		return "(top level)"
	}
	s := ""
	for i, p := range path {
		if i > 0 {
			s += "."
		}
		s += p
	}
	return s
}

// additionalData is the AEAD additional data of a value at path.
func additionalData(path []string) string {
	s := ""
	for _, p := range path {
		s += p + ":"
	}
	if s == "" {
		return ":"
	}
	return s
}
