package validateproject

import "testing"

// The patterns Argo CD accepts beyond * and ?, each where Argo CD accepts
// it: classes and escapes in resource lists (filepath.Match), classes and
// alternatives in destinations (gobwas globs). A blacklist entry Argo CD
// enforces must never let an object through here.
func TestArgoCDPatterns(t *testing.T) {
	blacklist := &[]ResourceEntry{{Group: "", Kind: "[Ss]ecret"}, {Group: "rbac.authorization.k8s.io", Kind: `Cluster\Role*`}}
	for _, tc := range []struct {
		gk   GroupKind
		want bool
	}{
		{GroupKind{Kind: "Secret"}, true},
		{GroupKind{Kind: "secret"}, true},
		{GroupKind{Kind: "ConfigMap"}, false},
		{GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}, true},
		{GroupKind{Group: "rbac.authorization.k8s.io", Kind: "Role"}, false},
	} {
		if got := listed(blacklist, tc.gk, "", false); got != tc.want {
			t.Errorf("blacklist matches %v: %v, want %v", tc.gk, got, tc.want)
		}
	}
	dsts := []Destination{{Server: "*", Namespace: "team-{a,b}"}, {Server: "https://prod-[0-9].example", Namespace: "*"}}
	for _, tc := range []struct {
		server, ns string
		want       bool
	}{
		{"https://kubernetes.default.svc", "team-a", true},
		{"https://kubernetes.default.svc", "team-c", false},
		{"https://prod-3.example", "anything", true},
		{"https://prod-x.example", "anything", false},
	} {
		if got, _ := destinationPermitted(dsts, Destination{Server: tc.server}, tc.ns); got != tc.want {
			t.Errorf("destination %s %s: %v, want %v", tc.server, tc.ns, got, tc.want)
		}
	}
	// A server's trailing "/" does not count, in the project or the app.
	for _, tc := range [][2]string{{"https://127.0.0.1:6443/", "https://127.0.0.1:6443"}, {"https://127.0.0.1:6443", "https://127.0.0.1:6443/"}, {"!https://prod.example/", "https://prod.example"}} {
		dst := []Destination{{Server: tc[0], Namespace: "*"}}
		if tc[0][0] == '!' {
			dst = append(dst, Destination{Server: "*", Namespace: "*"})
		}
		if got, _ := destinationPermitted(dst, Destination{Server: tc[1]}, "ns"); got == (tc[0][0] == '!') {
			t.Errorf("destination %s against project server %s: %v", tc[1], tc[0], got)
		}
	}
	// Not a pattern: matches nothing (as in Argo CD), never panics.
	if resourceGlob("[", "[") || destinationGlob("[", "[") {
		t.Errorf("a malformed pattern matched")
	}
}
