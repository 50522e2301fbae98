package ignore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gobwas/glob"
	"github.com/itchyny/gojq"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Rule is one entry of an Argo CD Application's spec.ignoreDifferences.
// Build rules with Load or Parse, or compile hand-made ones with Compile:
// an uncompiled rule ignores nothing.
type Rule struct {
	// Group is a glob over the object's API group, without the version
	// ("apps", "*"); empty is the core group.
	Group string `json:"group,omitempty"`
	// Kind is a glob over the object's kind ("Deployment", "*").
	Kind string `json:"kind"`
	// Name, when set, is the object's name exactly.
	Name string `json:"name,omitempty"`
	// Namespace, when set, is the object's namespace exactly.
	Namespace string `json:"namespace,omitempty"`
	// JSONPointers are RFC 6901 pointers (/spec/replicas; ~1 for a / in a
	// key, ~0 for a ~).
	JSONPointers []string `json:"jsonPointers,omitempty"`
	// JQPathExpressions are jq path expressions, each selecting any number
	// of fields or list items (.spec.template.spec.initContainers[] |
	// select(.name == "injected")).
	JQPathExpressions []string `json:"jqPathExpressions,omitempty"`
	// ManagedFieldsManagers ignore every field that one of these field
	// managers owns in the live object's managedFields.
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`

	c *compiled
}

type compiled struct {
	group, kind *glob.Pattern
	pointers    []Path
	jq          []*gojq.Code
	jqSource    []string
}

// Compile checks every rule and compiles its globs, pointers and jq
// expressions. Compiled rules are returned as they are. Errors name the
// rule by its index and say what to write instead.
func Compile(rules []Rule) ([]Rule, error) {
	out := make([]Rule, len(rules))
	var errs []error
	for i, r := range rules {
		if r.c == nil {
			c, err := r.compile()
			if err != nil {
				errs = append(errs, fmt.Errorf("ignoreDifferences[%d]: %w", i, err))
				continue
			}
			r.c = c
		}
		out[i] = r
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (r Rule) compile() (*compiled, error) {
	if r.Kind == "" {
		return nil, errors.New(`kind is required; use kind: "*" for every kind`)
	}
	if len(r.JSONPointers)+len(r.JQPathExpressions)+len(r.ManagedFieldsManagers) == 0 {
		return nil, errors.New("the rule ignores nothing; give jsonPointers, jqPathExpressions or managedFieldsManagers")
	}
	c := &compiled{}
	var err error
	if c.group, err = glob.Compile(r.Group); err != nil {
		return nil, fmt.Errorf("group %q is not a valid glob: %v", r.Group, err)
	}
	if c.kind, err = glob.Compile(r.Kind); err != nil {
		return nil, fmt.Errorf("kind %q is not a valid glob: %v", r.Kind, err)
	}
	for i, p := range r.JSONPointers {
		path, err := parsePointer(p)
		if err != nil {
			return nil, fmt.Errorf("jsonPointers[%d] %q: %w", i, p, err)
		}
		c.pointers = append(c.pointers, path)
	}
	for i, e := range r.JQPathExpressions {
		_, err := gojq.Parse(e) // for an error about what the user wrote
		var q *gojq.Query
		if err == nil {
			q, err = gojq.Parse("path(" + e + ")")
		}
		if err == nil {
			var code *gojq.Code
			if code, err = gojq.Compile(q); err == nil {
				c.jq = append(c.jq, code)
				c.jqSource = append(c.jqSource, e)
				continue
			}
		}
		return nil, fmt.Errorf("jqPathExpressions[%d] %q is not a jq path expression: %v", i, e, err)
	}
	for i, m := range r.ManagedFieldsManagers {
		if m == "" {
			return nil, fmt.Errorf("managedFieldsManagers[%d] is empty; name a field manager (kube-controller-manager, say)", i)
		}
	}
	return c, nil
}

// parsePointer splits an RFC 6901 pointer into its reference tokens.
// Tokens stay strings: whether one indexes a list depends on the object.
func parsePointer(p string) (Path, error) {
	if p == "" || p == "/" {
		return nil, errors.New("a pointer to the whole object ignores everything; point at a field, such as /spec/replicas")
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("a JSON pointer starts with /; write /%s", p)
	}
	var out Path
	for _, tok := range strings.Split(p[1:], "/") {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(tok, "~0", ""), "~1", ""), "~") {
			return nil, errors.New("~ must be written ~0 (and / inside a key ~1)")
		}
		out = append(out, strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~"))
	}
	return out, nil
}

// Matches reports whether the rule applies to obj, as Argo CD matches:
// group and kind by glob, name and namespace exactly when set.
func (r Rule) Matches(obj *unstructured.Unstructured) bool {
	if r.c == nil || obj == nil {
		return false
	}
	gk := obj.GroupVersionKind().GroupKind()
	return r.c.group.Match(gk.Group) && r.c.kind.Match(gk.Kind) &&
		(r.Name == "" || r.Name == obj.GetName()) &&
		(r.Namespace == "" || r.Namespace == obj.GetNamespace())
}

// For returns the rules that match obj.
func For(rules []Rule, obj *unstructured.Unstructured) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.Matches(obj) {
			out = append(out, r)
		}
	}
	return out
}

// maxFileSize bounds what Load reads.
const maxFileSize = 1 << 20

// Load reads rules from a file: a YAML or JSON list of rules, or an Argo CD
// Application whose spec.ignoreDifferences holds them.
func Load(file string) ([]Rule, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; is this the right file?", file, maxFileSize)
	}
	return Parse(data, file)
}

// Parse decodes rules from data (see Load); source names data in errors.
// Decoding is strict: an unknown key in a rule is an error that names it.
// Keys of an Application other than spec.ignoreDifferences are not read.
func Parse(data []byte, source string) ([]Rule, error) {
	docs := 0
	for _, d := range docSeparator.Split(string(data), -1) {
		if !blankYAML(d) {
			docs++
			data = []byte(d)
		}
	}
	if docs > 1 {
		return nil, fmt.Errorf("%s: holds %d YAML documents; give one list of rules or one Application", source, docs)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not YAML or JSON: %v", source, err)
	}
	js = bytes.TrimSpace(js)
	var raw []json.RawMessage
	prefix := "ignoreDifferences"
	switch {
	case bytes.HasPrefix(js, []byte("[")):
		if err := json.Unmarshal(js, &raw); err != nil {
			return nil, fmt.Errorf("%s: %v", source, err)
		}
	case bytes.HasPrefix(js, []byte("{")):
		var app struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Spec       struct {
				IgnoreDifferences []json.RawMessage `json:"ignoreDifferences"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(js, &app); err != nil {
			return nil, fmt.Errorf("%s: %v", source, err)
		}
		if app.Kind != "Application" || !strings.HasPrefix(app.APIVersion, "argoproj.io/") {
			what := "a mapping without kind"
			if app.Kind != "" {
				what = fmt.Sprintf("a %s (%s)", app.Kind, app.APIVersion)
			}
			return nil, fmt.Errorf("%s: %s; give a list of ignoreDifferences rules or an Argo CD Application (argoproj.io/v1alpha1)", source, what)
		}
		raw, prefix = app.Spec.IgnoreDifferences, "spec.ignoreDifferences"
	default:
		return nil, fmt.Errorf("%s: neither a list of ignoreDifferences rules nor an Argo CD Application", source)
	}
	rules := make([]Rule, 0, len(raw))
	var errs []error
	for i, m := range raw {
		var r Rule
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s[%d]: %s", source, prefix, i, decodeError(err)))
			continue
		}
		c, err := r.compile()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s[%d]: %w", source, prefix, i, err))
			continue
		}
		r.c = c
		rules = append(rules, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return rules, nil
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// blankYAML reports a document of only comments and blank lines.
func blankYAML(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

var ruleKeys = []string{"group", "kind", "name", "namespace", "jsonPointers", "jqPathExpressions", "managedFieldsManagers"}

// decodeError turns encoding/json's errors into the key and the fix.
func decodeError(err error) string {
	msg := err.Error()
	if key, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		key, _ = strconv.Unquote(key)
		return fmt.Sprintf("unknown key %q; %s", key, suggest(key))
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("%s must be %s, not a %s", te.Field, typeWord(te.Type.String()), te.Value)
	}
	return msg
}

func suggest(key string) string {
	lk := strings.ToLower(key)
	for _, k := range ruleKeys {
		kk := strings.ToLower(k)
		if strings.HasPrefix(kk, lk) || strings.HasPrefix(lk, kk) || strings.EqualFold(strings.TrimSuffix(lk, "s"), strings.TrimSuffix(kk, "s")) {
			return "did you mean " + k + "?"
		}
	}
	keys := append([]string{}, ruleKeys...)
	sort.Strings(keys)
	return "the keys of a rule are " + strings.Join(keys, ", ")
}

func typeWord(t string) string {
	switch t {
	case "string":
		return "a string"
	case "[]string":
		return "a list of strings"
	}
	return t
}
