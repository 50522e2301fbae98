package validateproject

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// wildcard is the documented matching of the patterns both kinds of list
// share, written independently of either matcher: '*' is any run of
// characters (none too), '?' exactly one, every other character itself.
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

// FuzzGlob: the AppProject patterns of resource lists (Argo CD's
// filepath.Match) and of destinations (its gobwas globs) never panic; on
// patterns of only '*' and '?' (and values without '/', which filepath's
// '*' does not cross) both match as documented; a pattern without
// metacharacters matches only itself; "*" matches every such value; and
// resource lists and destinations agree with their matcher.
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{
		{"*", "anything"}, {"", ""}, {"", "x"}, {"apps", "apps"}, {"apps", "app"},
		{"*.k8s.io", "rbac.authorization.k8s.io"}, {"Cluster*", "ClusterRole"}, {"?ecret", "Secret"},
		{"team-*-prod", "team-a-prod"}, {"https://*.example.com", "https://kube.example.com"},
		{"!kube-system", "kube-system"}, {"prod?", "prod"}, {"a*b*c", "aXbYbZc"}, {"**", ""},
		{"[a-z]", "a"}, {"[Ss]ecret", "Secret"}, {"{a,b}", "a"}, {`\*`, "*"}, {"(.*)", "(x)"}, {"a.b", "aXb"}, {"a?b", "a\nb"},
		{"ünï*", "ünïcode"}, {"?", "é"}, {"[", "["},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		// AppProjects are YAML, which holds only valid UTF-8.
		if len(pattern) > 64 || len(value) > 64 || !utf8.ValidString(pattern) || !utf8.ValidString(value) {
			return
		}
		res, dst := resourceGlob(pattern, value), destinationGlob(pattern, value)
		simple := !strings.ContainsAny(pattern, `[]{}\/,!`) && !strings.Contains(value, "/")
		if want := wildcard([]rune(pattern), []rune(value)); simple && (res != want || dst != want) {
			t.Fatalf("%q against %q: resource lists %v, destinations %v; want %v", pattern, value, res, dst, want)
		}
		if simple && !strings.ContainsAny(pattern, "*?") && (res != (pattern == value) || !resourceGlob(pattern, pattern)) {
			t.Fatalf("literal %q against %q: %v", pattern, value, res)
		}
		if !destinationGlob("*", value) || (!strings.Contains(value, "/") && !resourceGlob("*", value)) {
			t.Fatalf("* does not match %q", value)
		}
		list := &[]ResourceEntry{{Group: pattern, Kind: "*", Name: pattern}}
		if listed(list, GroupKind{Group: value, Kind: "K"}, value, true) != res {
			t.Fatalf("resource list entry %q and %q disagree with resourceGlob", pattern, value)
		}
		ok, _ := destinationPermitted([]Destination{{Server: pattern, Namespace: "*"}}, Destination{Server: value}, "ns")
		if pattern != "" && !strings.HasPrefix(pattern, "!") && ok != dst {
			t.Fatalf("destination %q for server %q: %v, destinationGlob says %v", pattern, value, ok, dst)
		}
	})
}
