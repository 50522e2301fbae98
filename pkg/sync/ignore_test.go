package sync_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

func ignoreRules(t *testing.T, y string) []ignore.Rule {
	t.Helper()
	r, err := ignore.Parse([]byte(y), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// compare returns the change set and the change of Kind/name.
func (f *fixture) compare(doc string, opts gsync.Options, kind, name string) (*gsync.ChangeSet, *gsync.Change, error) {
	f.t.Helper()
	cs, err := gsync.New(f.client, opts).Compare(context.Background(), f.input(doc))
	sweepResult(f.t, "compare of "+f.app, cs, err)
	if cs == nil {
		f.t.Fatalf("compare: %v", err)
	}
	for _, c := range cs.Changes {
		if c.Kind == kind && c.Name == name {
			return cs, c, err
		}
	}
	f.t.Fatalf("no change for %s/%s", kind, name)
	return nil, nil, nil
}

// scale sets the Deployment's replicas through the scale subresource, as
// an HPA (kube-controller-manager) or kubectl scale (kubectl) does.
func (f *fixture) scale(name string, replicas int32, manager string) {
	f.t.Helper()
	ctx := context.Background()
	// The deployment controller writes the object too: read again on a
	// conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := f.kube.AppsV1().Deployments(f.ns).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Replicas = replicas
		_, err = f.kube.AppsV1().Deployments(f.ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{FieldManager: manager})
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) deployment(name string) (replicas int32, images []string) {
	f.t.Helper()
	d, err := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		images = append(images, c.Name+"="+c.Image)
	}
	return *d.Spec.Replicas, images
}

// waitForRevision waits until the deployment controller has annotated the
// Deployment with revision rev.
func (f *fixture) waitForRevision(name, rev string) {
	f.t.Helper()
	waitFor(f.t, func() bool {
		d, err := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && d.Annotations["deployment.kubernetes.io/revision"] == rev
	})
}

const replicasRule = "- group: apps\n  kind: Deployment\n  jsonPointers: [/spec/replicas]\n"

// Replicas scaled by an HPA (kube-controller-manager) or by kubectl scale,
// through the scale subresource: with a rule for /spec/replicas the
// Deployment is unchanged, proven locally, and its diff is empty; with
// RespectIgnoreDifferences=true a sync that changes the image keeps the
// scaled replicas; without the rule the replicas are the difference.
func TestIgnoredReplicasScaledByAnotherManager(t *testing.T) {
	for _, manager := range []string{"kube-controller-manager", "kubectl"} {
		t.Run(manager, func(t *testing.T) {
			f := newFixture(t)
			v1 := deploymentYAML("web", "0", "registry.example/web:1")
			v2 := deploymentYAML("web", "0", "registry.example/web:2")
			f.mustSync(v1, f.options())
			f.scale("web", 5, manager)

			// Without the rule: .spec.replicas is the difference (kubectl's
			// is drift, taken back; the controller's a conflict).
			_, c, err := f.compare(v1, f.options(), "Deployment", "web")
			if manager == "kubectl" {
				if err != nil || c.Action != gsync.ChangeConfigure || !cmp.Equal(c.Diff, []string{".spec.replicas"}) {
					t.Errorf("no rule: %s %v (%v), want configure [.spec.replicas]", c.Action, c.Diff, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), `conflict with "kube-controller-manager" with subresource "scale"`) || !strings.Contains(err.Error(), ".spec.replicas") {
				t.Errorf("no rule: got %v, want a conflict over .spec.replicas with kube-controller-manager", err)
			}

			// With the rule: unchanged, proven locally, nothing dry-run.
			o := f.options()
			o.IgnoreDifferences = ignoreRules(t, replicasRule)
			cs, c, err := f.compare(v1, o, "Deployment", "web")
			if err != nil || c.Action != gsync.ChangeUnchanged || c.Judged != gsync.JudgedLocally || len(c.Diff) != 0 || cs.Requests.DryRuns != 0 {
				t.Errorf("rule: %s judged %s diff %v dry-runs %d (%v), want unchanged, local, no diff, 0 dry-runs", c.Action, c.Judged, c.Diff, cs.Requests.DryRuns, err)
			}
			live, merged := c.Compared()
			if _, ok, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "replicas"); ok {
				t.Error("Compared live still has spec.replicas")
			}
			if _, ok, _ := unstructured.NestedFieldNoCopy(merged.Object, "spec", "replicas"); ok {
				t.Error("Compared merged still has spec.replicas")
			}
			if _, ok, _ := unstructured.NestedFieldNoCopy(live.Object, "metadata", "managedFields"); ok {
				t.Error("Compared live still has managedFields")
			}

			// RespectIgnoreDifferences=true and a new image: the image is
			// applied, the replicas stay scaled, no conflict.
			o.SyncOptions = []string{"RespectIgnoreDifferences=true"}
			_, c, err = f.compare(v2, o, "Deployment", "web")
			if err != nil || c.Action != gsync.ChangeConfigure || !cmp.Equal(c.Diff, []string{".spec.template.spec.containers[0].image"}) {
				t.Errorf("respect, new image: %s %v (%v), want configure of the image only", c.Action, c.Diff, err)
			}
			res := f.mustSync(v2, o)
			if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Configured {
				t.Errorf("respect, new image: %s, want configured", a)
			}
			replicas, images := f.deployment("web")
			if replicas != 5 || !cmp.Equal(images, []string{"main=registry.example/web:2"}) {
				t.Errorf("after the sync: %d replicas, %v; want 5 and the new image", replicas, images)
			}

			// Scaled again: still unchanged and proven locally.
			f.scale("web", 3, manager)
			cs, c, err = f.compare(v2, o, "Deployment", "web")
			if err != nil || c.Action != gsync.ChangeUnchanged || c.Judged != gsync.JudgedLocally || cs.Requests.DryRuns != 0 {
				t.Errorf("scaled again: %s judged %s dry-runs %d (%v), want unchanged locally", c.Action, c.Judged, cs.Requests.DryRuns, err)
			}
			res = f.mustSync(v2, o)
			if a := actions(res)["Deployment/"+f.ns+"/web"]; a != gsync.Unchanged || res.Requests.DryRuns != 0 {
				t.Errorf("scaled again, sync: %s with %d dry-runs, want unchanged with none", a, res.Requests.DryRuns)
			}
			if replicas, _ := f.deployment("web"); replicas != 3 {
				t.Errorf("replicas %d, want 3", replicas)
			}
		})
	}
}

// Without RespectIgnoreDifferences, a Deployment that changed elsewhere is
// applied whole: replicas scaled by kubectl are taken back (drift by hand),
// replicas scaled by a controller are a conflict that names the option.
func TestIgnoredFieldWithoutRespectIsApplied(t *testing.T) {
	for _, manager := range []string{"kubectl", "kube-controller-manager"} {
		t.Run(manager, func(t *testing.T) {
			f := newFixture(t)
			f.mustSync(deploymentYAML("web", "0", "registry.example/web:1"), f.options())
			f.scale("web", 5, manager)
			o := f.options()
			o.IgnoreDifferences = ignoreRules(t, replicasRule)
			res, err := f.sync(deploymentYAML("web", "0", "registry.example/web:2"), o)
			replicas, images := f.deployment("web")
			if manager == "kubectl" {
				if err != nil || actions(res)["Deployment/"+f.ns+"/web"] != gsync.Configured || replicas != 2 || images[0] != "main=registry.example/web:2" {
					t.Errorf("got %d replicas, %v (%v); want Git's 2 and the new image", replicas, images, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "kube-controller-manager") || !strings.Contains(err.Error(), "RespectIgnoreDifferences=true") || replicas != 5 {
				t.Errorf("got %v, %d replicas; want a conflict naming the manager and RespectIgnoreDifferences=true, nothing applied", err, replicas)
			}
		})
	}
}

// A jq path expression selects one container's image among several: that
// image set by hand is no difference, and RespectIgnoreDifferences keeps it
// while another container changes.
func TestIgnoredJQExpression(t *testing.T) {
	f := newFixture(t)
	doc := func(main string) string {
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
      - {name: main, image: ` + main + `}
      - {name: proxy, image: registry.example/proxy:1}
`
	}
	f.mustSync(doc("registry.example/web:1"), f.options())
	f.editDeployment("web", "kubectl-set", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[1].Image = "registry.example/proxy:patched"
	})
	f.waitForRevision("web", "2") // the controller's annotation, so the two reads below agree

	_, c, err := f.compare(doc("registry.example/web:1"), f.options(), "Deployment", "web")
	if err != nil || c.Action != gsync.ChangeConfigure || !cmp.Equal(c.Diff, []string{".spec.template.spec.containers[1].image"}) {
		t.Errorf("no rule: %s %v (%v), want configure of the proxy image", c.Action, c.Diff, err)
	}
	o := f.options()
	o.IgnoreDifferences = ignoreRules(t, `- group: apps
  kind: Deployment
  name: web
  jqPathExpressions: ['.spec.template.spec.containers[] | select(.name == "proxy") | .image']
`)
	cs, c, err := f.compare(doc("registry.example/web:1"), o, "Deployment", "web")
	if err != nil || c.Action != gsync.ChangeUnchanged || len(c.Diff) != 0 || cs.Requests.DryRuns != 0 {
		t.Errorf("rule: %s %v, %d dry-runs (%v), want unchanged without a dry-run", c.Action, c.Diff, cs.Requests.DryRuns, err)
	}
	o.SyncOptions = []string{"RespectIgnoreDifferences=true"}
	f.mustSync(doc("registry.example/web:2"), o)
	if _, images := f.deployment("web"); !cmp.Equal(images, []string{"main=registry.example/web:2", "proxy=registry.example/proxy:patched"}) {
		t.Errorf("images %v, want the new main image and the patched proxy", images)
	}
}

// managedFieldsManagers: every field kube-controller-manager owns (the
// replicas it scaled, the revision annotation) is left out of the
// comparison; a field another manager changed is not.
func TestIgnoredManagedFieldsManagers(t *testing.T) {
	f := newFixture(t)
	doc := deploymentYAML("web", "0", "registry.example/web:1")
	f.mustSync(doc, f.options())
	f.scale("web", 4, "kube-controller-manager")
	o := f.options()
	o.IgnoreDifferences = ignoreRules(t, "- group: '*'\n  kind: '*'\n  managedFieldsManagers: [kube-controller-manager]\n")
	cs, c, err := f.compare(doc, o, "Deployment", "web")
	if err != nil || c.Action != gsync.ChangeUnchanged || len(c.Diff) != 0 || cs.Requests.DryRuns != 0 {
		t.Errorf("%s %v, %d dry-runs (%v), want unchanged without a dry-run", c.Action, c.Diff, cs.Requests.DryRuns, err)
	}
	live, _ := c.Compared()
	if _, ok, _ := unstructured.NestedFieldNoCopy(live.Object, "spec", "replicas"); ok {
		t.Error("Compared live still has spec.replicas")
	}
	if _, ok := live.GetAnnotations()["deployment.kubernetes.io/revision"]; ok {
		t.Error("Compared live still has the controller's revision annotation")
	}

	// kubectl edits the image: a difference, as before.
	f.editDeployment("web", "kubectl-edit", func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "registry.example/web:edited"
		d.Spec.Replicas = ptr.To(int32(4))
	})
	// The apply would take the image back (drift by hand) and conflict
	// with the controller over the replicas Git sets: refused, naming the
	// option that keeps the live replicas.
	_, _, err = f.compare(doc, o, "Deployment", "web")
	if err == nil || !strings.Contains(err.Error(), "kube-controller-manager") || !strings.Contains(err.Error(), "RespectIgnoreDifferences=true") {
		t.Errorf("after kubectl edit: %v, want the controller's conflict naming RespectIgnoreDifferences=true", err)
	}
	o.SyncOptions = []string{"RespectIgnoreDifferences=true"}
	_, c, err = f.compare(doc, o, "Deployment", "web")
	if err != nil || c.Action != gsync.ChangeConfigure || !cmp.Equal(c.Diff, []string{".spec.template.spec.containers[0].image"}) {
		t.Errorf("after kubectl edit, respecting: %s %v (%v), want configure of the image only", c.Action, c.Diff, err)
	}
}

// editDeployment updates the Deployment name as a client of manager would
// (an Update of the latest object, again if the controller wrote it
// meanwhile).
func (f *fixture) editDeployment(name, manager string, edit func(*appsv1.Deployment)) {
	f.t.Helper()
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := f.kube.AppsV1().Deployments(f.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(d)
		_, err = f.kube.AppsV1().Deployments(f.ns).Update(context.Background(), d, metav1.UpdateOptions{FieldManager: manager})
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
}
