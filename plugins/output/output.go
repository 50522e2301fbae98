// Package output prints a command's document as -o json or -o yaml.
package output

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// Print writes v to w as format ("json", indented, or "yaml") and reports
// whether it did: any other format (the command's own text, "") is left
// to the caller.
func Print(w io.Writer, format string, v any) (printed bool, err error) {
	var b []byte
	switch format {
	case "json":
		if b, err = json.MarshalIndent(v, "", "  "); err == nil {
			b = append(b, '\n')
		}
	case "yaml":
		b, err = yaml.Marshal(v)
	default:
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("-o %s: %w", format, err)
	}
	_, err = w.Write(b)
	return true, err
}

// ShortSHA is a commit SHA as people read it: its first 7 characters.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// Check accepts "" (the command's own text), json and yaml. text names
// the default in the error ("a unified diff"); empty says nothing of it.
func Check(format, text string) error {
	switch format {
	case "", "json", "yaml":
		return nil
	}
	if text != "" {
		text = " for " + text
	}
	return fmt.Errorf("--output %q is not supported; use json or yaml, or omit it%s", format, text)
}
