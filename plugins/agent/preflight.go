package agent

import (
	"context"
	"fmt"
	"strings"

	authv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// permission is one thing the agent does in the cluster, and why.
type permission struct {
	verb, group, resource, subresource, namespace string
	why                                           string
}

// permissions are what the agent needs beyond the apps' own resources
// (which Git decides): its inventories and locks, the Application objects
// and their status, Events, and the Leases of leader election.
func (o *Options) permissions() []permission {
	var out []permission
	inv := o.InventoryNamespace()
	for _, v := range []string{"get", "list", "create", "update", "patch"} {
		out = append(out, permission{verb: v, resource: "configmaps", namespace: inv, why: "the apps' inventories"})
	}
	for _, v := range []string{"get", "create", "update", "delete"} {
		out = append(out, permission{verb: v, group: "coordination.k8s.io", resource: "leases", namespace: inv, why: "the apps' sync locks"})
	}
	if o.AppNamespace != "" {
		for _, v := range []string{"get", "list", "watch", "patch"} {
			out = append(out, permission{verb: v, group: "argoproj.io", resource: "applications", namespace: o.AppNamespace, why: "the Application objects it runs"})
		}
		for _, v := range []string{"list", "watch"} {
			out = append(out, permission{verb: v, group: "argoproj.io", resource: "applicationsets", namespace: o.AppNamespace, why: "the ApplicationSet objects it generates apps of"})
		}
		for _, v := range []string{"create", "delete"} {
			out = append(out, permission{verb: v, group: "argoproj.io", resource: "applications", namespace: o.AppNamespace, why: "the Applications of the ApplicationSet objects"})
		}
		out = append(out, permission{verb: "patch", group: "argoproj.io", resource: "applicationsets", subresource: "status", namespace: o.AppNamespace, why: "the ApplicationSets' status"})
		out = append(out, permission{verb: "patch", group: "argoproj.io", resource: "applications", subresource: "status", namespace: o.AppNamespace, why: "the Applications' status"},
			permission{verb: "create", resource: "events", namespace: o.AppNamespace, why: "Events on the Applications"})
	}
	if len(o.ApplicationNamespaces) > 0 {
		// Every namespace: the tenants' are patterns, and may come later.
		for _, v := range []string{"list", "watch", "patch"} {
			out = append(out, permission{verb: v, group: "argoproj.io", resource: "applications", why: "the Application objects of --application-namespaces"})
		}
		out = append(out, permission{verb: "patch", group: "argoproj.io", resource: "applications", subresource: "status", why: "the status of the Applications of --application-namespaces"},
			permission{verb: "create", resource: "events", why: "Events on the Applications of --application-namespaces"},
			permission{verb: "list", resource: "secrets", why: "the repository Secrets of the namespaces of --application-namespaces"},
			permission{verb: "get", resource: "secrets", why: "the age keys (--tenant-age-key-secret) of the namespaces of --application-namespaces"})
	}
	if o.LeaderElect {
		for _, v := range []string{"get", "create", "update"} {
			out = append(out, permission{verb: v, group: "coordination.k8s.io", resource: "leases", namespace: o.LeaderElectionNamespace, why: "leader election"})
		}
	}
	return out
}

// preflight asks the API server whether the agent may do what it needs
// (SelfSubjectAccessReviews, so impersonation is honoured) and fails
// naming every permission missing, rather than failing later, quietly, in
// a retry loop.
func (a *runner) preflight(ctx context.Context) error {
	var missing []string
	for _, p := range a.o.permissions() {
		review := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authv1.ResourceAttributes{
			Verb: p.verb, Group: p.group, Resource: p.resource, Subresource: p.subresource, Namespace: p.namespace,
		}}}
		res, err := a.current.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("check the agent's permissions: %w", err)
		}
		if !res.Status.Allowed {
			r := p.resource
			if p.group != "" {
				r += "." + p.group
			}
			if p.subresource != "" {
				r += "/" + p.subresource
			}
			where := "in namespace " + p.namespace
			if p.namespace == "" {
				where = "in every namespace"
			}
			missing = append(missing, fmt.Sprintf("%s %s %s (%s)", p.verb, r, where, p.why))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the agent lacks permissions:\n  %s\ngrant them to its identity (deploy/base holds the Roles it needs; see docs/agent-deploy.md)", strings.Join(missing, "\n  "))
	}
	return nil
}
