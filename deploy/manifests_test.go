package deploy_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// agentFlags are the flags of `kubectl-gitops agent` (its contract) and
// whether each is a boolean (takes no value).
var agentFlags = map[string]bool{
	"app-namespace":               false,
	"inventory-namespace":         false,
	"listen":                      false,
	"leader-elect":                true,
	"leader-election-namespace":   false,
	"leader-election-id":          false,
	"shards":                      false,
	"shard-ordinal-from-hostname": true,
	"webhook-secrets-dir":         false,
	"age-key-secret":              false,
	"age-key-file":                false,
	"log-format":                  false,
	"reconcile-interval":          false,
	"concurrency":                 false,
}

// parseArgs checks that args run the agent with its flags only and returns
// them by name ("" for a boolean).
func parseArgs(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	if len(args) == 0 || args[0] != "agent" {
		t.Fatalf("%s: args %q do not start with the verb agent", where, args)
	}
	flags := map[string]string{}
	for i := 1; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(args[i], "--"), "=")
		isBool, known := agentFlags[name]
		switch {
		case !strings.HasPrefix(args[i], "--"):
			t.Errorf("%s: argument %q is not a flag", where, args[i])
			continue
		case !known:
			t.Errorf("%s: --%s is not a flag of kubectl-gitops agent", where, name)
		case isBool && hasValue && value != "true" && value != "false":
			t.Errorf("%s: --%s is a boolean, got %q", where, name, value)
		case !isBool && !hasValue:
			if i+1 == len(args) {
				t.Errorf("%s: --%s has no value", where, name)
			} else {
				i++
				value = args[i]
			}
		}
		if _, dup := flags[name]; dup {
			t.Errorf("%s: --%s given twice", where, name)
		}
		flags[name] = value
	}
	return flags
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &out, true); err != nil {
		t.Fatalf("%s: %v", ref(u), err)
	}
	return &out
}

// workload is a rendered object that runs pods.
type workload struct {
	ref      string
	kind     string
	replicas int32
	template corev1.PodTemplateSpec
}

func workloads(t *testing.T, objs []*unstructured.Unstructured) []workload {
	t.Helper()
	var out []workload
	for _, u := range objs {
		switch u.GetKind() {
		case "Deployment":
			d := convert[appsv1.Deployment](t, u)
			out = append(out, workload{ref(u), u.GetKind(), *d.Spec.Replicas, d.Spec.Template})
		case "StatefulSet":
			s := convert[appsv1.StatefulSet](t, u)
			out = append(out, workload{ref(u), u.GetKind(), *s.Spec.Replicas, s.Spec.Template})
		case "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "ReplicationController":
			t.Errorf("%s: unexpected workload kind", ref(u))
		}
	}
	return out
}

func TestManifests(t *testing.T) {
	for _, e := range entries {
		t.Run(e.name, func(t *testing.T) {
			objs := build(t, e)
			for _, u := range objs {
				if u.GetLabels()["app.kubernetes.io/part-of"] != "kubectl-gitops" {
					t.Errorf("%s: no label app.kubernetes.io/part-of=kubectl-gitops", ref(u))
				}
			}
			ws := workloads(t, objs)
			if len(ws) != 1 {
				t.Fatalf("%d workloads, want the agent alone", len(ws))
			}
			w := ws[0]
			checkPodSpec(t, w)
			flags := parseArgs(t, w.ref, w.template.Spec.Containers[0].Args)
			sharded := strings.HasPrefix(e.name, "shards")
			if sharded {
				if w.kind != "StatefulSet" || w.replicas != 3 {
					t.Errorf("%s: %d replicas, want a StatefulSet of 3", w.ref, w.replicas)
				}
				if n, err := strconv.Atoi(flags["shards"]); err != nil || int32(n) != w.replicas {
					t.Errorf("%s: --shards=%q with %d replicas; want one shard a replica", w.ref, flags["shards"], w.replicas)
				}
				if _, ok := flags["shard-ordinal-from-hostname"]; !ok {
					t.Errorf("%s: no --shard-ordinal-from-hostname", w.ref)
				}
				if v, ok := flags["leader-elect"]; !ok || v == "false" {
					t.Errorf("%s: --shards without --leader-elect; the agent campaigns for the shard Leases only with it", w.ref)
				}
				s := convert[appsv1.StatefulSet](t, find(t, objs, "StatefulSet", "kubectl-gitops-agent"))
				if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
					t.Errorf("%s: podManagementPolicy %q, want Parallel", w.ref, s.Spec.PodManagementPolicy)
				}
			} else {
				if w.kind != "Deployment" || w.replicas != 2 {
					t.Errorf("%s: %d replicas, want a Deployment of 2", w.ref, w.replicas)
				}
				if v, ok := flags["leader-elect"]; !ok || v == "false" {
					t.Errorf("%s: two replicas without --leader-elect", w.ref)
				}
				if _, ok := flags["shards"]; ok {
					t.Errorf("%s: --shards in the unsharded install", w.ref)
				}
			}
			checkWiring(t, objs, w, flags)
		})
	}
}

// checkPodSpec: the ko image alone, and every container locked down.
func checkPodSpec(t *testing.T, w workload) {
	t.Helper()
	spec := w.template.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v, want runAsNonRoot and seccomp RuntimeDefault", w.ref, psc)
	}
	var all []corev1.Container
	all = append(all, spec.InitContainers...)
	all = append(all, spec.Containers...)
	for _, c := range spec.EphemeralContainers {
		all = append(all, corev1.Container(c.EphemeralContainerCommon))
	}
	for _, c := range all {
		where := w.ref + " container " + c.Name
		if c.Image != KoImage {
			t.Errorf("%s: image %q, want %s (the only image)", where, c.Image, KoImage)
		}
		if len(c.Command) > 0 {
			t.Errorf("%s: command %q overrides the image's entrypoint (kubectl-gitops)", where, c.Command)
		}
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
		case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
			t.Errorf("%s: runAsNonRoot is not true", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem is not true", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation is not false", where)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s: privileged", where)
		case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities %+v, want drop [ALL] and nothing added", where, sc.Capabilities)
		case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			t.Errorf("%s: seccompProfile %+v, want RuntimeDefault", where, sc.SeccompProfile)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: resources %+v, want cpu and memory requests and a memory limit", where, c.Resources)
		}
	}
}

// checkWiring: flags, ports, probes, mounts, Service, ServiceMonitor,
// NetworkPolicy and RBAC agree with one another.
func checkWiring(t *testing.T, objs []*unstructured.Unstructured, w workload, flags map[string]string) {
	t.Helper()
	spec := w.template.Spec
	c := spec.Containers[0]
	podLabels := labels.Set(w.template.Labels)

	// --listen, the container port and the probes.
	if flags["listen"] != ":8080" {
		t.Errorf("%s: --listen=%q, want :8080", w.ref, flags["listen"])
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("%s: ports %+v, want http 8080", w.ref, c.Ports)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("%s: %s probe %+v, want GET %s on port http", w.ref, p.name, p.probe, p.path)
		}
	}

	// The environment: POD_NAMESPACE from the downward API, the cache and
	// config directories on mounted volumes.
	env := map[string]corev1.EnvVar{}
	for _, v := range c.Env {
		env[v.Name] = v
	}
	if v := env["POD_NAMESPACE"]; v.ValueFrom == nil || v.ValueFrom.FieldRef == nil || v.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("%s: POD_NAMESPACE %+v, want fieldRef metadata.namespace", w.ref, v)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mountAt := func(path string) (corev1.VolumeMount, corev1.Volume, bool) {
		for _, m := range c.VolumeMounts {
			if m.MountPath == path {
				return m, volumes[m.Name], true
			}
		}
		return corev1.VolumeMount{}, corev1.Volume{}, false
	}
	for _, dir := range []string{env["XDG_CACHE_HOME"].Value, "/tmp"} {
		if m, v, ok := mountAt(dir); dir == "" || !ok || v.EmptyDir == nil || m.ReadOnly {
			t.Errorf("%s: %q is no writable emptyDir mount (the root file system is read-only)", w.ref, dir)
		}
	}
	secretMount := func(what, path, secret string) {
		m, v, ok := mountAt(path)
		if !ok || v.Secret == nil || v.Secret.SecretName != secret || v.Secret.Optional == nil || !*v.Secret.Optional || !m.ReadOnly {
			t.Errorf("%s: %s: want Secret %s mounted read-only and optional at %s; got %+v", w.ref, what, secret, path, v)
		}
	}
	secretMount("--webhook-secrets-dir", flags["webhook-secrets-dir"], "kubectl-gitops-webhook")
	secretMount("age key (sops' keys.txt under $XDG_CONFIG_HOME)", env["XDG_CONFIG_HOME"].Value+"/sops/age", "kubectl-gitops-age-key")

	// The Service and, when there, the ServiceMonitor.
	svc := convert[corev1.Service](t, find(t, objs, "Service", "kubectl-gitops-agent"))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
		t.Errorf("Service: selector %v does not select the agent's pods %v", svc.Spec.Selector, podLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service: ports %+v, want http 8080 -> http", svc.Spec.Ports)
	}
	for _, u := range objs {
		if u.GetKind() != "ServiceMonitor" {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
		endpoints, _, _ := unstructured.NestedSlice(u.Object, "spec", "endpoints")
		if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
			t.Errorf("%s: selector %v does not select the Service %v", ref(u), sel, svc.Labels)
		}
		want := []any{map[string]any{"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}}
		if diff := cmp.Diff(want, endpoints); diff != "" {
			t.Errorf("%s: endpoints (-want +got):\n%s", ref(u), diff)
		}
	}

	// The NetworkPolicy: the pods, 8080 in, DNS, API server and Git out.
	np := convert[networkingv1.NetworkPolicy](t, find(t, objs, "NetworkPolicy", "kubectl-gitops-agent"))
	if !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(podLabels) {
		t.Errorf("NetworkPolicy: podSelector does not select the agent's pods")
	}
	ports := func(rules [][]networkingv1.NetworkPolicyPort) []string {
		var out []string
		for _, r := range rules {
			for _, p := range r {
				out = append(out, string(*p.Protocol)+"/"+p.Port.String())
			}
		}
		slices.Sort(out)
		return out
	}
	var in, out [][]networkingv1.NetworkPolicyPort
	for _, r := range np.Spec.Ingress {
		in = append(in, r.Ports)
		if len(r.From) > 0 {
			t.Errorf("NetworkPolicy: ingress restricted to %+v; webhooks come from anywhere", r.From)
		}
	}
	for _, r := range np.Spec.Egress {
		out = append(out, r.Ports)
	}
	if diff := cmp.Diff([]string{"TCP/8080"}, ports(in)); diff != "" {
		t.Errorf("NetworkPolicy ingress ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"TCP/22", "TCP/443", "TCP/53", "TCP/6443", "UDP/53"}, ports(out)); diff != "" {
		t.Errorf("NetworkPolicy egress ports (-want +got):\n%s", diff)
	}

	// RBAC: every binding names the agent's ServiceAccount, the Roles sit in
	// the namespaces the flags name, and the only Secret a Role grants is
	// the age key.
	sa := find(t, objs, "ServiceAccount", spec.ServiceAccountName)
	if sa.GetNamespace() != "gitops-system" {
		t.Errorf("%s: ServiceAccount in %s, want gitops-system", w.ref, sa.GetNamespace())
	}
	roleNamespaces := map[string]bool{}
	for _, u := range objs {
		switch u.GetKind() {
		case "RoleBinding", "ClusterRoleBinding":
			b := convert[rbacv1.RoleBinding](t, u)
			want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.GetName(), Namespace: sa.GetNamespace()}}
			if diff := cmp.Diff(want, b.Subjects); diff != "" {
				t.Errorf("%s: subjects (-want +got):\n%s", ref(u), diff)
			}
			roleKind := "Role"
			if u.GetKind() == "ClusterRoleBinding" {
				roleKind = "ClusterRole"
			}
			if b.RoleRef.Kind != roleKind {
				t.Errorf("%s: binds a %s", ref(u), b.RoleRef.Kind)
			}
			find(t, objs, b.RoleRef.Kind, b.RoleRef.Name)
		case "Role":
			roleNamespaces[u.GetNamespace()] = true
			for _, r := range convert[rbacv1.Role](t, u).Rules {
				if !slices.Contains(r.Resources, "secrets") {
					continue
				}
				want := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"kubectl-gitops-age-key"}, Verbs: []string{"get"}}
				if u.GetNamespace() != "gitops-system" || !cmp.Equal(want, r) {
					t.Errorf("%s: secrets rule %+v, want only get on Secret gitops-system/kubectl-gitops-age-key", ref(u), r)
				}
			}
		}
	}
	for _, ns := range []string{flags["app-namespace"], flags["inventory-namespace"], "gitops-system"} {
		if !roleNamespaces[ns] {
			t.Errorf("no Role in namespace %q (flags %v)", ns, flags)
		}
		find(t, objs, "Namespace", ns)
	}
}
