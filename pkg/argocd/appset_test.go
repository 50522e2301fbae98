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
	for _, want := range []string{"spec.generators[0].matrix.generators: want exactly two generators", "spec.generators[1].scmProvider: not a generator", "spec.templatePatch works only with goTemplate: true", "spec.strategy: not a field"} {
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

func generate(t *testing.T, set string, git Git, clusters []Cluster) []string {
	t.Helper()
	sets, err := ParseAppSets("set.yaml", []byte(set))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := sets[0].Generate(git, clusters)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range apps {
		got = append(got, a.Name+" "+a.Destination.Server+" "+a.Source.Path)
	}
	return got
}

var twoClusters = []Cluster{
	{Name: "staging", Server: "https://1.2.3.4", Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster", "environment": "staging"}},
	{Name: "production", Server: "https://2.4.6.8", Labels: map[string]string{"argocd.argoproj.io/secret-type": "cluster", "environment": "production", "use-kafka": "false"}},
}

// The matrix example of Argo CD's documentation: git directories times
// clusters, every combination; the second generator may use the first's
// parameters.
func TestGenerateMatrix(t *testing.T) {
	git := fakeGit{&Tree{Dirs: []string{"cluster-addons", "cluster-addons/argo-workflows", "cluster-addons/prometheus-operator"},
		Files: []string{"cluster-config/engineering/dev/config.json", "cluster-config/engineering/prod/config.json"},
		Read:  func(string) ([]byte, error) { return []byte(`{"size": "small"}`), nil }}}
	got := generate(t, `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: cluster-git}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - matrix:
      generators:
      - git:
          repoURL: https://github.com/argoproj/argo-cd.git
          revision: HEAD
          directories:
          - path: cluster-addons/*
      - clusters:
          selector:
            matchLabels:
              argocd.argoproj.io/secret-type: cluster
  template:
    metadata:
      name: '{{.path.basename}}-{{.name}}'
    spec:
      project: '{{index .metadata.labels "environment"}}'
      source: {repoURL: https://github.com/argoproj/argo-cd.git, targetRevision: HEAD, path: '{{.path.path}}'}
      destination: {server: '{{.server}}', namespace: '{{.path.basename}}'}
`, git, twoClusters)
	want := []string{"argo-workflows-staging https://1.2.3.4 cluster-addons/argo-workflows", "argo-workflows-production https://2.4.6.8 cluster-addons/argo-workflows",
		"prometheus-operator-staging https://1.2.3.4 cluster-addons/prometheus-operator", "prometheus-operator-production https://2.4.6.8 cluster-addons/prometheus-operator"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("generated\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The second generator's selector uses the first's parameters (flat).
	got = generate(t, `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: by-env}
spec:
  generators:
  - matrix:
      generators:
      - list:
          elements: [{env: production, app: orders}, {env: staging, app: payments}]
      - clusters:
          selector:
            matchLabels: {environment: '{{env}}'}
  template:
    metadata: {name: '{{app}}-{{name}}'}
    spec:
      source: {repoURL: https://git.example/c.git, path: 'apps/{{app}}'}
      destination: {server: '{{server}}', namespace: '{{app}}'}
`, nil, twoClusters)
	if want := "orders-production https://2.4.6.8 apps/orders,payments-staging https://1.2.3.4 apps/payments"; strings.Join(got, ",") != want {
		t.Errorf("generated %v, want %s", got, want)
	}
}

// The merge example of Argo CD's documentation: the base sets overridden
// by the later generators' sets of the same server.
func TestGenerateMerge(t *testing.T) {
	set := `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: cluster-git}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - merge:
      mergeKeys: [server]
      generators:
      - clusters:
          values: {kafka: 'true', redis: 'false'}
      - clusters:
          selector:
            matchLabels: {use-kafka: 'false'}
          values: {kafka: 'false'}
      - list:
          elements:
          - server: https://2.4.6.8
            values: {redis: 'true'}
  template:
    metadata: {name: '{{.name}}-{{.values.kafka}}-{{.values.redis}}'}
    spec:
      source: {repoURL: https://github.com/argoproj/argo-cd.git, path: app}
      destination: {server: '{{.server}}', namespace: default}
`
	got := generate(t, set, nil, twoClusters)
	// The local cluster is one of the clusters of the first generator (no
	// selector); production is overridden twice.
	want := "staging-true-false https://1.2.3.4 app,production-false-true https://2.4.6.8 app,in-cluster-true-false https://kubernetes.default.svc app"
	if strings.Join(got, ",") != want {
		t.Errorf("generated %v, want %s", got, want)
	}
	dup := strings.Replace(set, "      - list:\n          elements:\n          - server: https://2.4.6.8", "      - list:\n          elements:\n          - server: https://2.4.6.8\n          - server: https://2.4.6.8", 1)
	sets, err := ParseAppSets("set.yaml", []byte(dup))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sets[0].Generate(nil, twoClusters); err == nil || !strings.Contains(err.Error(), "merge.generators[2]: two parameter sets have the merge keys server") {
		t.Errorf("duplicate merge keys: %v", err)
	}
}

// templatePatch, a generator's own template, matchExpressions, values,
// elementsYaml, pathParamPrefix, git files with ** and exclude.
func TestGenerateTemplatesAndSelectors(t *testing.T) {
	got := generate(t, `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: guestbook}
spec:
  goTemplate: true
  generators:
  - list:
      elementsYaml: |
        - {cluster: engineering-dev, url: https://kubernetes.default.svc, autoSync: true, prune: true}
        - {cluster: engineering-prod, url: https://2.4.6.8, autoSync: false}
  - clusters:
      selector:
        matchExpressions:
        - {key: environment, operator: In, values: [staging]}
      template:
        metadata: {}
        spec:
          source: {path: 'override/{{.name}}'}
          destination: {}
  template:
    metadata: {name: '{{ .cluster | default .name }}-guestbook'}
    spec:
      project: default
      source: {repoURL: https://github.com/infra-team/cluster-deployments.git, targetRevision: HEAD, path: guestbook}
      destination: {server: '{{ .url | default .server }}', namespace: guestbook}
  templatePatch: |
    {{- if .autoSync }}
    spec:
      project: patched
      syncPolicy:
        automated:
          prune: {{ .prune }}
    {{- end }}
`, nil, twoClusters)
	want := "engineering-dev-guestbook https://kubernetes.default.svc guestbook,engineering-prod-guestbook https://2.4.6.8 guestbook,staging-guestbook https://1.2.3.4 override/staging"
	if strings.Join(got, ",") != want {
		t.Errorf("generated %v, want %s", got, want)
	}
	sets, _ := ParseAppSets("set.yaml", []byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: p}
spec:
  goTemplate: true
  generators: [{list: {elements: [{a: x, auto: true}, {a: y}]}}]
  template:
    metadata: {name: '{{.a}}'}
    spec: {project: default, source: {repoURL: r, path: p}, destination: {name: in-cluster}}
  templatePatch: |
    {{- if .auto }}
    spec: {project: patched, syncPolicy: {automated: {prune: true}}}
    {{- end }}
`))
	apps, err := sets[0].Generate(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := apps[0]; a.Project != "default" || a.SyncPolicy.Automated == nil || !a.SyncPolicy.Automated.Prune || apps[1].SyncPolicy.Automated != nil {
		t.Errorf("templatePatch: project %s automated %+v, second %+v (the project is never patched)", a.Project, a.SyncPolicy.Automated, apps[1].SyncPolicy.Automated)
	}

	files := map[string]string{"clusters/eu/prod/config.yaml": "region: eu", "clusters/us/prod/config.yaml": "region: us", "clusters/us/dev/config.yaml": "region: us-dev", "clusters/config.yaml": "region: none"}
	git := fakeGit{&Tree{Files: []string{"clusters/config.yaml", "clusters/eu/prod/config.yaml", "clusters/us/dev/config.yaml", "clusters/us/prod/config.yaml"},
		Dirs: []string{"apps", "apps/web"},
		Read: func(p string) ([]byte, error) { return []byte(files[p]), nil }}}
	filesSet := `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: files}
spec:
  generators:
  - matrix:
      generators:
      - git:
          repoURL: https://git.example/c.git
          files:
          - path: "clusters/**/config.yaml"
          - path: "clusters/*/dev/config.yaml"
            exclude: true
          values: {where: '{{region}}-{{path.basename}}'}
      - git:
          repoURL: https://git.example/c.git
          pathParamPrefix: app
          directories: [{path: apps/*}]
  template:
    metadata: {name: '{{app.path.basename}}-{{values.where}}'}
    spec:
      source: {repoURL: https://git.example/c.git, path: '{{app.path}}'}
      destination: {server: https://kubernetes.default.svc, namespace: '{{path[1]}}'}
`
	// Argo CD's default globbing: * crosses directories, and clusters/**/
	// wants a directory between.
	got = generate(t, filesSet, git, nil)
	if want := "web-eu-prod https://kubernetes.default.svc apps/web,web-us-prod https://kubernetes.default.svc apps/web"; strings.Join(got, ",") != want {
		t.Errorf("generated %v, want %s", got, want)
	}
	// Its new globbing (doublestar): ** is zero or more directories.
	fs, err := ParseAppSets("set.yaml", []byte(filesSet))
	if err != nil {
		t.Fatal(err)
	}
	fs[0].NewGitFileGlobbing = true
	apps, err = fs[0].Generate(git, nil)
	if err != nil || len(apps) != 3 || apps[0].Name != "web-none-clusters" {
		t.Errorf("new globbing: %v %v", err, apps)
	}
}

func TestGeneratorErrors(t *testing.T) {
	_, err := ParseAppSets("s.yaml", []byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: s}
spec:
  generators:
  - matrix:
      generators:
      - matrix:
          generators:
          - matrix: {generators: [{list: {elements: []}}, {list: {elements: []}}]}
          - list: {elements: [], template: {metadata: {}}}
      - clusters: {selector: {matchExpressions: [{key: a, operator: Like}]}, flatList: true}
  - merge: {generators: [{list: {elements: []}}, {list: {elements: []}}]}
  - list: {elements: []}
    git: {repoURL: r}
  template: {}
`))
	for _, want := range []string{
		"spec.generators[0].matrix.generators[0].matrix.generators[0].matrix: matrix and merge generators nest only once",
		"spec.generators[0].matrix.generators[0].matrix.generators[1].list.template: Argo CD does not process the template of a matrix or merge child",
		`spec.generators[0].matrix.generators[1].clusters.selector: matchExpressions[0]: operator "Like"`,
		"spec.generators[0].matrix.generators[1].clusters.flatList: not a field this tool reads",
		"spec.generators[1].merge.mergeKeys: at least one key is required",
		"spec.generators[2]: want exactly one generator (list, clusters, git, matrix or merge), found git, list",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// A matrix's second generator keeps for itself the values that name its
// own parameters; generated Applications get the resources finalizer
// unless the set preserves resources; flat lists are key.N; templatePatch
// never sets a project.
func TestGenerateArgoDefaults(t *testing.T) {
	sets, err := ParseAppSets("set.yaml", []byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: m}
spec:
  goTemplate: true
  generators:
  - matrix:
      generators:
      - list: {elements: [{app: web, hosts: [a.example, b.example]}]}
      - clusters:
          selector: {matchLabels: {environment: staging}}
          values: {ns: 'ns-{{.name}}'}
  template:
    metadata: {name: '{{.app}}-{{.name}}'}
    spec:
      source: {repoURL: r, path: p}
      destination: {server: '{{.server}}', namespace: '{{.values.ns}}'}
  templatePatch: |
    spec: {project: admin}
`))
	if err != nil {
		t.Fatal(err)
	}
	apps, err := sets[0].Generate(nil, twoClusters)
	if err != nil {
		t.Fatal(err)
	}
	a := apps[0]
	if a.Destination.Namespace != "ns-staging" || !a.HasResourcesFinalizer() || a.Project != "" {
		t.Errorf("namespace %q, finalizers %v, project %q", a.Destination.Namespace, a.Finalizers, a.Project)
	}
	sets[0].PreserveResourcesOnDeletion = true
	if apps, _ := sets[0].Generate(nil, twoClusters); apps[0].HasResourcesFinalizer() {
		t.Errorf("preserveResourcesOnDeletion: finalizers %v", apps[0].Finalizers)
	}
	flat := generate(t, `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: f}
spec:
  generators: [{list: {elements: [{app: web, hosts: [a.example, b.example]}]}}]
  template:
    metadata: {name: '{{app}}'}
    spec:
      source: {repoURL: r, path: '{{hosts.1}}'}
      destination: {server: https://kubernetes.default.svc, namespace: x}
`, nil, nil)
	if strings.Join(flat, ",") != "web https://kubernetes.default.svc b.example" {
		t.Errorf("flat lists: %v", flat)
	}
}

// spec.syncPolicy.applicationsSync: Argo CD's four policies, and what each
// lets the set do to the Applications it generated; anything else is an
// error naming the field.
func TestAppSetApplicationsSync(t *testing.T) {
	for _, tc := range []struct {
		policy           string
		update, del      bool
		wantErrSubstring string
	}{
		{"", true, true, ""},
		{"sync", true, true, ""},
		{"create-only", false, false, ""},
		{"create-update", true, false, ""},
		{"create-delete", false, true, ""},
		{"upsert", false, false, "spec.syncPolicy.applicationsSync: upsert is not a policy (create-only, create-update, create-delete, sync)"},
	} {
		policy := ""
		if tc.policy != "" {
			policy = "\n  syncPolicy: {applicationsSync: " + tc.policy + "}"
		}
		sets, err := ParseAppSets("set.yaml", []byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: s}
spec:`+policy+`
  generators: [{list: {elements: [{app: web}]}}]
  template:
    metadata: {name: '{{app}}'}
    spec:
      source: {repoURL: r, path: p}
      destination: {server: https://kubernetes.default.svc, namespace: ns}
`))
		if tc.wantErrSubstring != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErrSubstring) {
				t.Errorf("%s: error %v, want %q", tc.policy, err, tc.wantErrSubstring)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.policy, err)
		}
		if s := sets[0]; s.MayUpdate() != tc.update || s.MayDelete() != tc.del {
			t.Errorf("%q: MayUpdate %t, MayDelete %t; want %t, %t", tc.policy, s.MayUpdate(), s.MayDelete(), tc.update, tc.del)
		}
	}
}
