package diffview

import (
	"bufio"
	"bytes"
	"io"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// Directory names in the diff headers, as kubectl diff names its two
// temporary directories.
const (
	LiveDir   = "LIVE"
	MergedDir = "MERGED"
)

// UnifiedOptions tune WriteUnified.
type UnifiedOptions struct {
	// Color marks removed lines red, added lines green, hunk headers cyan
	// and file headers bold, with ANSI escapes. Callers set it only for a
	// terminal (and not when NO_COLOR is set).
	Color bool
	// Context is the number of unchanged lines around each change; 0
	// means 3.
	Context int
}

// FileName is kubectl diff's file name for an object:
// group.version.kind.namespace.name, the group and its dot left out for
// the core group (v1.ConfigMap.ns.name), the namespace empty for
// cluster-scoped objects (v1.Namespace..name).
func FileName(id gsync.ObjectID) string {
	group := ""
	if id.Group != "" {
		group = id.Group + "."
	}
	return group + id.Version + "." + id.Kind + "." + id.Namespace + "." + id.Name
}

// YAML is an object's side of the diff as YAML; nil gives nothing.
func YAML(o *unstructured.Unstructured) ([]byte, error) {
	if o == nil {
		return nil, nil
	}
	return yaml.Marshal(o.Object)
}

// WriteUnified writes a unified diff of every shown object, live against
// merged, each headed as kubectl diff heads it:
//
//	diff -u -N LIVE/apps.v1.Deployment.shop.web MERGED/apps.v1.Deployment.shop.web
//	--- LIVE/apps.v1.Deployment.shop.web
//	+++ MERGED/apps.v1.Deployment.shop.web
//	@@ -20,7 +20,7 @@
//
// An object to create is all added, one to prune all removed. Nothing is
// written when nothing differs.
func (v *View) WriteUnified(w io.Writer, opts UnifiedOptions) error {
	if opts.Context <= 0 {
		opts.Context = 3
	}
	var buf bytes.Buffer
	for _, o := range v.Objects {
		if !o.Shown() {
			continue
		}
		a, err := YAML(o.Live)
		if err != nil {
			return err
		}
		b, err := YAML(o.Merged)
		if err != nil {
			return err
		}
		if bytes.Equal(a, b) {
			continue
		}
		name := FileName(o.ObjectID)
		from, to := LiveDir+"/"+name, MergedDir+"/"+name
		buf.WriteString("diff -u -N " + from + " " + to + "\n")
		if err := difflib.WriteUnifiedDiff(&buf, difflib.UnifiedDiff{
			A: lines(a), B: lines(b), FromFile: from, ToFile: to, Context: opts.Context,
		}); err != nil {
			return err
		}
	}
	if !opts.Color {
		_, err := w.Write(buf.Bytes())
		return err
	}
	return colorize(w, buf.Bytes())
}

// lines splits text after each newline, each line keeping it.
func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	out := strings.SplitAfter(string(b), "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// ANSI escapes.
const (
	bold  = "\x1b[1m"
	red   = "\x1b[31m"
	green = "\x1b[32m"
	cyan  = "\x1b[36m"
	reset = "\x1b[0m"
)

func colorize(w io.Writer, diff []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(diff))
	sc.Buffer(make([]byte, 64<<10), len(diff)+1)
	bw := bufio.NewWriter(w)
	for sc.Scan() {
		line := sc.Text()
		color := ""
		switch {
		case strings.HasPrefix(line, "diff "), strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "+++ "):
			color = bold
		case strings.HasPrefix(line, "@@"):
			color = cyan
		case strings.HasPrefix(line, "-"):
			color = red
		case strings.HasPrefix(line, "+"):
			color = green
		}
		if color == "" {
			bw.WriteString(line + "\n")
		} else {
			bw.WriteString(color + line + reset + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}
