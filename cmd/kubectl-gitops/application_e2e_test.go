package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// configRepo commits the apps of testdata/config-repo, and the production
// Applications of testdata/argocd as argocd/production, to a new
// repository.
func configRepo(t *testing.T) *testrepo.Repo {
	t.Helper()
	files := map[string]string{}
	add := func(root, dir, as string) {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			rel, _ := filepath.Rel(filepath.Join(root, dir), p)
			files[as+"/"+filepath.ToSlash(rel)] = string(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add(filepath.Join("..", "..", "testdata", "config-repo"), "apps", "apps")
	add(filepath.Join("..", "..", "testdata", "argocd"), "production", "argocd/production")
	// Git keeps no empty directory: the path stays when the Applications go.
	files["argocd/production/README.md"] = "The production Applications.\n"
	r := testrepo.New(t)
	r.Commit("config", files)
	// The destination namespaces are the fixtures' own: gone before the
	// next test.
	t.Cleanup(func() { realKubectl(t, "delete", "namespace", "orders", "payments", "--ignore-not-found") })
	return r
}

const (
	appFixture     = "../../testdata/argocd/production/order-service-production.yaml"
	projectFixture = "../../testdata/argocd/project-production.yaml"
)

// variant writes the fixture with one change.
func variant(t *testing.T, file, old, new string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", file, old)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(file))
	if err := os.WriteFile(out, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSyncApplicationAsWritten(t *testing.T) {
	inv := testcluster.Namespace(t, lc)
	r := configRepo(t)
	mapping := "--repo-map=https://github.com/acme/config.git=" + r.Dir

	out, errOut, code := gitops(t, "sync", "-f", appFixture, mapping, "--project-file", projectFixture, "--inventory-namespace", inv, "--timeout", "2m")
	if code != 0 {
		t.Fatalf("sync -f: code %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "app order-service-production (") || !strings.Contains(out, "synced order-service-production") {
		t.Errorf("output:\n%s", out)
	}
	// CreateNamespace=true made the destination namespace; the objects are
	// there, the app is marked automated (syncPolicy.automated).
	if got := realKubectl(t, "get", "deployments,services,configmaps,hpa", "-n", "orders", "-o", "name"); !strings.Contains(got, "deployment.apps/order-service") {
		t.Errorf("objects in orders:\n%s", got)
	}
	// spec.source.kustomize: the image tag, an annotation, a label from
	// the build environment.
	if got := realKubectl(t, "get", "deployment", "-n", "orders", "order-service", "-o", `jsonpath={.spec.template.spec.containers[0].image} {.metadata.annotations.acme\.example/deployed-by} {.metadata.labels.acme\.example/app}`); got != "registry.example/shop/order-service:1.4.2 argocd order-service-production" {
		t.Errorf("kustomize overrides: %q", got)
	}
	if got := realKubectl(t, "get", "namespace", "orders", "-o", `jsonpath={.metadata.labels.acme\.example/team}`); got != "orders" {
		t.Errorf("managedNamespaceMetadata: namespace label %q", got)
	}
	if got := realKubectl(t, "get", "configmap", "-n", inv, "gitops-order-service-production", "-o", "jsonpath={.metadata.annotations.gitops\\.kubectl-gitops\\.dev/automated}"); got != "true" {
		t.Errorf("automated mark %q", got)
	}
	s := statusJSON(t, "order-service-production", "--inventory-namespace", inv)
	if s.Sync != "Synced" || s.Health != "Healthy" {
		t.Errorf("status %s %s: %s", s.Sync, s.Health, s.Reason)
	}
	// The views take the Application too: its source, its cluster.
	if s := statusJSON(t, "-f", appFixture, mapping, "--inventory-namespace", inv); s.App != "order-service-production" || s.Sync != "Synced" {
		t.Errorf("status -f: %+v", s)
	}
	// orphanedResources: status lists what no app manages in the
	// destination namespace (not the app's objects, what they own, Argo
	// CD's exceptions or what the project ignores).
	// (A Secret is a kind the project does not permit: never orphaned.)
	realKubectlIn(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: stray, namespace: orders}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ignored-cache, namespace: orders}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: token, namespace: orders}\n", "apply", "-f", "-")
	orphaned := variant(t, projectFixture, "  destinations:\n", "  orphanedResources:\n    warn: true\n    ignore:\n    - kind: ConfigMap\n      name: 'ignored-*'\n  destinations:\n")
	out, errOut, code = gitops(t, "status", "-f", appFixture, mapping, "--project-file", orphaned, "--inventory-namespace", inv)
	if code != 0 || !strings.Contains(out, "warning: 1 orphaned resources in namespace orders (AppProject production, orphanedResources):\n  ConfigMap/stray\n") {
		t.Errorf("status -f with orphanedResources: code %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := gitops(t, "diff", "-f", appFixture, mapping, "--inventory-namespace", inv, "--exit-code"); code != 0 || out != "" {
		t.Errorf("diff -f: code %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := gitops(t, "history", "-f", appFixture, "--inventory-namespace", inv); code != 0 || !strings.Contains(out, "Succeeded") {
		t.Errorf("history -f: code %d\n%s%s", code, out, errOut)
	}

	// rollback -f: a new commit synced, then back to the first sync, in
	// the Application's cluster, rendered as that sync rendered it (the
	// kustomize overrides too); automated, so only with --force.
	overlay := "apps/order-service/overlays/production/kustomization.yaml"
	r.Commit("debug logs", map[string]string{overlay: strings.Replace(readFile(t, "../../testdata/config-repo/"+overlay), "value: warn", "value: debug", 1)})
	if out, errOut, code := gitops(t, "sync", "-f", appFixture, mapping, "--project-file", projectFixture, "--inventory-namespace", inv); code != 0 {
		t.Fatalf("second sync: code %d\n%s%s", code, out, errOut)
	}
	logLevel := func() string {
		return realKubectl(t, "get", "configmap", "-n", "orders", "order-service-config", "-o", "jsonpath={.data.LOG_LEVEL}")
	}
	if got := logLevel(); got != "debug" {
		t.Fatalf("LOG_LEVEL %q after the second sync", got)
	}
	if _, errOut, code := gitops(t, "rollback", "-f", appFixture, mapping, "1", "--project-file", projectFixture, "--inventory-namespace", inv); code != 1 || !strings.Contains(errOut, "is marked for automated sync") {
		t.Errorf("rollback -f of an automated app without --force: code %d\n%s", code, errOut)
	}
	out, errOut, code = gitops(t, "rollback", "-f", appFixture, mapping, "1", "--force", "--project-file", projectFixture, "--inventory-namespace", inv)
	if code != 0 || !strings.Contains(out, "app order-service-production: rolling back to history ID 1") {
		t.Fatalf("rollback -f: code %d\n%s%s", code, out, errOut)
	}
	if got := logLevel(); got != "warn" {
		t.Errorf("LOG_LEVEL %q after the rollback, want warn", got)
	}
	if got := realKubectl(t, "get", "deployment", "-n", "orders", "order-service", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "registry.example/shop/order-service:1.4.2" {
		t.Errorf("image %q after the rollback: the Application's kustomize images were not applied", got)
	}

	// Each rule of the project, broken: refused before any write, naming
	// the rule.
	r.Commit("a ClusterRole", map[string]string{
		"apps/order-service/overlays/production/kustomization.yaml": strings.Replace(readFile(t, "../../testdata/config-repo/apps/order-service/overlays/production/kustomization.yaml"), "- ../../base\n", "- ../../base\n- clusterrole.yaml\n", 1),
		"apps/order-service/overlays/production/clusterrole.yaml":   "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: order-service-reader}\nrules: []\n",
	})
	refused := []struct{ name, app, want string }{
		{"ClusterRole", appFixture, "ClusterRole/order-service-reader: cluster-scoped kind ClusterRole.rbac.authorization.k8s.io is not in the cluster resource whitelist (AppProject production, clusterResourceWhitelist)"},
		{"namespace", variant(t, appFixture, "namespace: orders", "namespace: billing"), `destination https://kubernetes.default.svc namespace "billing" is not permitted by AppProject production (destinations)`},
		{"repository", variant(t, appFixture, "https://github.com/acme/config.git", "https://github.com/acme/sandbox.git"), "repository https://github.com/acme/sandbox.git is not permitted by AppProject production (sourceRepos"},
	}
	for _, tt := range refused {
		m := mapping
		if strings.Contains(tt.want, "sandbox") {
			m = "--repo-map=https://github.com/acme/sandbox.git=" + r.Dir
		}
		out, errOut, code := gitops(t, "sync", "-f", tt.app, m, "--project-file", projectFixture, "--inventory-namespace", inv)
		if code != 1 || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "nothing was") {
			t.Errorf("%s: code %d, want 1 with %q\n%s%s", tt.name, code, tt.want, out, errOut)
		}
	}
	if got := realKubectl(t, "get", "clusterroles", "-o", "name"); strings.Contains(got, "order-service-reader") {
		t.Errorf("the ClusterRole was applied")
	}
	// A deny window (always active: it opens every minute for an hour)
	// refuses the sync before the repository is fetched; with manualSync a
	// sync from the command (a manual sync) passes it, and the next rule
	// (the ClusterRole) refuses it.
	windows := "  syncWindows:\n  - kind: allow\n    schedule: '0 9 * * *'\n    duration: 8h\n    namespaces: [payments]\n  - kind: deny\n    schedule: '* * * * *'\n    duration: 1h\n    applications: ['*-production']\n    description: change freeze\n  destinations:\n"
	deny := variant(t, projectFixture, "  destinations:\n", windows)
	if _, errOut, code := gitops(t, "sync", "-f", appFixture, "--repo-map=https://github.com/acme/config.git=/nonexistent", "--project-file", deny, "--inventory-namespace", inv); code != 1 ||
		!strings.Contains(errOut, `sync refused by its sync windows (no window opens within a year); nothing was fetched or applied`) ||
		!strings.Contains(errOut, `AppProject production: deny window spec.syncWindows[1] (deny "* * * * *" for 1h: change freeze) is active until `) {
		t.Errorf("deny window: code %d\n%s", code, errOut)
	}
	manual := variant(t, deny, "    description: change freeze\n", "    description: change freeze\n    manualSync: true\n")
	if out, errOut, code := gitops(t, "sync", "-f", appFixture, mapping, "--project-file", manual, "--inventory-namespace", inv); code != 1 ||
		!strings.Contains(out+errOut, "allowed as a manual sync (manualSync)") || !strings.Contains(errOut, "ClusterRole/order-service-reader") {
		t.Errorf("deny window with manualSync: code %d\n%s%s", code, out, errOut)
	}
	// status -f shows the windows as Argo CD does.
	for variant, want := range map[string]string{deny: "Sync window:  Sync Denied (spec.syncWindows[1]", manual: "Sync window:  Manual Allowed (spec.syncWindows[1]"} {
		if out, errOut, _ := gitops(t, "status", "-f", appFixture, mapping, "--project-file", variant, "--inventory-namespace", inv); !strings.Contains(out, want) {
			t.Errorf("status -f: want %q\n%s%s", want, out, errOut)
		}
	}
	if _, errOut, code := gitops(t, "sync", "-f", appFixture, mapping, "--inventory-namespace", inv); code != 1 || !strings.Contains(errOut, "project production: no AppProject production in --project-file, the -f files or the apps that render them, or namespace argocd of the current cluster") {
		t.Errorf("no project file: code %d\n%s", code, errOut)
	}

	// Where Argo CD runs, the project is the cluster's: an AppProject in
	// the projects namespace (here with a deny window) governs the app.
	realKubectlIn(t, appProjectCRD, "apply", "-f", "-")
	t.Cleanup(func() { realKubectl(t, "delete", "crd", "appprojects.argoproj.io", "--ignore-not-found") })
	realKubectlIn(t, strings.Replace(readFile(t, deny), "namespace: argocd", "namespace: "+inv, 1), "apply", "-f", "-")
	if _, errOut, code := gitops(t, "sync", "-f", appFixture, mapping, "--projects-namespace", inv, "--inventory-namespace", inv); code != 1 ||
		!strings.Contains(errOut, `AppProject production: deny window spec.syncWindows[1]`) {
		t.Errorf("the cluster's AppProject: code %d\n%s", code, errOut)
	}
}

// appProjectCRD serves argoproj.io AppProjects (any content), as an Argo CD
// installation does.
const appProjectCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: appprojects.argoproj.io}
spec:
  group: argoproj.io
  names: {kind: AppProject, listKind: AppProjectList, plural: appprojects, singular: appproject}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

func TestApplicationErrors(t *testing.T) {
	inv := testcluster.Namespace(t, lc)
	tests := []struct{ name, old, new, want string }{
		{"unknown cluster", "server: https://kubernetes.default.svc", "server: https://10.1.2.3:6443", "destination server https://10.1.2.3:6443 is no cluster of the kubeconfig; contexts: "},
		{"unknown context", "server: https://kubernetes.default.svc", "name: staging-eu", "destination name staging-eu is no context of the kubeconfig; contexts: "},
		{"Helm", "    path: apps/order-service/overlays/production\n", "    path: apps/order-service/overlays/production\n    helm: {releaseName: orders}\n", "spec.source.helm: Helm sources are not supported yet"},
		{"misspelled", "    syncOptions:", "    syncOption:", "spec.syncPolicy.syncOption: not a field of an Application"},
	}
	for _, tt := range tests {
		out, errOut, code := gitops(t, "sync", "-f", variant(t, appFixture, tt.old, tt.new), "--inventory-namespace", inv)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: code %d, want an error with %q\n%s%s", tt.name, code, tt.want, out, errOut)
		}
	}
	if _, errOut, code := gitops(t, "sync", "-f", appFixture, "--repo", ".", "--inventory-namespace", inv); code != 2 || !strings.Contains(errOut, "--repo cannot go with it") {
		t.Errorf("-f with --repo: code %d\n%s", code, errOut)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

type appTree struct {
	App, Phase, Error     string
	StartedAt, FinishedAt time.Time
	Children              []appTree
	Removed               []struct {
		Name   string
		Pruned bool
	}
}

func TestAppOfApps(t *testing.T) {
	inv := testcluster.Namespace(t, lc)
	r := configRepo(t)
	// The children's AppProject is rendered with them (the root's project
	// is default): they are checked against it; a cluster without Argo CD
	// cannot hold it, so it is read, not applied.
	r.Commit("the production project", map[string]string{"argocd/production/project.yaml": readFile(t, projectFixture)})
	args := []string{"sync", "-f", "../../testdata/argocd/production-apps.yaml", "--repo-map=https://github.com/acme/config.git=" + r.Dir,
		"--inventory-namespace", inv, "--timeout", "2m", "-o", "json"}
	run := func() appTree {
		t.Helper()
		out, errOut, code := gitops(t, args...)
		var tree appTree
		if err := json.Unmarshal([]byte(out), &tree); code != 0 || err != nil {
			t.Fatalf("sync of the root: code %d %v\n%s%s", code, err, out, errOut)
		}
		return tree
	}
	tree := run()
	if tree.App != "production-apps" || len(tree.Children) != 2 {
		t.Fatalf("tree %+v", tree)
	}
	// payment-service is wave 0, order-service wave 1: the second starts
	// after the first has finished.
	pay, order := tree.Children[0], tree.Children[1]
	if pay.App != "payment-service-production" || order.App != "order-service-production" || order.StartedAt.Before(pay.FinishedAt) {
		t.Errorf("children %s (%s–%s), %s (%s–%s): want payment-service, then order-service", pay.App, pay.StartedAt, pay.FinishedAt, order.App, order.StartedAt, order.FinishedAt)
	}
	for _, ns := range []string{"orders", "payments"} {
		if got := realKubectl(t, "get", "deployments", "-n", ns, "-o", "name"); !strings.Contains(got, "deployment.apps/") {
			t.Errorf("no Deployment in %s: %q", ns, got)
		}
	}
	// The root's status and diff split its render as its sync does: the
	// child Applications and the AppProject are not objects to create.
	if s := statusJSON(t, "-f", "../../testdata/argocd/production-apps.yaml", args[3], "--inventory-namespace", inv); s.Sync != "Synced" {
		t.Errorf("status -f of the root: %s %s %+v", s.Sync, s.Reason, s.Objects)
	}
	if out, errOut, code := gitops(t, "diff", "-f", "../../testdata/argocd/production-apps.yaml", args[3], "--inventory-namespace", inv, "--exit-code"); code != 0 {
		t.Errorf("diff -f of the root: code %d\n%s%s", code, out, errOut)
	}

	// order-service leaves Git; it has the resources finalizer, so its
	// objects are pruned. payment-service then leaves without it: its
	// objects stay.
	r.Remove("order-service leaves", "argocd/production/order-service-production.yaml")
	tree = run()
	if len(tree.Removed) != 1 || tree.Removed[0].Name != "order-service-production" || !tree.Removed[0].Pruned {
		t.Errorf("removed %+v", tree.Removed)
	}
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		return strings.TrimSpace(realKubectl(t, "get", "deployments", "-n", "orders", "-o", "name")) == "", nil
	})
	if err != nil {
		t.Errorf("order-service's objects were not pruned")
	}
	// The root records the child as leaving until its prune is done (a
	// failed prune is tried again by the next sync).
	if hist, errOut, _ := gitops(t, "history", "production-apps", "--inventory-namespace", inv, "-o", "json"); !strings.Contains(hist, `"leaving": true`) {
		t.Errorf("the leaving child is not recorded:\n%s%s", hist, errOut)
	}
	r.Remove("payment-service leaves", "argocd/production/payment-service-production.yaml")
	tree = run()
	if len(tree.Removed) != 1 || tree.Removed[0].Pruned {
		t.Errorf("removed %+v", tree.Removed)
	}
	if got := realKubectl(t, "get", "deployments", "-n", "payments", "-o", "name"); !strings.Contains(got, "deployment.apps/") {
		t.Errorf("payment-service's objects were removed: %q", got)
	}

	// A child that is the root again: a cycle, reported, nothing synced
	// below it.
	loop := readFile(t, "../../testdata/argocd/production-apps.yaml") // the root, as its own child
	r.Commit("a loop", map[string]string{"argocd/production/loop.yaml": loop})
	out, errOut, code := gitops(t, args...)
	if code != 1 || !strings.Contains(errOut, "app of apps cycle: production-apps → production-apps") {
		t.Errorf("cycle: code %d\n%s%s", code, out, errOut)
	}
}

// A destination named by one of Argo CD's declarative cluster Secrets: the
// sync reaches the cluster with the Secret's credentials, which it never
// prints.
func TestRegisteredClusterSecret(t *testing.T) {
	inv := testcluster.Namespace(t, lc)
	r := configRepo(t)
	cfg := lc.Config
	secret, credentials := testcluster.ClusterSecret(t, cfg, "production-eu", map[string]string{"region": "eu"})
	secretFile := filepath.Join(t.TempDir(), "production-eu.yaml")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	app := variant(t, variant(t, appFixture, "server: https://kubernetes.default.svc", "name: production-eu"), "project: production", "project: default")
	out, errOut, code := gitops(t, "sync", "-f", app, "--clusters-from", secretFile, "--repo-map=https://github.com/acme/config.git="+r.Dir, "--inventory-namespace", inv, "--timeout", "2m")
	if code != 0 || !strings.Contains(out, "context cluster:production-eu") {
		t.Fatalf("sync to a registered cluster: code %d\n%s%s", code, out, errOut)
	}
	for _, secret := range credentials {
		if strings.Contains(out+errOut, string(secret)) {
			t.Errorf("a credential of the cluster Secret was printed")
		}
	}
	missing := variant(t, appFixture, "server: https://kubernetes.default.svc", "name: production-us")
	if _, errOut, code := gitops(t, "sync", "-f", missing, "--clusters-from", secretFile, "--inventory-namespace", inv); code != 1 ||
		!strings.Contains(errOut, "destination name production-us is no context of the kubeconfig") || !strings.Contains(errOut, "registered clusters: production-eu ("+cfg.Host+")") {
		t.Errorf("unknown cluster: code %d\n%s", code, errOut)
	}
}

func TestApplicationSetGitDirectories(t *testing.T) {
	inv := testcluster.Namespace(t, lc)
	r := configRepo(t)
	t.Cleanup(func() {
		realKubectl(t, "delete", "namespace", "frontend", "order-service", "payment-service", "--ignore-not-found")
	})
	set := "../../testdata/argocd/production-services.yaml"
	mapping := "--repo-map=https://github.com/acme/config.git=" + r.Dir
	out, errOut, code := gitops(t, "appset", "generate", "-f", set, mapping)
	if code != 0 {
		t.Fatalf("appset generate: code %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"name: frontend-production", "name: order-service-production", "name: payment-service-production", "path: apps/payment-service/overlays/production", "namespace: order-service"} {
		if !strings.Contains(out, want) {
			t.Errorf("generated Applications lack %q:\n%s", want, out)
		}
	}
	out, errOut, code = gitops(t, "sync", "-f", set, mapping, "--inventory-namespace", inv, "--timeout", "2m")
	if code != 0 {
		t.Fatalf("sync -f of the ApplicationSet: code %d\n%s%s", code, out, errOut)
	}
	for _, ns := range []string{"frontend", "order-service", "payment-service"} {
		if got := realKubectl(t, "get", "deployments", "-n", ns, "-o", "name"); !strings.Contains(got, "deployment.apps/") {
			t.Errorf("no Deployment in %s", ns)
		}
	}

	// frontend leaves the set (its directory leaves Git): the set deletes
	// its Application, whose resources finalizer prunes its objects.
	r.Remove("frontend leaves", "apps/frontend")
	out, errOut, code = gitops(t, "sync", "-f", set, mapping, "--inventory-namespace", inv, "--timeout", "2m")
	if code != 0 || !strings.Contains(out, "ApplicationSet production-services: child frontend-production left Git: its resources are pruned (resources finalizer)") {
		t.Fatalf("sync after frontend left: code %d\n%s%s", code, out, errOut)
	}
	// Deleted in the foreground: gone once the garbage collector has
	// deleted their pods and ReplicaSets.
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		return strings.TrimSpace(realKubectl(t, "get", "deployments", "-n", "frontend", "-o", "name")) == "", nil
	}); err != nil {
		t.Errorf("frontend's objects were not pruned: %q", realKubectl(t, "get", "deployments", "-n", "frontend", "-o", "name"))
	}
	// With preserveResourcesOnDeletion, payment-service's objects stay.
	preserve := variant(t, set, "  template:\n", "  syncPolicy:\n    preserveResourcesOnDeletion: true\n  template:\n")
	r.Remove("payment-service leaves", "apps/payment-service")
	out, errOut, code = gitops(t, "sync", "-f", preserve, mapping, "--inventory-namespace", inv, "--timeout", "2m")
	if code != 0 || !strings.Contains(out, "child payment-service-production left Git: its resources are left in place (the ApplicationSet's preserveResourcesOnDeletion)") {
		t.Fatalf("sync after payment-service left: code %d\n%s%s", code, out, errOut)
	}
	if got := realKubectl(t, "get", "deployments", "-n", "payment-service", "-o", "name"); !strings.Contains(got, "deployment.apps/") {
		t.Errorf("payment-service's objects were pruned: %q", got)
	}
}

// Two control planes: an ApplicationSet's clusters generator over their
// two registered cluster Secrets deploys to both, each cluster reached with
// its Secret's credentials; the local cluster is not selected.
func TestApplicationSetOnTwoClusters(t *testing.T) {
	second := testcluster.Second(t)
	inv := testcluster.Namespace(t, lc)
	r := configRepo(t)
	dir := t.TempDir()
	var credentials [][]byte
	for _, c := range []struct {
		name string
		cfg  *rest.Config
		env  string
	}{{"production-eu", lc.Config, "production"}, {"production-us", second.Config, "production"}, {"staging", lc.Config, "staging"}} {
		secret, creds := testcluster.ClusterSecret(t, c.cfg, c.name, map[string]string{"env": c.env})
		credentials = append(credentials, creds...)
		if err := os.WriteFile(filepath.Join(dir, c.name+".yaml"), []byte(secret), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	set := filepath.Join(t.TempDir(), "orders-everywhere.yaml")
	if err := os.WriteFile(set, []byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: orders-everywhere
  namespace: argocd
spec:
  goTemplate: true
  goTemplateOptions: ["missingkey=error"]
  generators:
  - clusters:
      selector:
        matchLabels:
          env: production
  template:
    metadata:
      name: 'orders-{{.name}}'
    spec:
      project: default
      source:
        repoURL: https://github.com/acme/config.git
        targetRevision: HEAD
        path: apps/order-service/overlays/production
      destination:
        server: '{{.server}}'
        namespace: orders
      syncPolicy:
        syncOptions:
        - CreateNamespace=true
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := gitops(t, "sync", "-f", set, "--clusters-from", dir, "--repo-map=https://github.com/acme/config.git="+r.Dir, "--inventory-namespace", inv, "--timeout", "2m")
	if code != 0 {
		t.Fatalf("sync -f: code %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"app orders-production-eu (", "context cluster:production-eu", "app orders-production-us (", "context cluster:production-us"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "orders-staging") || strings.Contains(out, "orders-in-cluster") {
		t.Errorf("a cluster the selector does not select was synced:\n%s", out)
	}
	for _, secret := range credentials {
		if strings.Contains(out+errOut, string(secret)) {
			t.Errorf("a credential of a cluster Secret was printed")
		}
	}
	// Each control plane has its Deployment, and its own inventory.
	for _, c := range []*localcluster.Cluster{lc, second} {
		cs := kubernetes.NewForConfigOrDie(c.Config)
		if _, err := cs.AppsV1().Deployments("orders").Get(context.Background(), "order-service", metav1.GetOptions{}); err != nil {
			t.Errorf("%s: %v", c.Config.Host, err)
		}
	}
	if _, err := kubernetes.NewForConfigOrDie(second.Config).CoreV1().ConfigMaps(inv).Get(context.Background(), "gitops-orders-production-us", metav1.GetOptions{}); err != nil {
		t.Errorf("the second cluster's inventory: %v", err)
	}
}
