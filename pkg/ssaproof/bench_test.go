package ssaproof_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ssaproof"
)

// BenchmarkProve600 proves a no-op sync of pkg/sync's benchmark app (100
// services × 6 objects): the objects are applied to the real server once,
// listed once per kind as the sync lists them, and then every op proves
// all 600 unchanged, which must succeed for each.
func BenchmarkProve600(b *testing.B) {
	c := newClient(b)
	ns := testcluster.Namespace(b, lc)
	e := &env{t: b, c: c, ns: ns, inv: inventory.Inventory{App: "bench", Namespace: ns}}

	type pair struct{ live, desired *unstructured.Unstructured }
	var desired []*unstructured.Unstructured
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("svc-%03d", i)
		for _, y := range []string{benchConfigMap, benchServiceAccount, benchDeployment, benchService, benchHPA, benchPDB} {
			desired = append(desired, e.object(strings.ReplaceAll(y, "svc-000", name)))
		}
	}
	errs := make(chan error, len(desired))
	sem := make(chan struct{}, 8)
	for _, o := range desired {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := e.apply(o, manager, false)
			errs <- err
		}()
	}
	for range desired {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	live := map[string]*unstructured.Unstructured{}
	listed := map[string]bool{}
	for _, o := range desired {
		gvr, _, err := c.Resource(o.GroupVersionKind())
		if err != nil {
			b.Fatal(err)
		}
		if listed[gvr.String()] {
			continue
		}
		listed[gvr.String()] = true
		list, err := c.Dynamic.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range list.Items {
			item := &list.Items[i]
			// A LIST names the kind once; objects in it carry it as the sync sees them.
			item.SetAPIVersion(o.GetAPIVersion())
			item.SetKind(o.GetKind())
			live[o.GetKind()+"/"+item.GetName()] = item
		}
	}
	pairs := make([]pair, 0, len(desired))
	for _, o := range desired {
		l := live[o.GetKind()+"/"+o.GetName()]
		if l == nil {
			b.Fatalf("%s/%s not listed", o.GetKind(), o.GetName())
		}
		pairs = append(pairs, pair{l, o})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, p := range pairs {
			if v := ssaproof.Prove(p.live, p.desired, manager); !v.Unchanged {
				b.Fatalf("%s/%s: %s", p.desired.GetKind(), p.desired.GetName(), v.Reason)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pairs)), "ns/object")
	b.ReportMetric(float64(len(pairs)), "objects/op")
}
