package validateproject

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// wildcard is the documented matching, written independently of glob:
// '*' is any run of characters (none too), '?' exactly one, every other
// character itself.
func wildcard(pattern, value []rune) bool {
	// match[j]: pattern[:i] matches value[:j], row by row.
	match := make([]bool, len(value)+1)
	match[0] = true
	for _, c := range pattern {
		next := make([]bool, len(value)+1)
		for j := range next {
			switch {
			case c == '*':
				next[j] = match[j] || (j > 0 && next[j-1])
			case j > 0 && (c == '?' || c == value[j-1]):
				next[j] = match[j-1]
			}
		}
		match = next
	}
	return match[len(value)]
}

// FuzzGlob: the AppProject globs of resource lists and destinations match
// as documented (the wildcard matcher above decides), any pattern matches
// itself, one without metacharacters only itself, and "*" everything;
// resource lists and destinations agree with glob.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"*", "anything"}, {"", ""}, {"", "x"}, {"apps", "apps"}, {"apps", "app"},
		{"*.k8s.io", "rbac.authorization.k8s.io"}, {"Cluster*", "ClusterRole"}, {"?ecret", "Secret"},
		{"team-*-prod", "team-a-prod"}, {"https://*.example.com", "https://kube.example.com"},
		{"!kube-system", "kube-system"}, {"prod?", "prod"}, {"a*b*c", "aXbYbZc"}, {"**", ""},
		{"[a-z]", "a"}, {"{a,b}", "a"}, {`\*`, "*"}, {"(.*)", "(x)"}, {"a.b", "aXb"}, {"a?b", "a\nb"},
		{"ünï*", "ünïcode"}, {"?", "é"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		// AppProjects are YAML, which holds only valid UTF-8.
		if len(pattern) > 64 || len(value) > 64 || !utf8.ValidString(pattern) || !utf8.ValidString(value) {
			return
		}
		got := glob(pattern, value)
		if want := wildcard([]rune(pattern), []rune(value)); got != want {
			t.Fatalf("glob(%q, %q) = %v, want %v", pattern, value, got, want)
		}
		if !glob(pattern, pattern) {
			t.Fatalf("%q does not match itself", pattern)
		}
		if !strings.ContainsAny(pattern, "*?") && got != (pattern == value) {
			t.Fatalf("literal %q matches %q: %v", pattern, value, got)
		}
		if !glob("*", value) {
			t.Fatalf("* does not match %q", value)
		}
		list := &[]ResourceEntry{{Group: pattern, Kind: "*", Name: pattern}}
		if listed(list, GroupKind{Group: value, Kind: "K"}, value, true) != got {
			t.Fatalf("resource list entry %q and %q disagree with glob", pattern, value)
		}
		ok, _ := destinationPermitted([]Destination{{Server: pattern, Namespace: "*"}}, Destination{Server: value}, "ns")
		if pattern != "" && !strings.HasPrefix(pattern, "!") && ok != got {
			t.Fatalf("destination %q for server %q: %v, glob says %v", pattern, value, ok, got)
		}
	})
}
