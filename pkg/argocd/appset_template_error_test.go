package argocd

import "testing"

// A template that cannot be filled names the field and the parameters the
// generator gives, so the fix is a choice between them.
func TestTemplateErrorNamesFieldAndParameters(t *testing.T) {
	set := `apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: web}
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - list:
      elements:
      - {env: staging, region: eu}
  template:
    metadata: {name: web}
    spec:
      source: {repoURL: https://git.example/config.git, path: apps/web}
      destination:
        server: https://kubernetes.default.svc
        namespace: web
      syncPolicy:
        syncOptions: [CreateNamespace=true, 'Label={{ .cluster }}']
`
	sets, err := ParseAppSets("set.yaml", []byte(set))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sets[0].Generate(nil, nil)
	want := `ApplicationSet web (set.yaml): spec.template.spec.syncPolicy.syncOptions[1]: template: :1:9: executing "" at <.cluster>: map has no entry for key "cluster"; the parameters of spec.generators[0] are: env, region`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
