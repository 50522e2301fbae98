package argocd

import (
	"strings"
	"testing"
)

type fakeGit struct{ tree *Tree }

func (f fakeGit) Tree(repo, rev string) (*Tree, error) { return f.tree, nil }

func TestGenerateGitDirectories(t *testing.T) {
	set := `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: production-services, namespace: argocd}
spec:
  generators:
  - git:
      repoURL: https://github.com/acme/config.git
      revision: HEAD
      directories:
      - path: apps/*/overlays/production
      - path: apps/legacy/overlays/production
        exclude: true
  template:
    metadata:
      name: '{{path[1]}}-production'
      labels: {team: '{{ path[1] }}', untouched: '{{nope}}'}
    spec:
      project: production
      source: {repoURL: https://github.com/acme/config.git, targetRevision: HEAD, path: '{{path}}'}
      destination: {server: https://kubernetes.default.svc, namespace: '{{path.basenameNormalized}}-{{path[1]}}'}
`
	sets, err := ParseAppSets("set.yaml", []byte(set))
	if err != nil {
		t.Fatal(err)
	}
	git := fakeGit{&Tree{Dirs: []string{"apps", "apps/legacy", "apps/legacy/overlays", "apps/legacy/overlays/production", "apps/web", "apps/web/overlays",
		"apps/web/overlays/production", "apps/web/overlays/staging", "apps/api/overlays/production"}}}
	apps, err := sets[0].Generate(git, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.Name+" "+a.Source.Path+" "+a.Destination.Namespace)
	}
	want := "web-production apps/web/overlays/production production-web,api-production apps/api/overlays/production production-api"
	if strings.Join(got, ",") != want {
		t.Errorf("generated %v, want %s", got, want)
	}
}

func TestGenerateGoTemplateListAndClusters(t *testing.T) {
	set := `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: guestbook}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - clusters:
      selector: {matchLabels: {region: eu}}
  - list:
      elements:
      - {cluster: Dev_Cluster, url: https://dev.example}
  template:
    metadata: {name: '{{ index . "name" | default (index . "cluster") | normalize }}-guestbook'}
    spec:
      source: {repoURL: https://github.com/acme/guestbook.git, path: guestbook}
      destination: {server: '{{ or (index . "server") (index . "url") }}', namespace: '{{ with index . "metadata" }}{{ .labels.region }}{{ else }}dev{{ end }}'}
`
	sets, err := ParseAppSets("set.yaml", []byte(set))
	if err != nil {
		t.Fatal(err)
	}
	clusters := []Cluster{{Name: "prod-eu", Server: "https://eu.example", Labels: map[string]string{"region": "eu"}}, {Name: "prod-us", Server: "https://us.example", Labels: map[string]string{"region": "us"}}}
	apps, err := sets[0].Generate(nil, clusters)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.Name+" "+a.Destination.Server+" "+a.Destination.Namespace)
	}
	if want := "prod-eu-guestbook https://eu.example eu,dev-cluster-guestbook https://dev.example dev"; strings.Join(got, ",") != want {
		t.Errorf("generated %v, want %s", got, want)
	}

	// missingkey=error names what is missing.
	sets[0].Template["metadata"] = map[string]any{"name": "{{ .nothing }}"}
	if _, err := sets[0].Generate(nil, clusters); err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Errorf("missing key: %v", err)
	}
}

func TestAppSetErrors(t *testing.T) {
	_, err := ParseAppSets("s.yaml", []byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: s}
spec:
  generators: [{matrix: {generators: []}}, {scmProvider: {}}]
  templatePatch: x
  strategy: {type: RollingSync}
  template: {}
`))
	for _, want := range []string{"spec.generators[0].matrix: not supported yet", "spec.generators[1].scmProvider: not a generator", "spec.templatePatch is not supported yet", "spec.strategy: not a field"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestGoTemplateOptionsChecked(t *testing.T) {
	_, err := ParseAppSets("s.yaml", []byte("apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {name: s}\nspec:\n  goTemplate: true\n  goTemplateOptions: [missingkey=explode]\n  generators: [{list: {elements: []}}]\n  template: {}\n"))
	if err == nil || !strings.Contains(err.Error(), `spec.goTemplateOptions: "missingkey=explode" is not an option`) {
		t.Errorf("%v", err)
	}
}
