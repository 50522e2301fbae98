package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

// An app of apps, as Argo CD runs one: the root of --app-file applies its
// child Applications as objects, and the agent runs each child as an app
// of its own (synced, its .status written, its drift corrected); a child
// that leaves Git is pruned with the root, and with the resources
// finalizer its resources go with it.
func TestAgentAppOfApps(t *testing.T) {
	deployRBAC(t)
	ns := testcluster.Namespace(t, lc)
	child := func(svc, repoURL string, finalizer bool) string {
		fin := ""
		if finalizer {
			fin = "\n  finalizers: [resources-finalizer.argocd.argoproj.io]"
		}
		return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %[1]s-%[2]s
  namespace: argocd%[4]s
spec:
  project: default
  source: {repoURL: %[3]s, targetRevision: HEAD, path: apps/%[1]s}
  destination: {server: https://kubernetes.default.svc, namespace: %[2]s}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
`, svc, ns, repoURL, fin)
	}
	api := strings.Replace(configMap("api"), "web-config", "api-config", 1)
	git := serve(t, map[string]string{"apps/web/cm.yaml": configMap("web"), "apps/api/cm.yaml": api})
	git.push(t, map[string]string{
		"apps/root/web.yaml": child("web", git.url, false),
		"apps/root/api.yaml": child("api", git.url, true),
	})
	for _, svc := range []string{"web", "api"} {
		t.Cleanup(func() {
			name := svc + "-" + ns
			_, _ = kubectlRun(t, "", "-n", "argocd", "patch", "application", name, "--type", "merge", "-p", `{"metadata":{"finalizers":null}}`)
			_, _ = kubectlRun(t, "", "-n", "argocd", "delete", "application", name, "--ignore-not-found", "--wait=false")
		})
	}
	root := filepath.Join(t.TempDir(), "root.yaml")
	if err := os.WriteFile(root, []byte(fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: root-%[1]s, namespace: argocd}
spec:
  project: default
  source: {repoURL: %[2]s, targetRevision: HEAD, path: apps/root}
  destination: {server: https://kubernetes.default.svc, namespace: argocd}
  syncPolicy:
    automated: {prune: true, selfHeal: true}
`, ns, git.url)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, "--app-file", root, "--reconcile-interval", "2s", "--inventory-namespace", ns)
	k := kube(t)
	for _, svc := range []string{"web", "api"} {
		waitSyncedHealthy(t, svc+"-"+ns)
	}
	if got := greeting(t, k, ns); got != "web" {
		t.Errorf("greeting %q, want web", got)
	}

	// A child's drift is the child's: corrected by its own self-heal.
	mustKubectl(t, "", "-n", ns, "patch", "configmap", "api-config", "--type", "merge", "-p", `{"data":{"greeting":"edited"}}`)
	eventually(t, 30*time.Second, "the child's drift corrected", func() error {
		cm, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "api-config", metav1.GetOptions{})
		if err != nil || cm.Data["greeting"] != "api" {
			return fmt.Errorf("api-config %v %v", cm.Data, err)
		}
		return nil
	})
	if !strings.Contains(p.Logs(), `"app":"argocd/api-`+ns+`"`) {
		t.Errorf("the child was not reconciled as an app of its own (no log of app argocd/api-%s)", ns)
	}

	// The api child leaves Git: the root prunes its Application, whose
	// resources finalizer prunes its ConfigMap; the web child stays.
	git.repo.Remove("the api child leaves", "apps/root/api.yaml")
	git.publish(t)
	eventually(t, 60*time.Second, "the api child and its resources gone", func() error {
		if out, err := kubectlRun(t, "", "-n", "argocd", "get", "application", "api-"+ns); err == nil {
			return fmt.Errorf("Application still there: %s", out)
		}
		if _, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "api-config", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("api-config still there")
		}
		return nil
	})
	if got := greeting(t, k, ns); got != "web" {
		t.Errorf("greeting %q after the api child left, want web", got)
	}
}

// An app of apps for a cluster without Argo CD's CRDs (a second control
// plane, registered by a cluster Secret): the root renders child
// Applications alone, and the agent syncs them with it, each as an app of
// its own (its inventory, its automated policy). The root is synced though
// its own render holds no object; a child whose path alone changed is
// synced again; a child that leaves Git with the resources finalizer has
// its resources pruned.
func TestAgentAppOfAppsWithoutCRDs(t *testing.T) {
	ns := testcluster.Namespace(t, lc) // a fresh name; used on the second cluster
	second := testcluster.Second(t)
	remote := kubernetesFor(t, second)
	ctx := context.Background()
	if _, err := remote.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	server := second.Config.Host
	app := func(name, path, repoURL string, finalizer bool) string {
		fin := ""
		if finalizer {
			fin = "\n  finalizers: [resources-finalizer.argocd.argoproj.io]"
		}
		return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %s
  namespace: argocd%s
spec:
  project: default
  source: {repoURL: %s, targetRevision: HEAD, path: %s}
  destination: {server: %s, namespace: %s}
  syncPolicy:
    automated: {prune: true}
`, name, fin, repoURL, path, server, ns)
	}
	api := strings.Replace(configMap("api"), "web-config", "api-config", 1)
	git := serve(t, map[string]string{"apps/web/cm.yaml": configMap("web"), "apps/api/cm.yaml": api})
	git.push(t, map[string]string{
		"apps/root/web.yaml": app("web", "apps/web", git.url, false),
		"apps/root/api.yaml": app("api", "apps/api", git.url, true),
	})
	clusters, _ := clustersDir(t, second)
	root := filepath.Join(t.TempDir(), "root.yaml")
	if err := os.WriteFile(root, []byte(app("root", "apps/root", git.url, false)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, "--app-file", root, "--clusters-from", clusters, "--reconcile-interval", "2s", "--inventory-namespace", ns)

	greetingOn := func(name string) string {
		cm, err := remote.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return cm.Data["greeting"]
	}
	eventually(t, 90*time.Second, "both children synced into the cluster without the CRDs", func() error {
		if w, a := greetingOn("web-config"), greetingOn("api-config"); w != "web" || a != "api" {
			return fmt.Errorf("web-config %q, api-config %q", w, a)
		}
		return nil
	})
	for _, inv := range []string{"gitops-root", "gitops-web", "gitops-api"} {
		if _, err := remote.CoreV1().ConfigMaps(ns).Get(ctx, inv, metav1.GetOptions{}); err != nil {
			t.Errorf("inventory %s on the second cluster: %v", inv, err)
		}
	}

	// The web child's path changes, the root's does not.
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("web-2")})
	eventually(t, 60*time.Second, "the web child's new commit synced", func() error {
		if w := greetingOn("web-config"); w != "web-2" {
			return fmt.Errorf("web-config %q", w)
		}
		return nil
	})

	// The api child leaves Git: with the resources finalizer its
	// resources go; the web child's stay.
	git.repo.Remove("the api child leaves", "apps/root/api.yaml")
	git.publish(t)
	eventually(t, 60*time.Second, "the api child's resources pruned", func() error {
		if _, err := remote.CoreV1().ConfigMaps(ns).Get(ctx, "api-config", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("api-config still there")
		}
		return nil
	})
	if w := greetingOn("web-config"); w != "web-2" {
		t.Errorf("web-config %q after the api child left, want web-2", w)
	}
	// Converged: after its last sync the root compares Synced again (its
	// children Synced, none left), so it is not synced over and over.
	eventually(t, 30*time.Second, "the root Synced after its last sync", func() error {
		logs := p.Logs()
		last := strings.LastIndex(logs, `"msg":"synced","app":"file/root"`)
		if last < 0 || !strings.Contains(logs[last:], `"msg":"no sync","app":"file/root","reason":"app is Synced"`) {
			return fmt.Errorf("no \"app is Synced\" after the root's last sync")
		}
		return nil
	})
}
