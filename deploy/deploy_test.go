// Tests of the agent's install manifests: rendered by the real kustomize of
// hack/tools, then checked for what a person would check by eye (one image,
// the locked-down securityContext, only the agent's flags) and sent to the
// real local control plane: CRDs and Namespaces applied, everything else as
// a server-side dry run with strict field validation, the ServiceMonitor
// against the Prometheus Operator's own CRD.
package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

var lc *localcluster.Cluster

func TestMain(m *testing.M) { os.Exit(testcluster.Main(m, &lc)) }

// KoImage is the image reference of the manifests, resolved by ko.
const KoImage = "ko://github.com/kubectl-gitops/kubectl-gitops/cmd/kubectl-gitops"

// dryRunImage replaces KoImage for the API server (which would accept it, but
// no kubelet could pull it).
const dryRunImage = "registry.example.com/kubectl-gitops:dry-run"

const fieldManager = "kubectl-gitops-deploy-test"

// entry is a kustomization the repository ships, or one composed from its
// components the way docs/agent-deploy.md tells users to.
type entry struct {
	name string
	// dir is a kustomization directory relative to deploy/; empty means
	// compose resources and components in a temporary directory.
	dir                   string
	resources, components []string
}

var entries = []entry{
	{name: "deploy", dir: "."},
	{name: "shards", dir: "overlays/shards"},
	{name: "monitoring+restricted", resources: []string{"."}, components: []string{"components/servicemonitor", "components/restricted-rbac"}},
	{name: "shards+monitoring", resources: []string{"overlays/shards"}, components: []string{"components/servicemonitor"}},
}

// build renders e with the real kustomize.
func build(t *testing.T, e entry) []*unstructured.Unstructured {
	t.Helper()
	deployDir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(deployDir, e.dir)
	if e.dir == "" {
		// kustomize wants relative paths to other kustomizations.
		dir = t.TempDir()
		var k strings.Builder
		k.WriteString("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
		for _, list := range []struct {
			field string
			paths []string
		}{{"resources", e.resources}, {"components", e.components}} {
			fmt.Fprintf(&k, "%s:\n", list.field)
			for _, p := range list.paths {
				rel, err := filepath.Rel(dir, filepath.Join(deployDir, p))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&k, "- %s\n", filepath.ToSlash(rel))
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kustomize), "build", dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	leaksweep.Capture(t, "stdout of `kustomize build "+e.name+"`", string(out))
	leaksweep.Capture(t, "stderr of `kustomize build "+e.name+"`", stderr.String())
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", e.name, err, stderr.Bytes())
	}
	return decode(t, out)
}

func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufioReader(data))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("decode: %v\n%s", err, doc)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

func ref(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return u.GetKind() + "/" + ns + "/" + u.GetName()
	}
	return u.GetKind() + "/" + u.GetName()
}

// warnings collects the API server's warnings of one client.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// applier server-side applies objects, for real or as a dry run.
type applier struct {
	dyn      dynamic.Interface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	warnings *warnings
}

func newApplier(t *testing.T) *applier {
	t.Helper()
	cfg := rest.CopyConfig(lc.Config)
	w := &warnings{}
	cfg.WarningHandler = w
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{
		dyn:      dynamic.NewForConfigOrDie(cfg),
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)),
		warnings: w,
	}
}

// apply server-side applies u, strictly validated; dryRun asks for
// dryRun=All. A kind the discovery cache does not know yet (a CRD just
// established) is looked up again for a few seconds.
func (a *applier) apply(ctx context.Context, u *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	body, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	gvk := u.GroupVersionKind()
	var mapping *meta.RESTMapping
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		mapping, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if meta.IsNoMatchError(err) {
			a.mapper.Reset()
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: no API for %s: %w", ref(u), gvk, err)
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(mapping.Resource).Namespace(u.GetNamespace())
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := ri.Patch(ctx, u.GetName(), types.ApplyPatchType, body, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref(u), err)
	}
	return out, nil
}

// establish applies CRDs for real and waits until the API serves them.
func (a *applier) establish(t *testing.T, crds ...*unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	for _, crd := range crds {
		if _, err := a.apply(ctx, crd, false); err != nil {
			t.Fatal(err)
		}
	}
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, crd := range crds {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			u, err := a.dyn.Resource(crdRes).Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("%s not established: %v", ref(crd), err)
		}
	}
	a.mapper.Reset()
}

// serviceMonitorCRD is the Prometheus Operator's CRD, pinned in
// hack/tools/files.txt and fetched into the tools cache.
func serviceMonitorCRD(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	p, err := tools.EnsureFile(context.Background(), tools.Options{Log: os.Stderr}, tools.ServiceMonitorCRD)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	objs := decode(t, b)
	if len(objs) != 1 || objs[0].GetName() != "servicemonitors.monitoring.coreos.com" {
		t.Fatalf("%s: want the one CRD servicemonitors.monitoring.coreos.com", p)
	}
	return objs[0]
}

// TestServerDryRun sends every rendered object to the API server: CRDs and
// Namespaces for real (the rest needs them), everything else with
// dryRun=All and strict field validation, and fails on any warning too (a
// Pod Security "restricted" violation of a pod template, a deprecated API).
func TestServerDryRun(t *testing.T) {
	a := newApplier(t)
	a.establish(t, serviceMonitorCRD(t))
	ctx := context.Background()
	for _, e := range entries {
		t.Run(e.name, func(t *testing.T) {
			objs := build(t, e)
			var crds, namespaces, rest []*unstructured.Unstructured
			for _, u := range objs {
				switch u.GetKind() {
				case "CustomResourceDefinition":
					crds = append(crds, u)
				case "Namespace":
					namespaces = append(namespaces, u)
				default:
					rest = append(rest, placeholderImages(t, u))
				}
			}
			if len(crds) != 3 || len(namespaces) != 3 {
				t.Fatalf("%d CRDs and %d Namespaces, want 3 and 3 (crds, namespaces, base)", len(crds), len(namespaces))
			}
			a.establish(t, crds...)
			for _, ns := range namespaces {
				if _, err := a.apply(ctx, ns, false); err != nil {
					t.Fatal(err)
				}
			}
			a.warnings.take()
			for _, u := range rest {
				out, err := a.apply(ctx, u, true)
				if err != nil {
					t.Error(err)
					continue
				}
				if w := a.warnings.take(); len(w) > 0 {
					t.Errorf("%s: API server warnings:\n  %s", ref(u), strings.Join(w, "\n  "))
				}
				if out.GetKind() != u.GetKind() || out.GetName() != u.GetName() {
					t.Errorf("%s: dry run returned %s", ref(u), ref(out))
				}
			}
		})
	}
}

// The warning check above can fail: the API server does warn about a pod
// template that breaks the restricted Pod Security Standard of gitops-system.
func TestServerWarnsAboutInsecureTemplate(t *testing.T) {
	a := newApplier(t)
	objs := build(t, entries[0])
	a.establish(t, ofKind(objs, "CustomResourceDefinition")...)
	ctx := context.Background()
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			if _, err := a.apply(ctx, u, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := placeholderImages(t, find(t, objs, "Deployment", "kubectl-gitops-agent"))
	containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	delete(containers[0].(map[string]any), "securityContext")
	if err := unstructured.SetNestedSlice(d.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	a.warnings.take()
	if _, err := a.apply(ctx, d, true); err != nil {
		t.Fatal(err)
	}
	w := strings.Join(a.warnings.take(), "\n")
	if !strings.Contains(w, "restricted") || !strings.Contains(w, "allowPrivilegeEscalation") {
		t.Errorf("no Pod Security warning for a container without securityContext; got %q", w)
	}
}

// placeholderImages returns a copy of u with KoImage replaced.
func placeholderImages(t *testing.T, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	b, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(`"`+KoImage+`"`), []byte(`"`+dryRunImage+`"`))
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(b); err != nil {
		t.Fatal(err)
	}
	return out
}

// ofKind are the objects of kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == kind {
			out = append(out, u)
		}
	}
	return out
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range objs {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s/%s in the rendered manifests", kind, name)
	return nil
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
