package appflags

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	gsource "github.com/kubectl-gitops/kubectl-gitops/pkg/source"
	"github.com/kubectl-gitops/kubectl-gitops/plugins/agekeys"
)

func TestNamespaceMatches(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		ns       string
		want     bool
	}{
		{[]string{"team-a"}, "team-a", true},
		{[]string{"team-a"}, "team-ab", false},
		{[]string{"team-*"}, "team-ab", true},
		{[]string{"team-*"}, "argocd", false},
		{[]string{"*"}, "anything", true},
		{[]string{"/^team-(a|b)$/"}, "team-b", true},
		{[]string{"/^team-(a|b)$/"}, "team-c", false},
		{[]string{"other", "/b$/"}, "team-b", true},
		{nil, "team-a", false},
	} {
		got, err := NamespaceMatches(tc.patterns, tc.ns)
		if err != nil || got != tc.want {
			t.Errorf("NamespaceMatches(%q, %q) = %v, %v; want %v", tc.patterns, tc.ns, got, err, tc.want)
		}
	}
	// Argo CD's own example needs lookahead, which Go's regexp lacks: an
	// error naming the pattern, never a silent mismatch.
	if _, err := NamespaceMatches([]string{"/^((?!not-allowed).)*$/"}, "x"); err == nil || !strings.Contains(err.Error(), "/^((?!not-allowed).)*$/ is not a regular expression Go accepts") {
		t.Errorf("lookahead: %v", err)
	}
}

// A tenant's Application may use only a project that lists its namespace,
// read where the operator's projects are: never one an app rendered, nor
// an implicit default.
func TestProjectsForTenant(t *testing.T) {
	project := func(name string, namespaces ...any) *unstructured.Unstructured {
		spec := map[string]any{"sourceRepos": []any{"*"}}
		if namespaces != nil {
			spec["sourceNamespaces"] = namespaces
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
			"metadata": map[string]any{"name": name}, "spec": spec}}
	}
	ps, err := (&AppFile{}).LoadProjects([]argocd.FileObject{{File: "apps/p.yaml", Object: project("team-a", "team-a", "shared-*")}, {File: "apps/q.yaml", Object: project("open")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := ps.Rendered("root", []*unstructured.Unstructured{project("sneaky", "team-b")})
	if err != nil {
		t.Fatal(err)
	}
	tenant := func(ns, project string) *Target {
		return &Target{Application: &argocd.Application{Name: ns + ".web", Project: project}, Tenant: &Tenant{Namespace: ns, Name: "web"}}
	}
	for _, tc := range []struct{ ns, project, wantErr string }{
		{"team-a", "team-a", ""},
		{"shared-x", "team-a", ""},
		{"team-b", "team-a", "Application team-b/web in namespace team-b is not allowed to use project team-a: add team-b to the AppProject's spec.sourceNamespaces (now: team-a, shared-*)"},
		{"team-a", "open", "is not allowed to use project open: add team-a to the AppProject's spec.sourceNamespaces (now: none)"},
		{"team-a", "", "Application team-a/web may not use project default: there is no AppProject default"},
		{"team-b", "sneaky", "may not use project sneaky: there is no AppProject sneaky"},
	} {
		_, err := rendered.For(context.Background(), tenant(tc.ns, tc.project))
		if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s in project %q: %v; want %q", tc.ns, tc.project, err, tc.wantErr)
		}
	}
	// The control plane's own Applications use any project, as before.
	if p, err := rendered.For(context.Background(), &Target{Application: &argocd.Application{Name: "web", Project: "sneaky"}}); err != nil || p == nil {
		t.Errorf("control plane app: %v %v", p, err)
	}
	if _, err := projectFrom("x", project("bad", "/(/")); err == nil || !strings.Contains(err.Error(), "spec.sourceNamespaces: /(/ is not a regular expression") {
		t.Errorf("bad pattern: %v", err)
	}
}

// A tenant's target carries none of the command's credentials or keys:
// only its namespace's.
func TestOntoTenant(t *testing.T) {
	var f Flags
	f.Source.TokenFile, f.Source.SSHKeyFile = "/operator/token", "/operator/id_ed25519"
	f.Source.EnableExec, f.Source.EnableContainerFunctions = true, true
	f.Source.Keys = agekeys.Flags{Files: []string{"/operator/keys.txt"}, Secret: "flux-system/sops-age"}
	tgt := &Target{Application: &argocd.Application{Name: "team-a.web"}, Tenant: &Tenant{Namespace: "team-a", Name: "web", KeySecret: "gitops-age-key"}}
	got := tgt.Onto(f)
	if got.Source.TokenFile != "" || got.Source.SSHKeyFile != "" || !got.Source.Anonymous || got.Source.Credentials != nil {
		t.Errorf("tenant without a repository Secret: %+v; want anonymous, no operator credentials", got.Source)
	}
	if got.Source.EnableExec || got.Source.EnableContainerFunctions {
		t.Errorf("tenant may run exec or container functions: %+v", got.Source)
	}
	if k := got.Source.Keys; len(k.Files) != 0 || k.Secret != "team-a/gitops-age-key" || !k.SecretOnly {
		t.Errorf("tenant keys %+v; want only Secret team-a/gitops-age-key", k)
	}
	tgt.Tenant.Auth = &gsource.Auth{Username: "team-a", Token: "team-a-token-value"}
	got = tgt.Onto(f)
	if a, err := got.Source.Auth(); err != nil || a.Token != "team-a-token-value" || a.Username != "team-a" || a.SSHKeyFile != "" || got.Source.Anonymous {
		t.Errorf("tenant with a repository Secret: %+v %v", a, err)
	}
	// Not a tenant: the command's own.
	got = (&Target{Application: &argocd.Application{Name: "web"}}).Onto(f)
	if got.Source.TokenFile != "/operator/token" || got.Source.Keys.Secret != "flux-system/sops-age" {
		t.Errorf("control plane app lost the operator's flags: %+v", got.Source)
	}
}
