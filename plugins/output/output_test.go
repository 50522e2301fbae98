package output

import (
	"bytes"
	"testing"
)

func TestPrint(t *testing.T) {
	doc := map[string]any{"app": "web", "objects": []int{1}}
	for format, want := range map[string]string{
		"json": "{\n  \"app\": \"web\",\n  \"objects\": [\n    1\n  ]\n}\n",
		"yaml": "app: web\nobjects:\n- 1\n",
		"":     "",
	} {
		var b bytes.Buffer
		printed, err := Print(&b, format, doc)
		if err != nil || printed != (format != "") || b.String() != want {
			t.Errorf("%q: printed %v, err %v, output %q; want %q", format, printed, err, b.String(), want)
		}
	}
}
