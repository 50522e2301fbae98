package strict_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/strict"
)

type entry struct {
	Group string `json:"group"`
	Kind  string `json:"kind"`
}

type inlined struct {
	Extra string `json:"extra"`
}

type config struct {
	APIVersion string            `json:"apiVersion"`
	Metadata   strict.ObjectMeta `json:"metadata"`
	Entries    *[]entry          `json:"entries"`
	ByName     map[string]entry  `json:"byName"`
	Anything   any               `json:"anything"`
	Raw        rawJSON           `json:"raw"`
	Tagged     string            `yaml:"tagged"`
	Skipped    string            `json:"-"`
	inlined
}

type rawJSON struct{ b []byte }

func (r *rawJSON) UnmarshalJSON(b []byte) error { r.b = b; return nil }

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"known keys at every level", `
apiVersion: v1
metadata: {name: a, labels: {x: y}, uid: "1", creationTimestamp: "2020-01-01T00:00:00Z", managedFields: [{manager: m}]}
entries: [{group: g, kind: k}]
byName: {a: {kind: k}}
anything: {whatever: [1, 2]}
raw: {free: form}
tagged: t
extra: e
`, nil},
		{"misspelled top-level key", "apiVersoin: v1\n", []string{"apiVersoin: unknown key; did you mean apiVersion?"}},
		{"wrong case", "apiversion: v1\n", []string{"apiversion: unknown key; did you mean apiVersion?"}},
		{"nested in a list", "entries: [{group: g, kind: k}, {group: g, knd: k}]\n", []string{"entries[1].knd: unknown key; did you mean kind?"}},
		{"beneath a map value", "byName: {a: {grop: g}}\n", []string{"byName.a.grop: unknown key; did you mean group?"}},
		{"nothing close", "entries: [{colour: red}]\n", []string{"entries[0].colour: unknown key; the keys here are group, kind"}},
		{"every problem, in document order", "zzz: 1\nmetadata: {nmae: a}\nSkipped: x\n", []string{
			"zzz: unknown key; the keys here are anything, apiVersion, byName, entries, extra, metadata, raw, tagged",
			"metadata.nmae: unknown key; did you mean name?",
			"Skipped: unknown key; the keys here are anything, apiVersion, byName, entries, extra, metadata, raw, tagged",
		}},
		{"an unknown key's value is not walked", "base: &b {group: g, kidn: k}\n", []string{"base: unknown key; the keys here are anything, apiVersion, byName, entries, extra, metadata, raw, tagged"}},
		{"merge key", "entries:\n- &e {group: g}\n- <<: *e\n  kin: k\n", []string{"entries[1].kin: unknown key; did you mean kind?"}},
		{"wrong types are the decoder's business", "entries: notalist\nmetadata: [1]\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, err := range strict.UnknownKeys(yaml.MustParse(tc.doc), &config{}, "") {
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownKeysPrefix(t *testing.T) {
	errs := strict.UnknownKeys(yaml.MustParse("entries: [{kinds: k}]\n"), &config{}, "project.spec")
	if got, want := errors.Join(errs...).Error(), "project.spec.entries[0].kinds: unknown key; did you mean kind?"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"namespaceResourceBlacklist", "namespaceResourceWhitelist", "name", "newTag", "server"}
	for key, want := range map[string]string{
		"namespaceResourceBlacklst":  "namespaceResourceBlacklist",
		"NamespaceResourceWhitelist": "namespaceResourceWhitelist",
		"nmae":                       "name",
		"nwTag":                      "newTag",
		"sever":                      "server",
		"blacklist":                  "",
		"tag":                        "",
	} {
		if got := strict.Suggest(key, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", key, got, want)
		}
	}
}
