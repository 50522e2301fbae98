package sync_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/render"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// FindOrphans lists what no app manages: not the app's members, not what
// they own, not Argo CD's exceptions, a StatefulSet's claims or
// ServiceAccount tokens, nor what ignore says.
func TestFindOrphans(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.mustSync(configMapYAML("member", "0", ""), f.options())
	objs, err := render.Decode([]byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: stray}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: v1
kind: Secret
metadata: {name: sa-token, annotations: {kubernetes.io/service-account.name: default}}
type: kubernetes.io/service-account-token
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: db}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data-db-0}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: scratch}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		gvr, _, err := f.client.Resource(o.GroupVersionKind())
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.client.Dynamic.Resource(gvr).Namespace(f.ns).Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) && o.GetName() == "data-db-0" {
			continue // the StatefulSet controller made its claim first
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := gsync.New(f.client, f.options()).FindOrphans(ctx, f.ns, func(gk schema.GroupKind, name string) bool { return name == "ignored" })
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, o := range got {
		refs = append(refs, o.Kind+"/"+o.Name)
	}
	// The StatefulSet itself is no app's: an orphan; its Pods are owned.
	want := "ConfigMap/stray PersistentVolumeClaim/scratch StatefulSet/db"
	if g := strings.Join(refs, " "); g != want {
		t.Errorf("orphans %s, want %s", g, want)
	}
}
