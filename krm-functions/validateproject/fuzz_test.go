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
		// Servers are compared without a trailing "/".
		ok, _ := destinationPermitted([]Destination{{Server: pattern, Namespace: "*"}}, Destination{Server: value}, "ns")
		if want := destinationGlob(strings.TrimSuffix(pattern, "/"), strings.TrimSuffix(value, "/")); pattern != "" && !strings.HasPrefix(pattern, "!") && ok != want {
			t.Fatalf("destination %q for server %q: %v, destinationGlob says %v", pattern, value, ok, want)
		}
	})
}

// FuzzSourceRepos: sourceRepos (RepoPermitted) never panics; "*" permits
// every repository and a list of deny entries alone none (Argo CD's
// documented rule: some allow entry permits, and no deny entry rejects); a
// pattern without metacharacters permits exactly its repository, in any
// ASCII case and with or without ".git"; "!" of it beside "*" refuses it;
// on patterns of only '*' and '?' the match is the documented wildcard one
// after normalising, segment by segment ('*' and '?' stop at '/'); an allow entry more never
// refuses, a deny entry more never permits.
func FuzzSourceRepos(f *testing.F) {
	for _, s := range [][3]string{
		{"https://github.com/acme/*", "https://github.com/acme/config.git", "!https://github.com/acme/sandbox"},
		{"https://github.com/acme/**", "https://github.com/acme/team/config", "*"},
		{"git@github.com:acme/*", "git@github.com:acme/config.git", "!git@github.com:acme/config"},
		{"ssh://git@github.com/acme/*", "git@github.com:acme/x", ""},
		{"*", "file:///srv/git/x", "!*"}, {"", "", ""}, {"!", "x", "!x"},
		{"HTTPS://GitHub.com/Acme/Config.git", "https://github.com/acme/config", "https://github.com/acme/{config,other}"},
		{"a?c", "abc", "[ab]c"}, {"x*", "xyz", `\*`}, {"  https://h/x  ", "https://h/x", "!https://h/x.git"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pattern, repo, other string) {
		if len(pattern) > 80 || len(repo) > 80 || len(other) > 80 || !utf8.ValidString(pattern) || !utf8.ValidString(repo) || !utf8.ValidString(other) {
			return
		}
		got := RepoPermitted([]string{pattern}, repo)
		if !RepoPermitted([]string{"*"}, repo) {
			t.Fatalf("* does not permit %q", repo)
		}
		if RepoPermitted(nil, repo) || RepoPermitted([]string{"!" + pattern, "!" + other}, repo) {
			t.Fatalf("a list without allow entries permits %q", repo)
		}
		// More entries: an allow entry never takes a permission away, a
		// deny entry never gives one.
		if got && !strings.HasPrefix(other, "!") && !RepoPermitted([]string{pattern, other}, repo) {
			t.Fatalf("[%q %q] refuses %q, which [%q] permits", pattern, other, repo, pattern)
		}
		if !got && RepoPermitted([]string{pattern, "!" + other}, repo) {
			t.Fatalf("[%q !%q] permits %q, which [%q] refuses", pattern, other, repo, pattern)
		}
		const meta = `*?[]{}\!`
		if literal := strings.TrimSpace(repo); literal != "" && !strings.ContainsAny(literal, meta) && literal == repo {
			variants := []string{repo}
			if base := strings.TrimSuffix(repo, ".git"); !strings.HasSuffix(base, ".git") {
				variants = append(variants, base, base+".git")
			}
			if isASCII(repo) {
				variants = append(variants, strings.ToUpper(repo), strings.ToLower(repo))
			}
			for _, v := range variants {
				if !RepoPermitted([]string{repo}, v) {
					t.Fatalf("literal %q does not permit %q", repo, v)
				}
			}
			if RepoPermitted([]string{"*", "!" + repo}, repo) {
				t.Fatalf("* with !%q permits it", repo)
			}
		}
		// '*' and '?' stop at '/': segment by segment, the wildcard match.
		if p, r := normalizeRepo(pattern), normalizeRepo(repo); pattern != "*" && !strings.ContainsAny(p, `[]{}\!`) && !strings.Contains(p, "**") {
			ps, rs := strings.Split(p, "/"), strings.Split(r, "/")
			want := len(ps) == len(rs)
			for i := 0; want && i < len(ps); i++ {
				want = wildcard([]rune(ps[i]), []rune(rs[i]))
			}
			if got != want {
				t.Fatalf("%q against %q (normalised %q, %q): %v, want %v", pattern, repo, p, r, got, want)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
