package validateproject

// clusterScoped lists the cluster-scoped kinds of Kubernetes itself, by
// group; namespaced lists its namespaced kinds. A kind in neither, not
// defined by a CRD in the same build and not declared in the config, is an
// error: guessing its scope could let it past the project's rules.
var clusterScoped = map[string][]string{
	"":                             {"Namespace", "Node", "PersistentVolume", "ComponentStatus"},
	"rbac.authorization.k8s.io":    {"ClusterRole", "ClusterRoleBinding"},
	"apiextensions.k8s.io":         {"CustomResourceDefinition"},
	"apiregistration.k8s.io":       {"APIService"},
	"storage.k8s.io":               {"StorageClass", "CSIDriver", "CSINode", "VolumeAttachment", "VolumeAttributesClass"},
	"scheduling.k8s.io":            {"PriorityClass"},
	"node.k8s.io":                  {"RuntimeClass"},
	"networking.k8s.io":            {"IngressClass", "IPAddress", "ServiceCIDR"},
	"admissionregistration.k8s.io": {"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"},
	"certificates.k8s.io":          {"CertificateSigningRequest", "ClusterTrustBundle"},
	"flowcontrol.apiserver.k8s.io": {"FlowSchema", "PriorityLevelConfiguration"},
	"resource.k8s.io":              {"DeviceClass", "ResourceSlice"},
	"internal.apiserver.k8s.io":    {"StorageVersion"},
}

var namespaced = map[string][]string{
	"":                          {"Pod", "Service", "ConfigMap", "Secret", "ServiceAccount", "Endpoints", "Event", "LimitRange", "ResourceQuota", "PersistentVolumeClaim", "PodTemplate", "ReplicationController", "Binding"},
	"apps":                      {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision"},
	"batch":                     {"Job", "CronJob"},
	"autoscaling":               {"HorizontalPodAutoscaler"},
	"policy":                    {"PodDisruptionBudget"},
	"networking.k8s.io":         {"Ingress", "NetworkPolicy"},
	"rbac.authorization.k8s.io": {"Role", "RoleBinding"},
	"coordination.k8s.io":       {"Lease"},
	"discovery.k8s.io":          {"EndpointSlice"},
	"events.k8s.io":             {"Event"},
	"storage.k8s.io":            {"CSIStorageCapacity"},
	"resource.k8s.io":           {"ResourceClaim", "ResourceClaimTemplate"},
}

// GroupKind names a kind.
type GroupKind struct {
	Group string `json:"group,omitempty" yaml:"group,omitempty"`
	Kind  string `json:"kind" yaml:"kind"`
}

func (gk GroupKind) String() string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

// scopes knows which kinds are cluster-scoped.
type scopes map[GroupKind]bool // true: cluster-scoped

func builtinScopes() scopes {
	s := scopes{}
	for g, kinds := range clusterScoped {
		for _, k := range kinds {
			s[GroupKind{g, k}] = true
		}
	}
	for g, kinds := range namespaced {
		for _, k := range kinds {
			s[GroupKind{g, k}] = false
		}
	}
	return s
}
