package sops

import (
	"reflect"
	"testing"
)

// Multi-line strings that start with a space or an empty line need an
// indentation indicator as block scalars, which the YAML emitter writes
// wrong under indented sequences; they are written quoted, and what is
// written parses to the same values (found by FuzzParse).
func TestIndentationIndicatorStrings(t *testing.T) {
	for _, in := range []string{
		"A:\n- |\n\n 0",
		"A:\n- k: |\n\n   0\n",
		"A:\n  k: |\n\n    0\n",
		"A:\n- - |\n\n   0\n",
		"A:\n- |2\n   lead\n  x\n",
		"A:\n- k:\n  - |\n\n    0\n",
		"{0A: {A: [{\" 0\\n\"}]}}",
		// YAML 1.1 line breaks other than \n (U+0085, U+2028, U+2029):
		// the emitter writes them raw, as if they ended a line.
		"A:\n  A:\n  - ? \"\\L\\n0\"\n    : null\n",
		"A:\n  A:\n  - \"\\L\\n0\"\n",
		"A: \"a\\Lb\"\n",
		"A:\n- \"a\\Pb\\nc\"\n",
		"A: \"a\\Nb\"\n",
		// A multi-line string that starts with a tab.
		"a: \"\\tx\\ny\"\n",
		"a: [\"\\t\\n\"]\n",
		// An integral float stays a float.
		"0:: [080]",
		"a: [80.0, -1.0, 1e21]",
	} {
		f, err := Parse("f", []byte(in), YAML)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		out, err := f.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse("f", out, YAML)
		if err != nil {
			t.Errorf("%q written as %q, which does not parse: %v", in, out, err)
			continue
		}
		if !reflect.DeepEqual(f.Docs, again.Docs) {
			t.Errorf("%q written as %q reads back as other values", in, out)
		}
	}
}
