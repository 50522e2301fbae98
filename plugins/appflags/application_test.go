package appflags

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

func TestResolveDestination(t *testing.T) {
	raw := &clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"local": {Server: "https://127.0.0.1:6443"}, "eu": {Server: "https://eu.example:6443/"}},
		Contexts: map[string]*clientcmdapi.Context{"dev": {Cluster: "local"}, "prod-eu": {Cluster: "eu"}, "dev-admin": {Cluster: "local"}},
	}
	tests := []struct {
		d            argocd.Destination
		ctx, wantErr string
	}{
		{d: argocd.Destination{Server: argocd.InCluster}, ctx: "dev"},
		{d: argocd.Destination{Name: "in-cluster"}, ctx: "dev"},
		{d: argocd.Destination{Server: "https://eu.example:6443"}, ctx: "prod-eu"},
		// Several contexts of one server: the current one wins.
		{d: argocd.Destination{Server: "https://127.0.0.1:6443"}, ctx: "dev"},
		{d: argocd.Destination{Name: "prod-eu"}, ctx: "prod-eu"},
		{d: argocd.Destination{Server: "https://10.0.0.1"}, wantErr: "destination server https://10.0.0.1 is no cluster of the kubeconfig; contexts: dev (https://127.0.0.1:6443), dev-admin (https://127.0.0.1:6443), prod-eu (https://eu.example:6443/)"},
		{d: argocd.Destination{Name: "staging"}, wantErr: "destination name staging is no context of the kubeconfig"},
	}
	for _, tt := range tests {
		ctx, _, err := ResolveDestination(raw, "dev", tt.d)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: error %v, want %q", tt.d, err, tt.wantErr)
			}
			continue
		}
		if err != nil || ctx != tt.ctx {
			t.Errorf("%+v: %q %v, want %q", tt.d, ctx, err, tt.ctx)
		}
	}
	if _, _, err := ResolveDestination(raw, "", argocd.Destination{Server: argocd.InCluster}); err == nil {
		t.Error("in-cluster without a current context")
	}
}

// The project's word on the source is checked before anything is fetched;
// restrictions not enforced yet refuse the sync.
func TestCheckSource(t *testing.T) {
	p := &Project{SourceRepos: []string{"https://github.com/acme/*"}, Unenforced: []string{"signatureKeys"}}
	p.Metadata.Name = "production"
	tg := &Target{Application: &argocd.Application{Name: "web", Project: "production", Source: argocd.Source{RepoURL: "https://evil.example/x.git"}}}
	err := tg.CheckSource(p)
	for _, want := range []string{"repository https://evil.example/x.git is not permitted by AppProject production (sourceRepos", "AppProject production sets signatureKeys, which is not enforced yet", "nothing was fetched"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if err := tg.CheckSource(nil); err != nil {
		t.Errorf("default project: %v", err)
	}
}

// A project is found in the given files, then in what the apps above
// render (the nearest first); default without an AppProject permits
// everything; any other project must be found.
func TestProjectsFor(t *testing.T) {
	project := func(name, repo string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"sourceRepos": []any{repo}}}}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "projects.yaml")
	if err := os.WriteFile(file, []byte("apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team-a}\nspec: {sourceRepos: [given]}\n---\napiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: team-b}\nspec: {sourceRepos: [given]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// --project-file wins over the same project next to the Applications.
	ps, err := (&AppFile{ProjectFile: dir}).LoadProjects([]argocd.FileObject{{File: "apps/c.yaml", Object: project("team-c", "next-to-apps")}, {File: "apps/a.yaml", Object: project("team-a", "next-to-apps")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	top, err := ps.Rendered("root", []*unstructured.Unstructured{project("team-a", "rendered"), project("team-d", "root")})
	if err != nil {
		t.Fatal(err)
	}
	near, err := top.Rendered("child", []*unstructured.Unstructured{project("team-d", "child")})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"team-a": "given", "team-b": "given", "team-c": "next-to-apps", "team-d": "child"} {
		p, err := near.For(context.Background(), &Target{Application: &argocd.Application{Name: "x", Project: name}})
		if err != nil || p == nil || p.SourceRepos[0] != want {
			t.Errorf("%s: %+v %v, want the one from %s", name, p, err, want)
		}
	}
	if p, err := top.For(context.Background(), &Target{Application: &argocd.Application{Name: "x"}}); p != nil || err != nil {
		t.Errorf("default: %v %v", p, err)
	}
	if _, err := top.For(context.Background(), &Target{Application: &argocd.Application{Name: "x", Project: "other"}}); err == nil || !strings.Contains(err.Error(), "project other: no AppProject other in --project-file") {
		t.Errorf("another project: %v", err)
	}
	if _, err := ps.Rendered("root", []*unstructured.Unstructured{project("team-e", "a"), project("team-e", "b")}); err == nil || !strings.Contains(err.Error(), "AppProject team-e is given twice") {
		t.Errorf("twice: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&AppFile{ProjectFile: dir}).LoadProjects(nil, nil); err == nil || !strings.Contains(err.Error(), "v1 ConfigMap x is not an Argo CD AppProject") {
		t.Errorf("other kind: %v", err)
	}
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://GitHub.com/acme/config.git":     "github.com",
		"https://user:pw@git.example:8443/c.git": "git.example",
		"ssh://git@git.example/c.git":            "git.example",
		"git@github.com:acme/config.git":         "github.com",
		"/srv/config":                            "",
	} {
		if got := hostOf(in); got != want {
			t.Errorf("hostOf(%s) = %q, want %q", in, got, want)
		}
	}
}

// Git credentials go only to the hosts the command's files name.
func TestCredentialsOnlyForTrustedHosts(t *testing.T) {
	raw := &clientcmdapi.Config{Clusters: map[string]*clientcmdapi.Cluster{"c": {Server: "https://127.0.0.1:6443"}}, Contexts: map[string]*clientcmdapi.Context{"dev": {Cluster: "c"}}}
	m := &Mapper{raw: raw, current: "dev", trusted: map[string]bool{"github.com": true}, clients: &clients{m: map[string]*cluster.Client{}}}
	for repo, anonymous := range map[string]bool{"https://github.com/acme/config.git": false, "https://evil.example/x.git": true} {
		tg, err := m.Target(&argocd.Application{Name: "a", Source: argocd.Source{RepoURL: repo}, Destination: argocd.Destination{Name: "in-cluster"}})
		if err != nil {
			t.Fatal(err)
		}
		if tg.Flags.Source.Anonymous != anonymous || tg.Onto(Flags{}).Source.Anonymous != anonymous {
			t.Errorf("%s: anonymous %v, want %v", repo, tg.Flags.Source.Anonymous, anonymous)
		}
	}
}

// A child recorded on another machine is reached by its server URL when
// this kubeconfig names no context as the record does.
func TestChildTarget(t *testing.T) {
	m := &Mapper{raw: &clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"local": {Server: "https://127.0.0.1:6443"}, "eu": {Server: "https://eu.example:6443"}},
		Contexts: map[string]*clientcmdapi.Context{"dev": {Cluster: "local"}, "prod-eu": {Cluster: "eu"}},
	}, current: "dev"}
	for _, tt := range []struct {
		ch   inventory.ChildApp
		want string
	}{
		{inventory.ChildApp{Name: "a", Context: "prod-eu", Server: "https://elsewhere"}, "prod-eu"},
		{inventory.ChildApp{Name: "a", Context: "laptop-eu", Server: "https://eu.example:6443"}, "prod-eu"},
		{inventory.ChildApp{Name: "a", Context: "laptop-local", Server: "https://127.0.0.1:6443"}, "dev"},
		{inventory.ChildApp{Name: "a", Context: "gone", Server: "https://nowhere"}, "gone"},
	} {
		if got := m.ChildTarget(tt.ch).Context; got != tt.want {
			t.Errorf("%+v: context %s, want %s", tt.ch, got, tt.want)
		}
	}
}

// A cluster Secret registering Argo CD's own cluster (by its in-cluster
// URL) means the current context's cluster.
func TestRegisteredInCluster(t *testing.T) {
	m := &Mapper{raw: &clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"local": {Server: "https://127.0.0.1:6443"}},
		Contexts: map[string]*clientcmdapi.Context{"dev": {Cluster: "local"}},
	}, current: "dev", registered: []argocd.Cluster{{Name: "hub", Server: argocd.InCluster + "/"}}, trusted: map[string]bool{}}
	for _, d := range []argocd.Destination{{Name: "hub"}, {Server: argocd.InCluster}} {
		tg, err := m.Target(&argocd.Application{Name: "a", Source: argocd.Source{RepoURL: "r"}, Destination: d})
		if err != nil || tg.Context != "dev" || tg.Application.Destination != d {
			t.Errorf("%+v: %+v %v", d, tg, err)
		}
	}
}
