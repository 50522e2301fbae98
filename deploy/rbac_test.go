package deploy_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

// access is one request of the agent's ServiceAccount.
type access struct {
	verb, group, resource, subresource, namespace, name string
}

func (r access) String() string {
	s := r.verb + " " + r.resource
	if r.group != "" {
		s += "." + r.group
	}
	if r.subresource != "" {
		s += "/" + r.subresource
	}
	if r.name != "" {
		s += " " + r.name
	}
	if r.namespace != "" {
		s += " in " + r.namespace
	} else {
		s += " cluster-wide"
	}
	return s
}

// What the agent does for itself, whatever its rights on the apps' objects.
var agentOwnNeeds = []access{
	{verb: "watch", group: "argoproj.io", resource: "applications", namespace: "argocd"},
	{verb: "create", group: "argoproj.io", resource: "applications", namespace: "argocd"},
	{verb: "delete", group: "argoproj.io", resource: "applications", namespace: "argocd"},
	{verb: "patch", group: "argoproj.io", resource: "applications", subresource: "status", namespace: "argocd"},
	{verb: "update", group: "argoproj.io", resource: "applicationsets", subresource: "status", namespace: "argocd"},
	{verb: "list", group: "argoproj.io", resource: "appprojects", namespace: "argocd"},
	{verb: "create", resource: "events", namespace: "argocd"},
	{verb: "create", group: "coordination.k8s.io", resource: "leases", namespace: "gitops-system"},
	{verb: "update", group: "coordination.k8s.io", resource: "leases", namespace: "gitops-system", name: "kubectl-gitops-agent-shard-2"},
	{verb: "get", resource: "secrets", namespace: "gitops-system", name: "kubectl-gitops-age-key"},
	{verb: "patch", resource: "configmaps", namespace: "kubectl-gitops", name: "gitops-web"},
	{verb: "delete", group: "coordination.k8s.io", resource: "leases", namespace: "kubectl-gitops", name: "gitops-web"},
	{verb: "get", resource: "namespaces", name: "kubectl-gitops"},
	{verb: "list", resource: "pods", namespace: "argocd"}, // is Argo CD's controller running?
	// Drift detection and compare: read every kind, everywhere.
	{verb: "watch", group: "apps", resource: "deployments"},
	{verb: "list", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
}

// The RBAC of the default install and of components/restricted-rbac, applied
// for real and asked through SubjectAccessReviews, so the documented scope
// is the scope the API server grants.
func TestRBAC(t *testing.T) {
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	target := testcluster.Namespace(t, lc) // a namespace an app deploys to
	other := testcluster.Namespace(t, lc)
	a := newApplier(t)
	ctx := context.Background()

	applyRBAC := func(e entry) {
		t.Helper()
		for _, u := range build(t, e) {
			switch u.GetKind() {
			case "Namespace", "CustomResourceDefinition", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding":
				if u.GetKind() == "CustomResourceDefinition" {
					a.establish(t, u)
					continue
				}
				if _, err := a.apply(ctx, u, false); err != nil {
					t.Fatal(err)
				}
				if k := u.GetKind(); k != "Namespace" && k != "CustomResourceDefinition" {
					t.Cleanup(func() { deleteObject(t, a, u) })
				}
			}
		}
	}

	applyRBAC(entries[0])
	expect(t, kube, true, agentOwnNeeds...)
	expect(t, kube, true,
		access{verb: "create", group: "apps", resource: "deployments", namespace: target},
		access{verb: "create", resource: "namespaces"},
		access{verb: "create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
		access{verb: "escalate", group: "rbac.authorization.k8s.io", resource: "clusterroles"},
	)

	applyRBAC(entries[2]) // deploy + servicemonitor + restricted-rbac
	expect(t, kube, true, agentOwnNeeds...)
	writes := []access{
		{verb: "create", group: "apps", resource: "deployments", namespace: target},
		{verb: "delete", resource: "secrets", namespace: target, name: "web"},
		{verb: "patch", group: "monitoring.coreos.com", resource: "servicemonitors", namespace: target, name: "web"},
	}
	expect(t, kube, false, writes...)
	expect(t, kube, false,
		access{verb: "create", resource: "namespaces"},
		access{verb: "create", group: "apiextensions.k8s.io", resource: "customresourcedefinitions"},
		access{verb: "create", group: "rbac.authorization.k8s.io", resource: "clusterrolebindings"},
		access{verb: "delete", resource: "configmaps", namespace: "kube-system", name: "x"},
	)

	// docs/agent-deploy.md: one RoleBinding per namespace the apps deploy to.
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kubectl-gitops-agent", Namespace: target},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "kubectl-gitops-agent-namespaced"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "kubectl-gitops-agent", Namespace: "gitops-system"}},
	}
	if _, err := kube.RbacV1().RoleBindings(target).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect(t, kube, true, writes...)
	for i := range writes {
		writes[i].namespace = other
	}
	expect(t, kube, false, writes...)
}

// expect asks the API server whether the agent's ServiceAccount may do each
// request, waiting a little for the RBAC authorizer to see new bindings.
func expect(t *testing.T, kube kubernetes.Interface, allowed bool, reqs ...access) {
	t.Helper()
	for _, r := range reqs {
		var last *authorizationv1.SubjectAccessReview
		err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   "system:serviceaccount:gitops-system:kubectl-gitops-agent",
				Groups: []string{"system:serviceaccounts", "system:serviceaccounts:gitops-system", "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Verb: r.verb, Group: r.group, Resource: r.resource, Subresource: r.subresource, Namespace: r.namespace, Name: r.name,
				},
			}}
			out, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			last = out
			return out.Status.Allowed == allowed, nil
		})
		if err != nil {
			reason := ""
			if last != nil {
				reason = fmt.Sprintf(" (%s%s)", last.Status.Reason, last.Status.EvaluationError)
			}
			t.Errorf("agent may %s: %v, want %v%s", r, !allowed, allowed, reason)
		}
	}
}

func deleteObject(t *testing.T, a *applier, u *unstructured.Unstructured) {
	gvk := u.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		t.Error(err)
		return
	}
	var err2 error
	if u.GetNamespace() != "" {
		err2 = a.dyn.Resource(mapping.Resource).Namespace(u.GetNamespace()).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
	} else {
		err2 = a.dyn.Resource(mapping.Resource).Delete(context.Background(), u.GetName(), metav1.DeleteOptions{})
	}
	if err2 != nil && !isNotFound(err2) {
		t.Errorf("%s: delete: %v", ref(u), err2)
	}
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
