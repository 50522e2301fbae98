package argocd

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
)

func TestParseFixture(t *testing.T) {
	data, err := os.ReadFile("../../testdata/argocd/production/order-service-production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	apps, err := Parse("app.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	limit := 5
	want := &Application{Name: "order-service-production", Namespace: "argocd", File: "app.yaml", Finalizers: []string{ResourcesFinalizer},
		Project: "production",
		Source: Source{RepoURL: "https://github.com/acme/config.git", TargetRevision: "HEAD", Path: "apps/order-service/overlays/production",
			Kustomize: &render.Kustomize{Images: []string{"registry.example/shop/order-service:1.4.2"},
				CommonAnnotations: map[string]string{"acme.example/deployed-by": "argocd"}, CommonLabels: map[string]string{"acme.example/app": "${ARGOCD_APP_NAME}"}}},
		Destination: Destination{Server: InCluster, Namespace: "orders"},
		SyncPolicy: SyncPolicy{Automated: &Automated{Prune: true, SelfHeal: true}, SyncOptions: []string{"CreateNamespace=true", "PruneLast=true"},
			ManagedNamespaceMetadata: &NamespaceMetadata{Labels: map[string]string{"acme.example/team": "orders"}},
			Retry:                    &Retry{Limit: 5, Backoff: 5 * time.Second, Factor: 2, MaxDuration: 3 * time.Minute}},
		RevisionHistoryLimit: &limit,
	}
	if len(apps) != 1 {
		t.Fatalf("%d apps", len(apps))
	}
	if diff := cmp.Diff(want, apps[0], cmpopts.IgnoreFields(Application{}, "Annotations", "Object")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	doc := `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source: {repoURL: https://git.example/c.git, path: web, helm: {releaseName: web}, kustomize: {namePrefix: p-, version: v5.4.0, images: [1], replicas: [{name: web, count: many}]}}
  sources: []
  destination: {server: https://a, name: b}
  syncPolicy: {automated: {prune: "yes"}, retry: {backoff: {duration: soon}}, managedNamespaceMetadata: {labels: {"bad key!": b}}}
  revisionHistroyLimit: 3
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-an-app}
`
	_, err := Parse("apps.yaml", []byte(doc))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"Application web (apps.yaml):",
		"spec.source.helm: Helm sources are not supported yet",
		"spec.source.kustomize.version: a kustomize version of Argo CD's configuration is not supported",
		"spec.source.kustomize.images: want a list of strings",
		"spec.source.kustomize.replicas[0]: want name and count (a whole number)",
		"spec.sources: multiple sources are not supported yet",
		"spec.syncPolicy.managedNamespaceMetadata.labels: bad key!=b:",
		"spec.revisionHistroyLimit: not a field of an Application this tool reads",
		"spec.destination: give server or name, not both",
		"spec.syncPolicy.automated.prune: want true or false",
		`spec.syncPolicy.retry.backoff.duration: "soon" is not a duration`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestAutomatedSwitchedOff(t *testing.T) {
	apps, err := Parse("a.yaml", []byte("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\nspec:\n  source: {repoURL: r}\n  destination: {name: in-cluster}\n  syncPolicy: {automated: {enabled: false, prune: true}}\n"))
	if err != nil || apps[0].SyncPolicy.Automated != nil {
		t.Errorf("%v %+v", err, apps)
	}
}

func TestRepoMap(t *testing.T) {
	m, err := ParseRepoMap([]string{"https://github.com/acme=/srv/acme", "https://github.com/acme/config.git=/tmp/config"})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"https://github.com/acme/config.git": "/tmp/config",
		"https://github.com/acme/other.git":  "/srv/acme/other.git",
		"https://gitlab.com/x.git":           "https://gitlab.com/x.git",
	} {
		if got := m.Map(in); got != want {
			t.Errorf("Map(%s) = %s, want %s", in, got, want)
		}
	}
	if _, err := ParseRepoMap([]string{"nothing"}); err == nil {
		t.Error("a bad entry is accepted")
	}
}
