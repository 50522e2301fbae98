package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// The agent syncs an app holding a Secret from a repository that wants a
// password, given in the Application's repoURL; a push with a signed
// webhook rotates the Secret. Everything the agent shows — its logs,
// /metrics, the webhook's replies, the Events, the inventory and `status`
// — is swept by the leak sweep (see startAgent, scrape, webhook and
// testcluster.Namespace): neither the password nor a Secret value may be
// in any of it.
func TestAgentShowsNoSecret(t *testing.T) {
	const (
		password = "agent-git-password-5f2c81"
		value    = "agent-secret-value-9d41e7"
		rotated  = "agent-secret-rotated-0b3a66"
	)
	leaksweep.Secret(t, password)
	leaksweep.Secret(t, value)
	leaksweep.Secret(t, rotated)
	secret := func(v string) string {
		return "apiVersion: v1\nkind: Secret\nmetadata: {name: web-db}\nstringData: {password: " + v + "}\n"
	}
	ns := testcluster.Namespace(t, lc)
	r := testrepo.New(t)
	r.Commit("first", map[string]string{"apps/web/cm.yaml": configMap("hello"), "apps/web/deploy.yaml": deployment, "apps/web/secret.yaml": secret(value)})
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	bare := filepath.Join(srv.Root(), "config.git")
	if out, err := exec.Command("git", "clone", "--bare", "-q", r.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	srv.Auth("git", password)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	git := &gitServer{repo: r, bare: bare, url: srv.HTTPAddress() + "/config.git"}
	withPassword := strings.Replace(git.url, "http://", "http://git:"+password+"@", 1)

	appFile := filepath.Join(t.TempDir(), "web.yaml")
	name := "sweep-" + ns
	if err := os.WriteFile(appFile, []byte(application(name, ns, withPassword, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, "--app-file", appFile, "--app-namespace", "", "--reconcile-interval", "1h", "--inventory-namespace", ns)
	k := kube(t)
	waitGreeting(t, k, ns, "hello", 60*time.Second)
	password0 := func() string {
		s, err := k.CoreV1().Secrets(ns).Get(context.Background(), "web-db", metav1.GetOptions{})
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(s.Data["password"])
	}
	if got := password0(); got != value {
		t.Fatalf("Secret/%s/web-db not synced (the test reads it: %d bytes)", ns, len(got))
	}

	git.push(t, map[string]string{"apps/web/secret.yaml": secret(rotated), "apps/web/cm.yaml": configMap("rotated")})
	if code := p.webhook(t, git.url, "main", webhookSecret, 0); code != 200 {
		t.Fatalf("webhook: status %d", code)
	}
	if code := p.webhook(t, git.url, "main", "wrong-webhook-secret", 0); code != 401 {
		t.Errorf("webhook with a wrong signature: status %d, want 401", code)
	}
	waitGreeting(t, k, ns, "rotated", 30*time.Second)
	eventually(t, 10*time.Second, "the Secret rotated", func() error {
		if password0() != rotated {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	scrape(t, p)
	// status fetches the recorded repository, which the record holds
	// without the password: the token is given as a file.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errOut, err := runGitops(t, "status", name, "--inventory-namespace", ns, "--git-token-file", tokenFile, "-o", "json"); err != nil {
		t.Errorf("status: %v\n%s%s", err, out, errOut)
	}
	if out, errOut, err := runGitops(t, "history", name, "--inventory-namespace", ns); err != nil {
		t.Errorf("history: %v\n%s%s", err, out, errOut)
	}

	// A wrong password in repoURL: the fetch fails, and what the agent says
	// about it (logs, metrics, status) names the repository without it.
	wrong := "wrong-" + password
	leaksweep.Secret(t, wrong)
	wrongFile := filepath.Join(t.TempDir(), "wrong.yaml")
	if err := os.WriteFile(wrongFile, []byte(application("wrong-"+name, ns, strings.Replace(withPassword, password, wrong, 1), true)), 0o600); err != nil {
		t.Fatal(err)
	}
	q := startAgent(t, "--app-file", wrongFile, "--app-namespace", "", "--reconcile-interval", "1s", "--inventory-namespace", ns)
	eventually(t, 30*time.Second, "the refused fetch logged", func() error {
		if !strings.Contains(q.Logs(), "authentication required") {
			return fmt.Errorf("not in the logs yet")
		}
		return nil
	})
	scrape(t, q)
}

// captureApplicationStatus captures for the leak sweep the status the agent
// wrote on the Applications of argocd (operation messages, conditions,
// resources); their spec is the test's own. Without the CRD there are none.
func captureApplicationStatus(t testing.TB) {
	t.Helper()
	dc, err := dynamic.NewForConfig(lc.Config)
	if err != nil {
		t.Errorf("leaksweep: %v", err)
		return
	}
	gvr := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	list, err := dc.Resource(gvr).Namespace("argocd").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return // no CRD: no Application objects
	}
	for _, app := range list.Items {
		b, _ := json.Marshal(app.Object["status"])
		leaksweep.CaptureState(t, "status of Application argocd/"+app.GetName(), string(b))
	}
}
