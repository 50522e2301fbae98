package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/cluster"
)

func TestIsTransientBoundaries(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"health timeout: the sync's own bound", fmt.Errorf("wave 1: %w", &HealthTimeoutError{Pending: []string{"Deployment/a/b is Progressing"}}), false},
		{"discovery of a group failed", fmt.Errorf("Route/a/b: %w", &cluster.DiscoveryFailedError{Group: "route.openshift.io", Err: errors.New("503")}), true},
		{"a bare deadline", context.DeadlineExceeded, true},
		{"anything else", errors.New("spec.replicas: Invalid value"), false},
	} {
		if got := IsTransient(tt.err); got != tt.want {
			t.Errorf("%s: IsTransient = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestUnreachableAPIServer(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/apis/apps/v1/namespaces/shop/deployments?labelSelector=x",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	cut := &url.Error{Op: "Patch", URL: "https://10.0.0.1:443/api/v1/namespaces/shop/configmaps/a", Err: io.EOF}
	status := apierrors.NewServiceUnavailable("etcd is down")
	for _, tt := range []struct {
		name      string
		err       error
		transient bool
		want      string // the explained error; "" when explain leaves it
	}{
		{"refused, while reading for health", fmt.Errorf(`read deployments in "shop" for health: %w`, refused), true,
			`cannot reach the API server at https://127.0.0.1:6443 (connection refused); the sync stopped: read deployments in "shop" for health: Get "https://127.0.0.1:6443/apis/apps/v1/namespaces/shop/deployments?labelSelector=x": dial tcp: connect: connection refused` +
				"\nthe lock Lease/inv/gitops-shop may not have been released: it then lapses 1m0s after its last renewal"},
		{"cut in the middle of an apply, joined with a failed record", errors.Join(fmt.Errorf("ConfigMap/shop/a: %w", cut), errors.New("write inventory: x")), true,
			"cannot reach the API server at https://10.0.0.1:443 (the connection was cut); the sync stopped: ConfigMap/shop/a: Patch \"https://10.0.0.1:443/api/v1/namespaces/shop/configmaps/a\": EOF\nwrite inventory: x" +
				"\nthe lock Lease/inv/gitops-shop may not have been released: it then lapses 1m0s after its last renewal"},
		{"the server answered 503", fmt.Errorf("ConfigMap/shop/a: %w", status), true, ""},
		{"not an API error", errors.New("spec.replicas: Invalid value"), false, ""},
	} {
		if got := IsTransient(tt.err); got != tt.transient {
			t.Errorf("%s: IsTransient = %v, want %v", tt.name, got, tt.transient)
		}
		s := &Syncer{opts: Options{InventoryNamespace: "inv", LockDuration: time.Minute}}
		res, err := s.explain(&Result{App: "shop", Message: "m"}, tt.err)
		var ue *UnreachableError
		if tt.want == "" {
			if errors.As(err, &ue) || err != tt.err || res.Message != "m" {
				t.Errorf("%s: explain changed the error: %v (message %q)", tt.name, err, res.Message)
			}
			continue
		}
		if !errors.As(err, &ue) || err.Error() != tt.want {
			t.Errorf("%s: explained as\n%v\nwant\n%s", tt.name, err, tt.want)
		}
		if !errors.Is(err, tt.err) || !IsTransient(err) {
			t.Errorf("%s: the explained error does not keep the original (errors.Is %v, IsTransient %v)", tt.name, errors.Is(err, tt.err), IsTransient(err))
		}
		if !strings.HasPrefix(res.Message, "cannot reach the API server at ") || !strings.Contains(res.Message, "stopped: m\n") {
			t.Errorf("%s: result message %q", tt.name, res.Message)
		}
	}
}
