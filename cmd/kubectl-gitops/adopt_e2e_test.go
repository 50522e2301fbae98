package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

func envDeployment(env string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env: [` + env + `]
`
}

// resourceVersions are the resourceVersions of every ConfigMap,
// Deployment and ReplicaSet in ns, and of the app's inventory.
func resourceVersions(t *testing.T, kube kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	cms, err := kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range cms.Items {
		out["ConfigMap/"+o.Name] = o.ResourceVersion
	}
	ds, err := kube.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ds.Items {
		out["Deployment/"+o.Name] = o.ResourceVersion
	}
	rss, err := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rss.Items {
		out["ReplicaSet/"+o.Name] = o.ResourceVersion
	}
	return out
}

// workload is the Deployment's ReplicaSets and pods, by name: an adoption
// must leave them as they are (no rollout, no restart).
func workload(t *testing.T, kube kubernetes.Interface, ns string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		out = out[:0]
		rss, err := kube.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rss.Items {
			out = append(out, "ReplicaSet/"+r.Name)
		}
		for _, p := range pods.Items {
			out = append(out, "Pod/"+p.Name)
		}
		if len(rss.Items) > 0 && len(pods.Items) > 0 {
			sort.Strings(out)
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Deployment has no ReplicaSet or pod: %v", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Objects made by client-side kubectl apply and by kubectl create (the
// real kubectl) are adopted: a dry run and an unconfirmed run write
// nothing; the adoption keeps the Deployment's ReplicaSet and pod; their
// fields move to kubectl-gitops, so that an env var removed from Git is
// removed by the next sync, and an object removed from Git is pruned.
func TestAdoptKubectlObjects(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	ctx := context.Background()
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}\ndata: {color: blue}\n"
	deploy := envDeployment("{name: FOO, value: '1'}, {name: BAR, value: '2'}")
	r := testrepo.New(t)
	r.Commit("initial", map[string]string{"apps/web/kustomization.yaml": "resources: [cm.yaml, deploy.yaml]\n", "apps/web/cm.yaml": cm, "apps/web/deploy.yaml": deploy})
	realKubectlIn(t, deploy, "-n", ns, "apply", "-f", "-")
	realKubectlIn(t, cm, "-n", ns, "create", "-f", "-")
	before := workload(t, kube, ns)
	rvs := resourceVersions(t, kube, ns)
	base := []string{"adopt", "web", "--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns, "--inventory-namespace", ns}

	out, errOut, code := gitops(t, append(base, "--dry-run")...)
	if code != 0 || !strings.Contains(out, "adopt  ") || !strings.Contains(out, "Deployment/"+ns+"/web") || !strings.Contains(out, "from kubectl-client-side-apply") || !strings.Contains(out, "from kubectl-create") {
		t.Fatalf("dry run: code %d\n%s%s", code, out, errOut)
	}
	// Not a terminal, no --yes: refused before any write.
	_, errOut, code = gitops(t, base...)
	if code != 1 || !strings.Contains(errOut, "pass --yes") {
		t.Errorf("unconfirmed: code %d\n%s", code, errOut)
	}
	if got := resourceVersions(t, kube, ns); !equalMaps(got, rvs) {
		t.Fatalf("a dry run or an unconfirmed adopt wrote: before %v, after %v", rvs, got)
	}
	if _, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "gitops-web", metav1.GetOptions{}); err == nil {
		t.Fatalf("the inventory was written")
	}

	out, errOut, code = gitops(t, append(base, "--yes")...)
	if code != 0 {
		t.Fatalf("adopt: code %d\n%s%s", code, out, errOut)
	}
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Labels[inventory.LabelPartOf] == "" {
		t.Errorf("the Deployment is no member: labels %v", d.Labels)
	}
	if _, ok := d.Annotations["kubectl.kubernetes.io/last-applied-configuration"]; ok {
		t.Errorf("client-side apply's annotation is left")
	}
	var managers []string
	for _, e := range d.ManagedFields {
		managers = append(managers, e.Manager+"/"+string(e.Operation))
	}
	if slices.ContainsFunc(managers, func(m string) bool { return strings.HasPrefix(m, "kubectl-") && m != "kubectl-gitops/Apply" }) || !slices.Contains(managers, "kubectl-gitops/Apply") {
		t.Errorf("managers after adoption %v: want kubectl's fields moved to kubectl-gitops", managers)
	}
	if after := workload(t, kube, ns); !slices.Equal(after, before) {
		t.Errorf("adoption restarted the workload: before %v, after %v", before, after)
	}
	// Recorded as an adoption: no attempt of the commit for an agent.
	inv, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "gitops-web", metav1.GetOptions{})
	if err != nil || !strings.Contains(inv.Data["history"], `"adoption":true`) {
		t.Errorf("inventory history after adopt: %v %s", err, inv.Data["history"])
	}
	out, errOut, code = gitops(t, append(base, "--dry-run")...)
	if code != 0 || !strings.Contains(errOut, "nothing to adopt") || !strings.Contains(out, "already managed") {
		t.Errorf("adopt again: code %d\n%s%s", code, out, errOut)
	}

	// The first sync lets go of the fields the server defaulted, which
	// kubectl's create and client-side apply held (the values stay, so no
	// rollout); the next one is a no-op.
	sync := []string{"sync", "web", "--repo", r.Dir, "--path", "apps/web", "--dest-namespace", ns, "--inventory-namespace", ns}
	if out, errOut, code := gitops(t, sync...); code != 0 {
		t.Fatalf("sync after adopt: code %d\n%s%s", code, out, errOut)
	}
	if after := workload(t, kube, ns); !slices.Equal(after, before) {
		t.Errorf("the sync after adoption restarted the workload: before %v, after %v", before, after)
	}
	if out, errOut, code := gitops(t, sync...); code != 0 || !strings.Contains(out, "2 unchanged") {
		t.Errorf("second sync after adopt: code %d\n%s%s", code, out, errOut)
	}

	// BAR leaves Git: the sync removes it (kubectl no longer holds it).
	r.Commit("drop BAR", map[string]string{"apps/web/deploy.yaml": envDeployment("{name: FOO, value: '1'}")})
	if out, errOut, code := gitops(t, sync...); code != 0 {
		t.Fatalf("sync: code %d\n%s%s", code, out, errOut)
	}
	d, err = kube.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env := d.Spec.Template.Spec.Containers[0].Env; len(env) != 1 || env[0].Name != "FOO" {
		t.Errorf("env after BAR left Git: %+v", env)
	}
	// The ConfigMap leaves Git: pruned.
	r.Commit("drop the ConfigMap", map[string]string{"apps/web/kustomization.yaml": "resources: [deploy.yaml]\n"})
	if out, errOut, code := gitops(t, sync...); code != 0 || !strings.Contains(out, "pruned") {
		t.Fatalf("sync: code %d\n%s%s", code, out, errOut)
	}
	if !pruned(t, kube, ns, "web-config") {
		t.Errorf("the ConfigMap that left Git was not pruned")
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Objects another owner marks — Argo CD's annotation, Helm's labels,
// another kubectl-gitops app — are refused by sync and adopt, naming the
// owner, with nothing written; --policy=all --force takes Argo CD's, by
// either tracking method, without restarting its Deployment, and removes
// its markers; a later prune of one works.
func TestAdoptRefusesOwned(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	ctx := context.Background()
	cmOf := func(name, meta string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: " + name + meta + "}\ndata: {k: v}\n"
	}
	r := testrepo.New(t)
	r.Commit("initial", map[string]string{
		"apps/shop/kustomization.yaml":  "resources: [argo.yaml, helm.yaml, other.yaml]\n",
		"apps/shop/argo.yaml":           cmOf("argo", ""),
		"apps/shop/helm.yaml":           cmOf("helm", ""),
		"apps/shop/other.yaml":          cmOf("other", ""),
		"apps/other/kustomization.yaml": "resources: [other.yaml]\n",
		"apps/other/other.yaml":         cmOf("other", ""),
		"apps/argo/kustomization.yaml":  "resources: [argo.yaml, label.yaml, deploy.yaml]\n",
		"apps/argo/argo.yaml":           cmOf("argo", ""),
		"apps/argo/label.yaml":          cmOf("label", ""),
		"apps/argo/deploy.yaml":         envDeployment("{name: FOO, value: '1'}"),
	})
	// As Argo CD leaves them: its server-side apply and its markers.
	realKubectlIn(t, cmOf("argo", ", annotations: {argocd.argoproj.io/tracking-id: 'shop:/ConfigMap:"+ns+"/argo'}"),
		"-n", ns, "apply", "--server-side", "--field-manager", "argocd-controller", "-f", "-")
	realKubectlIn(t, cmOf("label", ", labels: {app.kubernetes.io/instance: shop}"),
		"-n", ns, "apply", "--server-side", "--field-manager", "argocd-controller", "-f", "-")
	argoDeploy := strings.Replace(envDeployment("{name: FOO, value: '1'}"), "metadata: {name: web}", "metadata: {name: web, annotations: {argocd.argoproj.io/tracking-id: 'shop:apps/Deployment:"+ns+"/web'}}", 1)
	realKubectlIn(t, argoDeploy, "-n", ns, "apply", "--server-side", "--field-manager", "argocd-controller", "-f", "-")
	realKubectlIn(t, cmOf("helm", ", labels: {app.kubernetes.io/managed-by: Helm}, annotations: {meta.helm.sh/release-name: shop, meta.helm.sh/release-namespace: "+ns+"}"),
		"-n", ns, "create", "-f", "-")
	if out, errOut, code := gitops(t, "sync", "other", "--repo", r.Dir, "--path", "apps/other", "--dest-namespace", ns, "--inventory-namespace", ns); code != 0 {
		t.Fatalf("sync other: code %d\n%s%s", code, out, errOut)
	}
	before := workload(t, kube, ns)
	rvs := resourceVersions(t, kube, ns)

	shop := []string{"--repo", r.Dir, "--path", "apps/shop", "--dest-namespace", ns, "--inventory-namespace", ns}
	_, errOut, code := gitops(t, append([]string{"sync", "shop"}, shop...)...)
	for _, want := range []string{"ConfigMap/" + ns + "/argo: owned by argocd/shop", "ConfigMap/" + ns + "/helm: owned by helm/" + ns + "/shop", "ConfigMap/" + ns + "/other: owned by kubectl-gitops/other", "adopt"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("sync of owned objects lacks %q: code %d\n%s", want, code, errOut)
		}
	}
	if code != 1 {
		t.Errorf("sync of owned objects: code %d, want 1", code)
	}
	out, errOut, code := gitops(t, append([]string{"adopt", "shop", "--yes"}, shop...)...)
	if code != 1 || strings.Count(out, "owned by") != 3 {
		t.Errorf("adopt of owned objects: code %d\n%s%s", code, out, errOut)
	}
	got := resourceVersions(t, kube, ns)
	delete(got, "ConfigMap/gitops-shop") // a refused sync records its failure in its own inventory
	if !equalMaps(got, rvs) {
		t.Fatalf("a refused sync or adopt wrote: before %v, after %v", rvs, got)
	}

	// Argo CD's objects, both tracking methods, taken with --policy=all.
	argo := []string{"adopt", "shop", "--repo", r.Dir, "--path", "apps/argo", "--dest-namespace", ns, "--inventory-namespace", ns}
	out, errOut, code = gitops(t, append(argo, "--policy=all", "--force", "-o", "json", "--yes")...)
	if code != 0 {
		t.Fatalf("adopt --policy=all --force: code %d\n%s%s", code, out, errOut)
	}
	var plan struct {
		Objects []struct{ Kind, Name, Status string }
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	statuses := map[string]string{}
	for _, o := range plan.Objects {
		statuses[o.Kind+"/"+o.Name] = o.Status
	}
	if want := map[string]string{"ConfigMap/argo": "take from", "ConfigMap/label": "take from", "Deployment/web": "take from"}; !equalMaps(statuses, want) {
		t.Errorf("plan %v, want %v", statuses, want)
	}
	for _, name := range []string{"argo", "label"} {
		c, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if c.Annotations["argocd.argoproj.io/tracking-id"] != "" || c.Labels["app.kubernetes.io/instance"] != "" || c.Labels[inventory.LabelPartOf] == "" {
			t.Errorf("ConfigMap %s after adoption: labels %v annotations %v", name, c.Labels, c.Annotations)
		}
		for _, e := range c.ManagedFields {
			if e.Manager == "argocd-controller" {
				t.Errorf("ConfigMap %s: argocd-controller still holds fields", name)
			}
		}
	}
	if after := workload(t, kube, ns); !slices.Equal(after, before) {
		t.Errorf("adopting Argo CD's Deployment restarted it: before %v, after %v", before, after)
	}
	// A later prune of one of them works.
	r.Commit("drop label", map[string]string{"apps/argo/kustomization.yaml": "resources: [argo.yaml, deploy.yaml]\n"})
	sync := []string{"sync", "shop", "--repo", r.Dir, "--path", "apps/argo", "--dest-namespace", ns, "--inventory-namespace", ns}
	if out, errOut, code := gitops(t, sync...); code != 0 {
		t.Fatalf("sync: code %d\n%s%s", code, out, errOut)
	}
	if !pruned(t, kube, ns, "label") {
		t.Errorf("the adopted ConfigMap that left Git was not pruned")
	}
}

// Moving off Argo CD with adopt -f: refused, naming both, while the
// Application object exists and Argo CD's application controller runs
// beside it; once the controller is gone, the Application's objects are
// taken over with Argo CD's markers removed.
func TestAdoptArgoCDApplication(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	ctx := context.Background()
	crd, err := os.ReadFile("../../deploy/crds/application-crd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	realKubectlIn(t, string(crd), "apply", "-f", "-")
	t.Cleanup(func() { realKubectl(t, "delete", "crd", "applications.argoproj.io", "--ignore-not-found") })
	realKubectl(t, "wait", "--for", "condition=Established", "crd/applications.argoproj.io")
	r := testrepo.New(t)
	r.Commit("initial", map[string]string{"apps/guestbook/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: guestbook}\ndata: {k: v}\n"})
	app := `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: ` + ns + `}
spec:
  project: default
  source: {repoURL: https://github.com/acme/config.git, targetRevision: HEAD, path: apps/guestbook}
  destination: {server: https://kubernetes.default.svc, namespace: ` + ns + `}
`
	file := filepath.Join(t.TempDir(), "guestbook.yaml")
	if err := os.WriteFile(file, []byte(app), 0o600); err != nil {
		t.Fatal(err)
	}
	realKubectlIn(t, app, "apply", "-f", "-")
	realKubectlIn(t, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: guestbook, annotations: {argocd.argoproj.io/tracking-id: 'guestbook:/ConfigMap:"+ns+"/guestbook'}}\ndata: {k: v}\n",
		"-n", ns, "apply", "--server-side", "--field-manager", "argocd-controller", "-f", "-")
	realKubectlIn(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: argocd-application-controller-0, labels: {app.kubernetes.io/name: argocd-application-controller}}\nspec: {containers: [{name: c, image: argocd}]}\n",
		"-n", ns, "apply", "-f", "-")
	args := []string{"adopt", "-f", file, "--repo-map=https://github.com/acme/config.git=" + r.Dir, "--inventory-namespace", ns, "--policy=all", "--force", "--yes"}
	_, errOut, code := gitops(t, args...)
	if want := "Application " + ns + "/guestbook still exists and Argo CD's application controller runs in namespace " + ns + " (pod argocd-application-controller-0)"; code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("adopt -f beside Argo CD: code %d, want %q\n%s", code, want, errOut)
	}
	realKubectl(t, "-n", ns, "delete", "pod", "argocd-application-controller-0", "--grace-period=0", "--force")
	if out, errOut, code := gitops(t, args...); code != 0 || !strings.Contains(out, "take from argocd/guestbook") {
		t.Fatalf("adopt -f once Argo CD is gone: code %d\n%s%s", code, out, errOut)
	}
	c, err := kube.CoreV1().ConfigMaps(ns).Get(ctx, "guestbook", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Annotations["argocd.argoproj.io/tracking-id"] != "" || c.Labels[inventory.LabelPartOf] == "" {
		t.Errorf("after adopt -f: labels %v annotations %v", c.Labels, c.Annotations)
	}
}

// On a terminal adopt asks: "n" writes nothing, "y" adopts.
func TestAdoptAsksOnTerminal(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: asked}\ndata: {k: v}\n"
	r := testrepo.New(t)
	r.Commit("initial", map[string]string{"apps/asked/cm.yaml": cm})
	realKubectlIn(t, cm, "-n", ns, "create", "-f", "-")
	answer := func(reply string) (string, int) {
		t.Helper()
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		defer tty.Close()
		cmd := exec.Command(filepath.Join(plugin, "kubectl-gitops"), "--kubeconfig", lc.Kubeconfig, "adopt", "asked",
			"--repo", r.Dir, "--path", "apps/asked", "--dest-namespace", ns, "--inventory-namespace", ns)
		var out bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, &out
		if _, err := ptmx.Write([]byte(reply + "\n")); err != nil {
			t.Fatal(err)
		}
		err = cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		captureOutput(t, "terminal of `kubectl-gitops adopt asked`", out.String())
		return out.String(), code
	}
	out, code := answer("n")
	if code != 1 || !strings.Contains(out, "Adopt 1 object(s) into app asked? [y/N]") || !strings.Contains(out, "not adopted: nothing was written") {
		t.Fatalf("answered n: code %d\n%s", code, out)
	}
	c, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "asked", metav1.GetOptions{})
	if err != nil || c.Labels[inventory.LabelPartOf] != "" {
		t.Fatalf("answered n, yet adopted: %v %v", err, c.Labels)
	}
	if out, code := answer("y"); code != 0 || !strings.Contains(out, "1 object(s) adopted") {
		t.Fatalf("answered y: code %d\n%s", code, out)
	}
	c, err = kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "asked", metav1.GetOptions{})
	if err != nil || c.Labels[inventory.LabelPartOf] == "" {
		t.Errorf("answered y, not adopted: %v %v", err, c.Labels)
	}
}
