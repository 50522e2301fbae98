package agent

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/argocd"
)

// obj decodes YAML into JSON values as the API server's objects hold them
// (integers int64).
func obj(t *testing.T, y string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	return u.Object
}

// operationOf is the operation of an Application written in YAML.
func operationOf(t *testing.T, y string) any {
	t.Helper()
	return obj(t, "apiVersion: argoproj.io/v1alpha1\nkind: Application\noperation:\n"+indentYAML(y))["operation"]
}

func indentYAML(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}

var specSource = map[string]any{"repoURL": "https://git.example/config.git", "path": "apps/web", "targetRevision": "main"}

func TestParseOperation(t *testing.T) {
	defaults := &retryStrategy{duration: 5 * time.Second, factor: 2, maxDuration: 3 * time.Minute}
	for _, tc := range []struct {
		name, op string
		want     *syncRequest
	}{
		{"as argocd app sync writes it", `
sync:
  revision: 0123456789abcdef0123456789abcdef01234567
  prune: true
  source: {repoURL: https://git.example/config.git, path: apps/web, targetRevision: main, directory: {jsonnet: {}}}
  syncOptions: [CreateNamespace=true]
  syncStrategy: {hook: {force: true}}
initiatedBy: {username: alice}
info: [{name: reason, value: release}]
retry: {limit: 2, backoff: {duration: 1s, factor: 1, maxDuration: "30"}}
`, &syncRequest{revision: "0123456789abcdef0123456789abcdef01234567", prune: true, syncOptions: []string{"CreateNamespace=true"}, optionsGiven: true, force: true,
			username: "alice", retry: &retryStrategy{limit: 2, duration: time.Second, factor: 1, maxDuration: 30 * time.Second}}},
		{"kubectl patch, the least", "sync: {}", &syncRequest{}},
		{"selective, apply strategy, dry run", `
sync:
  dryRun: true
  syncStrategy: {apply: {force: false}}
  resources: [{kind: ConfigMap, name: web-config}, {group: apps, kind: Deployment, namespace: prod, name: web}]
  syncOptions: []
  autoHealAttemptsCount: 3
initiatedBy: {automated: true}
retry: {limit: -1, refresh: true}
`, &syncRequest{dryRun: true, apply: true, optionsGiven: true, automated: true,
			resources: []syncResource{{kind: "ConfigMap", name: "web-config"}, {group: "apps", kind: "Deployment", namespace: "prod", name: "web"}},
			retry:     &retryStrategy{limit: -1, duration: defaults.duration, factor: defaults.factor, maxDuration: defaults.maxDuration, refresh: true}}},
		{"a source equal but for an empty targetRevision", `
sync:
  source: {repoURL: https://git.example/config.git, path: apps/web}
`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := specSource
			if tc.want == nil { // the spec names no targetRevision either
				src = map[string]any{"repoURL": "https://git.example/config.git", "path": "apps/web", "targetRevision": "HEAD"}
				tc.want = &syncRequest{}
			}
			got, err := parseOperation(operationOf(t, tc.op), src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(syncRequest{}, syncResource{}, retryStrategy{})); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestParseOperationRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		want     []string
	}{
		{"no sync", "initiatedBy: {username: bob}", []string{"operation.sync is required: the agent runs sync operations only"}},
		{"unknown fields", "sync: {revision: main, replace: true}\nrollback: {id: 3}", []string{
			"operation.rollback: not a field of an Argo CD operation the agent reads (fields here: sync, initiatedBy, info, retry)",
			"operation.sync.replace: not a field of an Argo CD operation the agent reads (fields here: revision, prune, dryRun, syncStrategy, resources, source, syncOptions, manifests, sources, revisions, autoHealAttemptsCount)",
		}},
		{"local manifests", "sync: {manifests: ['kind: ConfigMap']}", []string{
			"operation.sync.manifests: a sync of local manifests (argocd app sync --local) is not supported: the agent syncs from Git"}},
		{"multiple sources", "sync: {sources: [{repoURL: x}], revisions: [main]}", []string{
			"operation.sync.sources: multiple sources are not supported yet; the agent syncs spec.source",
			"operation.sync.revisions: revisions of multiple sources are not supported yet; give operation.sync.revision"}},
		{"another source", "sync: {source: {repoURL: https://git.example/config.git, path: apps/web, targetRevision: v1.0}}", []string{
			"operation.sync.source: it differs from spec.source, and a sync of another source (Argo CD's rollback) is not supported; give none (spec.source is synced) or roll back with kubectl gitops rollback"}},
		{"unknown sync option", "sync: {syncOptions: [ApplyOutOfSyncOnly=true]}", []string{
			`operation.sync.syncOptions: unknown sync option "ApplyOutOfSyncOnly=true"; supported: `}},
		{"a resource without a name", "sync: {resources: [{kind: ConfigMap}]}", []string{"operation.sync.resources[0]: kind and name are required"}},
		{"a resource field unknown", "sync: {resources: [{kind: ConfigMap, name: a, version: v1}]}", []string{
			"operation.sync.resources[0].version: not a field of an Argo CD operation the agent reads (fields here: group, kind, name, namespace)"}},
		{"types", "sync: {prune: yes-please, revision: 3, syncStrategy: {hook: {force: 1}}}\ninitiatedBy: {username: [a]}", []string{
			"operation.initiatedBy.username: want a string, not [a]",
			"operation.sync.revision: want a string, not 3",
			"operation.sync.prune: want true or false, not yes-please",
			"operation.sync.syncStrategy.hook.force: want true or false, not 1"}},
		{"retry", "sync: {}\nretry: {limit: two, backoff: {duration: soon, factor: 0, maxDuration: -1s}}", []string{
			"operation.retry.limit: want a whole number, not two",
			"operation.retry.backoff.duration: soon is not a duration such as 5s, 2m or a number of seconds",
			"operation.retry.backoff.maxDuration: -1s is not a duration such as 5s, 2m or a number of seconds",
			"operation.retry.backoff.factor: want a whole number of at least 1, not 0"}},
		{"not an object", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw any = "sync"
			if tc.op != "" {
				raw = operationOf(t, tc.op)
			} else {
				tc.want = []string{"operation: want an object, not sync"}
			}
			_, err := parseOperation(raw, specSource)
			if err == nil {
				t.Fatalf("no error; want %q", tc.want)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("errors:\n%s\nwant %d:\n%s", err, len(tc.want), strings.Join(tc.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("error %d:\n got %s\nwant %s", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// The waits between retries, as Argo CD documents them: 5s, 10s, 20s, 40s,
// 80s by default, at most maxDuration.
func TestRetryBackoff(t *testing.T) {
	var got []string
	for _, r := range []*retryStrategy{
		specRetry(&argocd.Retry{Limit: 5, Backoff: 5 * time.Second, Factor: 2, MaxDuration: 3 * time.Minute}),
		{limit: 5, duration: 2 * time.Second, factor: 3, maxDuration: time.Minute},
		{limit: 3, duration: time.Second, factor: 1},
		{limit: 70, duration: time.Second, factor: 2}, // no cap: no overflow either
	} {
		var waits []string
		for n := 1; n <= 7; n++ {
			waits = append(waits, r.backoff(n).String())
		}
		got = append(got, strings.Join(waits, " "))
	}
	want := []string{
		"5s 10s 20s 40s 1m20s 2m40s 3m0s",
		"2s 6s 18s 54s 1m0s 1m0s 1m0s",
		"1s 1s 1s 1s 1s 1s 1s",
		"1s 2s 4s 8s 16s 32s 1m4s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if huge := (&retryStrategy{duration: time.Second, factor: 2}).backoff(100); huge <= 0 {
		t.Errorf("retry 100 waits %s", huge)
	}

	// Argo CD's limit: retries while fewer than limit were made; negative
	// is unlimited; none, none.
	var retries []string
	for _, r := range []*retryStrategy{{limit: 2}, {limit: 0}, {limit: -1}, nil} {
		var s []string
		for n := 0; n <= 3; n++ {
			s = append(s, fmt.Sprint(r.retries(n)))
		}
		retries = append(retries, strings.Join(s, " "))
	}
	if diff := cmp.Diff([]string{"true true false false", "false false false false", "true true true true", "false false false false"}, retries); diff != "" {
		t.Errorf("retries (-want +got)\n%s", diff)
	}
}

func unstructuredOf(t *testing.T, y string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: obj(t, y)}
}

// listing prints objects as the engine will see them: Kind/namespace/name
// and the hook annotation.
func listing(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s/%s/%s%s hook=%s", o.GetKind(), o.GetNamespace(), o.GetName(), o.GetGenerateName(), o.GetAnnotations()["argocd.argoproj.io/hook"]))
	}
	return out
}

// A selective sync keeps every object it does not name as it is: rendered
// ones get the Skip hook, members that left Git a stub with it; hooks do
// not run (those named by the server are left out). The apply strategy
// keeps the objects and skips the hooks only.
func TestSelection(t *testing.T) {
	render := []*unstructured.Unstructured{
		unstructuredOf(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}"),
		unstructuredOf(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}"),
		unstructuredOf(t, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}"),
		unstructuredOf(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate, annotations: {argocd.argoproj.io/hook: PreSync}}"),
		unstructuredOf(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: smoke-, annotations: {helm.sh/hook: post-install}}"),
	}
	live := []*unstructured.Unstructured{
		unstructuredOf(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config, namespace: prod}"),
		unstructuredOf(t, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}"),
		unstructuredOf(t, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: old, namespace: prod}"),
		unstructuredOf(t, "apiVersion: v1\nkind: Service\nmetadata: {name: gone, namespace: prod}"),
	}
	before := listing(render)
	for _, tc := range []struct {
		name string
		req  *syncRequest
		want []string
	}{
		{"a ConfigMap, and a Service that left Git", &syncRequest{resources: []syncResource{{kind: "ConfigMap", name: "web-config"}, {kind: "Service", namespace: "prod", name: "gone"}}}, []string{
			"ConfigMap//web-config hook=",
			"Deployment/prod/web hook=Skip",
			"ClusterRole//reader hook=Skip",
			"Job//migrate hook=Skip",
			"Deployment/prod/old hook=Skip",
		}},
		{"a hook named is not run either", &syncRequest{resources: []syncResource{{group: "batch", kind: "Job", name: "migrate"}, {group: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "reader"}}}, []string{
			"ConfigMap//web-config hook=Skip",
			"Deployment/prod/web hook=Skip",
			"ClusterRole//reader hook=",
			"Job//migrate hook=Skip",
			"Deployment/prod/old hook=Skip",
			"Service/prod/gone hook=Skip",
		}},
		{"another namespace", &syncRequest{resources: []syncResource{{group: "apps", kind: "Deployment", namespace: "staging", name: "web"}}}, []string{
			"ConfigMap//web-config hook=Skip",
			"Deployment/prod/web hook=Skip",
			"ClusterRole//reader hook=Skip",
			"Job//migrate hook=Skip",
			"Deployment/prod/old hook=Skip",
			"Service/prod/gone hook=Skip",
		}},
		{"the apply strategy", &syncRequest{apply: true}, []string{
			"ConfigMap//web-config hook=",
			"Deployment/prod/web hook=",
			"ClusterRole//reader hook=",
			"Job//migrate hook=Skip",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sel := newSelection(tc.req, "prod")
			sel.live = live
			if diff := cmp.Diff(tc.want, listing(sel.apply(render))); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	if diff := cmp.Diff(before, listing(render)); diff != "" {
		t.Errorf("the render was changed (-before +after)\n%s", diff)
	}
	if sel := newSelection(&syncRequest{prune: true}, "prod"); sel != nil {
		t.Errorf("a sync of everything has a selection")
	}
}

func TestSameRevision(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		revision, target string
		want             bool
	}{
		{"", "main", true},
		{"main", "main", true},
		{"HEAD", "", true},
		{sha, "main", true},
		{"0123456", "main", true},
		{"012345", "main", false}, // too short to be taken for the commit
		{"fedcba9876", "main", false},
		{"v1.0", "main", false},
	} {
		if got := sameRevision(tc.revision, tc.target, sha); got != tc.want {
			t.Errorf("sameRevision(%q, %q) = %v, want %v", tc.revision, tc.target, got, tc.want)
		}
	}
}

// A sync asked for (.operation set or changed) calls for a reconcile; the
// agent clearing it does not.
func TestDefinitionChangedByOperation(t *testing.T) {
	app := func(op string) *unstructured.Unstructured {
		y := "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: web}\nspec: {project: default}\n"
		if op != "" {
			y += "operation: " + op + "\n"
		}
		return unstructuredOf(t, y)
	}
	for _, tc := range []struct {
		old, new string
		want     bool
	}{
		{"", "{sync: {revision: main}}", true},
		{"{sync: {revision: main}}", "{sync: {revision: v2}}", true},
		{"{sync: {revision: main}}", "{sync: {revision: main}}", false},
		{"{sync: {revision: main}}", "", false},
	} {
		if got := definitionChanged(app(tc.old), app(tc.new)); got != tc.want {
			t.Errorf("operation %q → %q: definitionChanged %v, want %v", tc.old, tc.new, got, tc.want)
		}
	}
}
