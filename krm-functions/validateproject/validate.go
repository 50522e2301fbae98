package validateproject

import (
	"fmt"
	"path/filepath"
	"strings"

	gobwas "github.com/gobwas/glob"
	"sigs.k8s.io/kustomize/kyaml/fn/framework"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/krm-functions/fnresult"
)

// Processor is the function. It changes no item; every violation is an
// error result, and any error result fails the function.
type Processor struct{}

// Process implements framework.ResourceListProcessor.
func (Processor) Process(rl *framework.ResourceList) error {
	cfg, err := Parse(rl.FunctionConfig)
	if err != nil {
		rl.Results = append(rl.Results, fnresult.Errors(err)...)
		return rl.Results
	}
	results := Check(cfg, rl.Items)
	rl.Results = append(rl.Results, results...)
	for _, r := range results {
		if r.Severity == framework.Error {
			return rl.Results
		}
	}
	return nil
}

// Check validates items against the project and returns one result per
// violation, plus a summary.
func Check(cfg *Config, items []*yaml.RNode) framework.Results {
	p := cfg.Project
	sc := builtinScopes()
	for _, gk := range cfg.ClusterScopedKinds {
		sc[gk] = true
	}
	for _, gk := range cfg.NamespacedKinds {
		sc[gk] = false
	}
	// CRDs in the same build define their kinds' scope.
	for _, item := range items {
		if item.GetKind() == "CustomResourceDefinition" {
			group, _ := item.GetString("spec.group")
			kind, _ := item.GetString("spec.names.kind")
			scope, _ := item.GetString("spec.scope")
			if kind != "" {
				sc[GroupKind{group, kind}] = scope == "Cluster"
			}
		}
	}

	var out framework.Results
	fail := func(item *yaml.RNode, rule, format string, args ...any) {
		out = append(out, &framework.Result{
			Severity:    framework.Error,
			Message:     fmt.Sprintf("%s: %s (AppProject %s, %s)", ref(item), fmt.Sprintf(format, args...), p.Metadata.Name, rule),
			ResourceRef: resourceRef(item),
		})
	}
	if err := p.CheckDestination(cfg.Destination); err != nil {
		out = append(out, &framework.Result{Severity: framework.Error, Message: err.Error()})
	}
	for _, item := range items {
		group, _ := splitAPIVersion(item.GetApiVersion())
		gk := GroupKind{group, item.GetKind()}
		cluster, known := sc[gk]
		if !known {
			out = append(out, &framework.Result{Severity: framework.Error, ResourceRef: resourceRef(item),
				Message: fmt.Sprintf("%s: the scope of kind %s is unknown; declare it under clusterScopedKinds or namespacedKinds in the %s config (group: %q, kind: %q), or include its CustomResourceDefinition in the build", ref(item), gk, Kind, gk.Group, gk.Kind)})
			continue
		}
		if cluster {
			if !listed(p.Spec.ClusterResourceWhitelist, gk, item.GetName(), true) {
				fail(item, "clusterResourceWhitelist", "cluster-scoped kind %s is not in the cluster resource whitelist", gk)
			}
			if listed(p.Spec.ClusterResourceBlacklist, gk, item.GetName(), true) {
				fail(item, "clusterResourceBlacklist", "cluster-scoped kind %s is blacklisted", gk)
			}
			continue
		}
		ns := item.GetNamespace()
		if ns == "" {
			ns = cfg.Destination.Namespace
		}
		if ns != cfg.Destination.Namespace {
			if ok, why := destinationPermitted(p.Spec.Destinations, cfg.Destination, ns); !ok {
				fail(item, "destinations", "namespace %q is not a permitted destination: %s", ns, why)
			}
		}
		if wl := p.Spec.NamespaceResourceWhitelist; wl != nil && !listed(wl, gk, "", false) {
			fail(item, "namespaceResourceWhitelist", "kind %s is not in the namespace resource whitelist", gk)
		}
		if listed(p.Spec.NamespaceResourceBlacklist, gk, "", false) {
			fail(item, "namespaceResourceBlacklist", "kind %s is blacklisted", gk)
		}
	}
	errorsFound := len(out)
	out = append(out, &framework.Result{Severity: framework.Info, Message: fmt.Sprintf("validate-project: %d item(s) checked against AppProject %s, %d violation(s)", len(items), p.Metadata.Name, errorsFound)})
	return out
}

// listed reports whether gk (and name, for cluster lists) matches an entry.
// A nil list matches nothing.
func listed(list *[]ResourceEntry, gk GroupKind, name string, withName bool) bool {
	if list == nil {
		return false
	}
	for _, e := range *list {
		if resourceGlob(e.Group, gk.Group) && resourceGlob(e.Kind, gk.Kind) && (!withName || e.Name == "" || resourceGlob(e.Name, name)) {
			return true
		}
	}
	return false
}

// destinationPermitted applies the project's destinations to a server or
// cluster name and a namespace: some allow entry must match, and no deny
// entry (one whose server, name or namespace starts with "!") may. A deny
// entry matches when its plain fields match and each negated pattern
// matches the value it negates.
func destinationPermitted(dsts []Destination, target Destination, ns string) (bool, string) {
	allowed := false
	for _, d := range dsts {
		deny := strings.HasPrefix(d.Server, "!") || strings.HasPrefix(d.Name, "!") || strings.HasPrefix(d.Namespace, "!")
		// A server URL's trailing "/" does not count, on either side.
		server := strings.TrimSuffix(strings.TrimPrefix(d.Server, "!"), "/")
		clusterMatch := (d.Server != "" && destinationGlob(server, strings.TrimSuffix(target.Server, "/"))) || (d.Name != "" && destinationGlob(strings.TrimPrefix(d.Name, "!"), target.Name))
		nsMatch := destinationGlob(strings.TrimPrefix(d.Namespace, "!"), ns)
		if deny && clusterMatch && nsMatch {
			return false, fmt.Sprintf("denied by {server: %q, name: %q, namespace: %q}", d.Server, d.Name, d.Namespace)
		}
		if !deny && clusterMatch && nsMatch {
			allowed = true
		}
	}
	if !allowed {
		return false, "no destination entry matches"
	}
	return true, ""
}

// CheckDestination checks an app's destination (server or name, and
// namespace) against the project's destinations.
func (p *AppProject) CheckDestination(d Destination) error {
	if ok, why := destinationPermitted(p.Spec.Destinations, d, d.Namespace); !ok {
		return fmt.Errorf("destination %s is not permitted by AppProject %s (destinations): %s", describe(d, d.Namespace), p.Metadata.Name, why)
	}
	return nil
}

// resourceGlob matches the patterns of resource lists as Argo CD does
// (filepath.Match: * is any run of characters but '/', ? one, [a-z] a
// class, \ escapes); a pattern that is not one matches nothing.
func resourceGlob(pattern, value string) bool {
	ok, err := filepath.Match(pattern, value)
	return ok && err == nil
}

// destinationGlob matches the patterns of destinations as Argo CD does
// (gobwas globs: * and ? over any character, [a-z], {a,b}); a pattern that
// does not compile matches nothing.
func destinationGlob(pattern, value string) bool {
	g, err := gobwas.Compile(pattern)
	return err == nil && g.Match(value)
}

func describe(d Destination, ns string) string {
	cluster := d.Server
	if cluster == "" {
		cluster = "name " + d.Name
	}
	return fmt.Sprintf("%s namespace %q", cluster, ns)
}

func splitAPIVersion(apiVersion string) (group, version string) {
	if g, v, ok := strings.Cut(apiVersion, "/"); ok {
		return g, v
	}
	return "", apiVersion
}

func ref(item *yaml.RNode) string {
	if ns := item.GetNamespace(); ns != "" {
		return item.GetKind() + "/" + ns + "/" + item.GetName()
	}
	return item.GetKind() + "/" + item.GetName()
}

func resourceRef(item *yaml.RNode) *yaml.ResourceIdentifier {
	return &yaml.ResourceIdentifier{
		TypeMeta: yaml.TypeMeta{APIVersion: item.GetApiVersion(), Kind: item.GetKind()},
		NameMeta: yaml.NameMeta{Name: item.GetName(), Namespace: item.GetNamespace()},
	}
}

// NamespacedPermitted says whether the project's namespace resource
// white and blacklists let an app deploy objects of the namespaced kind gk.
func (p *AppProject) NamespacedPermitted(gk GroupKind) bool {
	if wl := p.Spec.NamespaceResourceWhitelist; wl != nil && !listed(wl, gk, "", false) {
		return false
	}
	return !listed(p.Spec.NamespaceResourceBlacklist, gk, "", false)
}
