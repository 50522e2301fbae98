package agent_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/internal/tools"
)

var (
	lc  *localcluster.Cluster
	bin string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kubectl-gitops-agent-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "kubectl-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/kubectl-gitops").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := testcluster.Main(m, &lc)
	os.RemoveAll(dir)
	os.Exit(code)
}

const webhookSecret = "webhook-secret-for-tests-0123"

// gitServer is a config repository served over HTTP by a real Git server.
type gitServer struct {
	repo *testrepo.Repo
	bare string
	url  string
}

func serve(t testing.TB, files map[string]string) *gitServer {
	t.Helper()
	return serveWithAuth(t, files, "", "")
}

// serveWithAuth is serve behind basic auth (user, password), none when
// user is empty.
func serveWithAuth(t testing.TB, files map[string]string, user, password string) *gitServer {
	t.Helper()
	r := testrepo.New(t)
	r.Commit("first", files)
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	bare := filepath.Join(srv.Root(), "config.git")
	if out, err := exec.Command("git", "clone", "--bare", "-q", r.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	if user != "" {
		srv.Auth(user, password)
	}
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	return &gitServer{repo: r, bare: bare, url: srv.HTTPAddress() + "/config.git"}
}

// push commits files and pushes them to the server; it returns the commit.
func (g *gitServer) push(t testing.TB, files map[string]string) string {
	t.Helper()
	sha := g.repo.Commit("change", files)
	g.publish(t)
	return sha
}

// publish pushes the repository's HEAD to the server.
func (g *gitServer) publish(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("git", "-C", g.repo.Dir, "push", "-q", "-f", g.bare, "HEAD:refs/heads/main").CombinedOutput(); err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
}

// agentProc is the agent running as a process.
type agentProc struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	logs   bytes.Buffer
	stdout bytes.Buffer // written by exec's copier, read after done
	done   chan struct{}
}

func (p *agentProc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startAgent runs the agent with args (JSON logs, a free port, the test
// cluster) and waits until it serves /readyz.
func startAgent(t testing.TB, args ...string) *agentProc {
	t.Helper()
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "github"), []byte(webhookSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"--kubeconfig", lc.Kubeconfig, "agent", "--listen", "127.0.0.1:0", "--log-format", "json",
		"--webhook-secrets-dir", secrets, "--reconcile-jitter", "0", "--log-level", "debug"}, args...)
	p := &agentProc{cmd: exec.Command(bin, all...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir(), "GIT_TOKEN=")
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			var rec struct{ Msg, Listen string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "agent started" {
				addr <- rec.Listen
			}
		}
		_ = p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.stop()
		// The leak sweep: everything the agent printed, and the Events
		// it wrote for Applications.
		leaksweep.Capture(t, "logs (stderr) of the agent "+p.addr, p.Logs())
		leaksweep.Capture(t, "stdout of the agent "+p.addr, p.stdout.String())
		testcluster.CaptureEvents(t, lc, "argocd")
		captureApplicationStatus(t)
		if t.Failed() {
			t.Logf("agent logs (the last 20,000 bytes):\n%s", last(p.Logs(), 20000))
		}
	})
	select {
	case p.addr = <-addr:
	case <-p.done:
		t.Fatalf("the agent exited:\n%s", p.Logs())
	case <-time.After(60 * time.Second):
		t.Fatalf("the agent did not start:\n%s", p.Logs())
	}
	eventually(t, 30*time.Second, "the agent is ready", func() error {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	return p
}

// stop sends SIGTERM and waits for the agent to exit.
func (p *agentProc) stop() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *agentProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// webhook posts a GitHub push event for repoURL and branch, signed with
// secret ("" sends no signature); it returns the status code.
func (p *agentProc) webhook(t testing.TB, repoURL, branch, secret string, pad int) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"ref": "refs/heads/" + branch, "after": strings.Repeat("a", 40), "padding": strings.Repeat("x", pad),
		"repository": map[string]any{"html_url": strings.TrimSuffix(repoURL, ".git"), "clone_url": repoURL, "default_branch": "main", "name": "config", "full_name": "test/config"},
	})
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+"/api/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "1")
	if secret != "" {
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	leaksweep.Capture(t, fmt.Sprintf("webhook response (%d) of the agent %s", resp.StatusCode, p.addr), fmt.Sprintf("%v\n%s", resp.Header, reply))
	return resp.StatusCode
}

// eventually polls cond every 100 ms until it holds (see waitFor).
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) time.Duration {
	t.Helper()
	return waitFor(t, timeout, 100*time.Millisecond, what, cond)
}

func kube(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", lc.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return kubernetes.NewForConfigOrDie(cfg)
}

func configMap(value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config}\ndata: {greeting: " + value + "}\n"
}

const deployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
`

// application is an Argo CD Application of the served repository's
// apps/web, into ns, automated with selfHeal as given.
func application(name, ns, repoURL string, selfHeal bool) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: %s, namespace: argocd}
spec:
  project: default
  source: {repoURL: %s, targetRevision: HEAD, path: apps/web}
  destination: {server: https://kubernetes.default.svc, namespace: %s}
  syncPolicy:
    automated: {prune: true, selfHeal: %t}
`, name, repoURL, ns, selfHeal)
}

func greeting(t *testing.T, k kubernetes.Interface, ns string) string {
	cm, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "web-config", metav1.GetOptions{})
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return cm.Data["greeting"]
}

func waitGreeting(t *testing.T, k kubernetes.Interface, ns, want string, timeout time.Duration) time.Duration {
	t.Helper()
	return eventually(t, timeout, "greeting "+want, func() error {
		if got := greeting(t, k, ns); got != want {
			return fmt.Errorf("greeting %q", got)
		}
		return nil
	})
}

// An app of --app-file: synced when the agent starts; a push with its
// webhook is synced at once (the poll is an hour away); bad webhooks
// trigger nothing and are counted; kubectl edit is reverted; the metrics
// say all of it.
func TestAgentWebhookSelfHealMetrics(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	git := serve(t, map[string]string{"apps/web/cm.yaml": configMap("hello"), "apps/web/deploy.yaml": deployment})
	appFile := filepath.Join(t.TempDir(), "web.yaml")
	name := "web-" + ns
	if err := os.WriteFile(appFile, []byte(application(name, ns, git.url, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, "--app-file", appFile, "--app-namespace", "", "--reconcile-interval", "1h", "--inventory-namespace", ns, "--webhook-max-payload-mb", "1")
	k := kube(t)
	waitGreeting(t, k, ns, "hello", 60*time.Second)

	// A push and its webhook.
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("webhook")})
	if code := p.webhook(t, git.url, "main", webhookSecret, 0); code != 200 {
		t.Fatalf("webhook: status %d", code)
	}
	took := waitGreeting(t, k, ns, "webhook", 10*time.Second)
	t.Logf("webhook to synced: %s", took)

	// kubectl edit of a managed object is reverted.
	patch := []byte(`{"spec":{"replicas":3}}`)
	if _, err := k.AppsV1().Deployments(ns).Patch(context.Background(), "web", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	took = eventually(t, 5*time.Second, "the edit reverted", func() error {
		d, err := k.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if *d.Spec.Replicas != 1 {
			return fmt.Errorf("replicas %d", *d.Spec.Replicas)
		}
		return nil
	})
	t.Logf("edit to reverted: %s", took)

	// Refused webhooks trigger nothing: the next push stays unsynced, and
	// the app is not even compared.
	time.Sleep(2 * time.Second) // the sync's own events settle
	reconciles := func() float64 {
		return sum(scrape(t, p), "kubectl_gitops_reconcile_total", map[string]string{"name": name, "result": "success"})
	}
	before := reconciles()
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("refused")})
	for _, tc := range []struct {
		what           string
		branch, secret string
		pad, want      int
	}{
		{"bad signature", "main", "wrong-secret", 0, 401},
		{"no signature", "main", "", 0, 401},
		{"oversized body", "main", webhookSecret, 2 << 20, 413},
		{"unwatched branch", "other", webhookSecret, 0, 200},
	} {
		if code := p.webhook(t, git.url, tc.branch, tc.secret, tc.pad); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.what, code, tc.want)
		}
	}
	time.Sleep(3 * time.Second)
	if got := greeting(t, k, ns); got != "webhook" {
		t.Fatalf("after refused webhooks the greeting is %q: one of them synced", got)
	}
	if after := reconciles(); after != before {
		t.Errorf("refused webhooks made %v reconciles", after-before)
	}

	fams := scrape(t, p)
	app := map[string]string{"name": name}
	for _, tc := range []struct {
		series string
		labels map[string]string
		min    float64
	}{
		{"argocd_app_info", map[string]string{"name": name, "sync_status": "Synced", "autosync_enabled": "true", "dest_namespace": ns, "project": "default"}, 1},
		{"argocd_app_sync_total", map[string]string{"name": name, "phase": "Succeeded"}, 2},
		{"argocd_app_reconcile", nil, 3},
		{"argocd_app_k8s_request_total", map[string]string{"name": name, "verb": "List"}, 1},
		{"argocd_git_request_total", map[string]string{"request_type": "fetch"}, 2},
		{"kubectl_gitops_drift_corrections_total", app, 1},
		{"kubectl_gitops_webhook_requests_total", map[string]string{"provider": "github", "result": "accepted"}, 2},
		{"kubectl_gitops_webhook_requests_total", map[string]string{"provider": "github", "result": "bad_signature"}, 1},
		{"kubectl_gitops_webhook_requests_total", map[string]string{"provider": "github", "result": "unsigned"}, 1},
		{"kubectl_gitops_webhook_requests_total", map[string]string{"provider": "github", "result": "too_large"}, 1},
		{"kubectl_gitops_render_cache_total", map[string]string{"result": "hit"}, 1},
	} {
		if got := sum(fams, tc.series, tc.labels); got < tc.min {
			t.Errorf("%s%v = %v, want at least %v", tc.series, tc.labels, got, tc.min)
		}
	}
	if strings.Contains(p.Logs(), webhookSecret) {
		t.Errorf("the webhook secret is in the agent's logs")
	}
}

// Without a webhook a push is synced by the next poll; with selfHeal off an
// edit is reported OutOfSync and left alone.
func TestAgentPollsAndSelfHealOff(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	git := serve(t, map[string]string{"apps/web/cm.yaml": configMap("hello"), "apps/web/deploy.yaml": deployment})
	appFile := filepath.Join(t.TempDir(), "web.yaml")
	name := "poll-" + ns
	if err := os.WriteFile(appFile, []byte(application(name, ns, git.url, false)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, "--app-file", appFile, "--app-namespace", "", "--reconcile-interval", "3s", "--inventory-namespace", ns)
	k := kube(t)
	waitGreeting(t, k, ns, "hello", 60*time.Second)
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("polled")})
	took := waitGreeting(t, k, ns, "polled", 15*time.Second)
	t.Logf("push to synced by a poll of 3 s: %s", took)

	patch := []byte(`{"spec":{"replicas":2}}`)
	if _, err := k.AppsV1().Deployments(ns).Patch(context.Background(), "web", types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-edit"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "OutOfSync reported", func() error {
		if v := sum(scrape(t, p), "argocd_app_info", map[string]string{"name": name, "sync_status": "OutOfSync"}); v != 1 {
			return fmt.Errorf("argocd_app_info OutOfSync = %v", v)
		}
		return nil
	})
	time.Sleep(4 * time.Second) // a poll more
	d, err := k.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("selfHeal is off, yet replicas were set back to %d", *d.Spec.Replicas)
	}
	if v := sum(scrape(t, p), "kubectl_gitops_drift_corrections_total", map[string]string{"name": name}); v > 0 {
		t.Errorf("drift corrections %v with selfHeal off", v)
	}
}

// kubectlRun runs the real kubectl on the test cluster, stdin on its input.
func kubectlRun(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testcluster.ToolsDir(t), tools.Kubectl), append([]string{"--kubeconfig", lc.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	leaksweep.Capture(t, "output of `kubectl "+strings.Join(args, " ")+"`", string(out))
	return string(out), err
}

func mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectlRun(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// deployRBAC applies what deploy/ installs except the workload: its
// namespaces, CRDs, ServiceAccount and RBAC.
func deployRBAC(t *testing.T) {
	t.Helper()
	rendered := mustKubectl(t, "", "kustomize", "../../deploy")
	var keep []string
	for _, doc := range strings.Split(rendered, "\n---\n") {
		for _, kind := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
			if strings.Contains("\n"+doc, "\nkind: "+kind+"\n") {
				keep = append(keep, doc)
				break
			}
		}
	}
	mustKubectl(t, strings.Join(keep, "\n---\n"), "apply", "--server-side", "-f", "-")
	mustKubectl(t, "", "wait", "--for", "condition=Established", "crd/applications.argoproj.io")
}

const agentSA = "system:serviceaccount:gitops-system:kubectl-gitops-agent"

// The agent, with exactly the RBAC of deploy/ (impersonating its
// ServiceAccount), runs an Application applied with kubectl: it syncs it,
// and kubectl get applications shows it Synced and Healthy, as status
// does; the refresh annotation is honoured and removed. With less RBAC it
// refuses to start, naming what is missing.
func TestAgentApplicationObjectsWithDeployRBAC(t *testing.T) {
	deployRBAC(t)
	ns := testcluster.Namespace(t, lc)
	git := serve(t, map[string]string{"apps/web/cm.yaml": configMap("hello"), "apps/web/deploy.yaml": deployment})
	name := "obj-" + ns
	t.Cleanup(func() { _, _ = kubectlRun(t, "", "-n", "argocd", "delete", "application", name, "--ignore-not-found") })
	mustKubectl(t, application(name, ns, git.url, true), "apply", "-f", "-")

	p := startAgent(t, "--as", agentSA, "--leader-elect", "--leader-election-namespace", "gitops-system", "--reconcile-interval", "1h", "--lease-duration", "3s")
	k := kube(t)
	waitGreeting(t, k, ns, "hello", 60*time.Second)
	eventually(t, 30*time.Second, "kubectl get applications shows Synced Healthy", func() error {
		out, err := kubectlRun(t, "", "-n", "argocd", "get", "applications", name)
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(out, "Synced") || !strings.Contains(out, "Healthy") || !strings.Contains(out, "SYNC STATUS") {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
	status := mustKubectl(t, "", "-n", "argocd", "get", "application", name, "-o", "jsonpath={.status.operationState.phase} {.status.sync.revision} {.status.history[0].revision} {.status.resources[*].kind} {.status.reconciledAt}")
	fields := strings.Fields(status)
	if len(fields) < 5 || fields[0] != "Succeeded" || fields[1] != fields[2] || len(fields[1]) != 40 || !strings.Contains(status, "Deployment") {
		t.Errorf("Application status: %q; want a Succeeded operation, the synced commit in sync and history, the resources", status)
	}
	events := mustKubectl(t, "", "-n", "argocd", "get", "events", "--field-selector", "involvedObject.name="+name, "-o", "jsonpath={.items[*].reason}")
	for _, want := range []string{"OperationStarted", "OperationCompleted"} {
		if !strings.Contains(events, want) {
			t.Errorf("events of the Application: %q; want %s", events, want)
		}
	}
	// status agrees.
	out, errOut, err := runGitops(t, "status", name, "--inventory-namespace", "kubectl-gitops", "-o", "json")
	if err != nil || !strings.Contains(out, `"sync": "Synced"`) || !strings.Contains(out, `"health": "Healthy"`) {
		t.Errorf("kubectl gitops status %s: %v\n%s%s", name, err, out, errOut)
	}

	// A refresh: a push, then Argo CD's refresh annotation instead of a
	// webhook; the agent syncs and removes the annotation.
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("refreshed")})
	mustKubectl(t, "", "-n", "argocd", "annotate", "application", name, "argocd.argoproj.io/refresh=normal")
	waitGreeting(t, k, ns, "refreshed", 20*time.Second)
	eventually(t, 10*time.Second, "the refresh annotation removed", func() error {
		out := mustKubectl(t, "", "-n", "argocd", "get", "application", name, "-o", `jsonpath={.metadata.annotations.argocd\.argoproj\.io/refresh}`)
		if out != "" {
			return fmt.Errorf("annotation %q", out)
		}
		return nil
	})
	p.stop()

	// Less RBAC: without the leader election Role and the cluster-wide
	// one, the agent refuses to start and names what it lacks.
	mustKubectl(t, "", "-n", "gitops-system", "delete", "rolebinding", "kubectl-gitops-agent")
	mustKubectl(t, "", "delete", "clusterrolebinding", "kubectl-gitops-agent")
	t.Cleanup(func() { deployRBAC(t) })
	_, errOut, err = runGitopsFor(t, 60*time.Second, "agent", "--as", agentSA, "--leader-elect", "--leader-election-namespace", "gitops-system", "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(errOut, "the agent lacks permissions") || !strings.Contains(errOut, "create leases.coordination.k8s.io in namespace gitops-system (leader election)") {
		t.Errorf("agent with less RBAC: %v\n%s", err, errOut)
	}
}

// runGitops runs the binary once on the test cluster.
func runGitops(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return runGitopsFor(t, 5*time.Minute, args...)
}

// runGitopsFor runs the binary, killed after timeout.
func runGitopsFor(t *testing.T, timeout time.Duration, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", lc.Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "GIT_TOKEN=")
	err := cmd.Run()
	name := "kubectl-gitops " + strings.Join(args, " ")
	leaksweep.Capture(t, "stdout of `"+name+"`", out.String())
	leaksweep.Capture(t, "stderr of `"+name+"`", errOut.String())
	return out.String(), errOut.String(), err
}

// Two replicas with leader election: one reconciles; when it is killed,
// the standby takes over within the lease and keeps reconciling; no
// commit is synced twice.
func TestAgentLeaderFailover(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	git := serve(t, map[string]string{"apps/web/cm.yaml": configMap("hello"), "apps/web/deploy.yaml": deployment})
	appFile := filepath.Join(t.TempDir(), "web.yaml")
	name := "ha-" + ns
	if err := os.WriteFile(appFile, []byte(application(name, ns, git.url, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--app-file", appFile, "--app-namespace", "", "--reconcile-interval", "2s", "--inventory-namespace", ns,
		"--leader-elect", "--leader-election-namespace", ns, "--lease-duration", "3s"}
	first := startAgent(t, args...)
	k := kube(t)
	waitGreeting(t, k, ns, "hello", 60*time.Second)
	second := startAgent(t, args...)
	leader, standby := first, second
	if !strings.Contains(first.Logs(), `"msg":"leading"`) {
		leader, standby = second, first
	}
	time.Sleep(2 * time.Second)
	if strings.Contains(standby.Logs(), `"msg":"leading"`) {
		t.Fatalf("both replicas lead:\n%s\n%s", leader.Logs(), standby.Logs())
	}
	leader.kill()
	git.push(t, map[string]string{"apps/web/cm.yaml": configMap("after-failover")})
	took := waitGreeting(t, k, ns, "after-failover", 30*time.Second)
	t.Logf("leader killed to synced by the standby: %s", took)
	if !strings.Contains(standby.Logs(), `"msg":"leading"`) {
		t.Errorf("the standby did not take the lease")
	}
	syncedOnce(t, ns, name, 2)
}

// waitSyncedHealthy waits until kubectl get applications shows the
// Application argocd/name Synced and Healthy.
func waitSyncedHealthy(t *testing.T, name string) {
	t.Helper()
	eventually(t, 60*time.Second, "Application "+name+" Synced and Healthy", func() error {
		out, err := kubectlRun(t, "", "-n", "argocd", "get", "application", name, "--no-headers")
		if err != nil {
			return err
		}
		if f := strings.Fields(out); len(f) < 3 || f[1] != "Synced" || f[2] != "Healthy" {
			return fmt.Errorf("%s", out)
		}
		return nil
	})
}

// syncedOnce checks that app's history (its inventory in namespace ns)
// has commits commits, each synced once: a second sync of a commit would
// be a record, or a repeat folded into one; both are counted.
func syncedOnce(t *testing.T, ns, app string, commits int) {
	t.Helper()
	hist := mustKubectl(t, "", "-n", ns, "get", "configmap", "gitops-"+app, "-o", "jsonpath={.data.history}")
	var records []struct {
		Commit  string
		Repeats int
	}
	if err := json.Unmarshal([]byte(hist), &records); err != nil {
		t.Fatalf("history of %s: %v\n%s", app, err, hist)
	}
	seen := map[string]int{}
	for _, r := range records {
		seen[r.Commit] += 1 + r.Repeats
	}
	for commit, n := range seen {
		if n > 1 {
			t.Errorf("%s: commit %s synced %d times", app, commit, n)
		}
	}
	if len(seen) != commits {
		t.Errorf("history of %s %s: want %d commits synced once each", app, hist, commits)
	}
}

// An ApplicationSet object applied with kubectl, run as Argo CD's
// ApplicationSet controller runs one: its Applications are objects owned by
// it (synced, with their status); one that leaves the set is deleted and,
// through the resources finalizer the set gives it, its resources pruned;
// deleting the set deletes the rest.
func TestAgentApplicationSetObject(t *testing.T) {
	deployRBAC(t)
	ns := testcluster.Namespace(t, lc)
	git := serve(t, map[string]string{
		"apps/web/cm.yaml": configMap("web"), "apps/api/cm.yaml": strings.Replace(configMap("api"), "web-config", "api-config", 1),
	})
	set := func(elements string) string {
		return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: set-%[1]s, namespace: argocd}
spec:
  goTemplate: true
  generators:
  - list: {elements: [%[3]s]}
  template:
    metadata: {name: '{{.svc}}-%[1]s', labels: {team: '{{.svc}}'}}
    spec:
      project: default
      source: {repoURL: %[2]s, targetRevision: HEAD, path: 'apps/{{.svc}}'}
      destination: {server: https://kubernetes.default.svc, namespace: %[1]s}
      syncPolicy: {automated: {prune: true}}
`, ns, git.url, elements)
	}
	t.Cleanup(func() {
		for _, svc := range []string{"web", "api"} {
			_, _ = kubectlRun(t, "", "-n", "argocd", "patch", "application", svc+"-"+ns, "--type", "merge", "-p", `{"metadata":{"finalizers":null}}`)
		}
		_, _ = kubectlRun(t, "", "-n", "argocd", "delete", "applicationset", "set-"+ns, "--ignore-not-found")
	})
	mustKubectl(t, set("{svc: web}, {svc: api}"), "apply", "-f", "-")
	p := startAgent(t, "--reconcile-interval", "1h", "--inventory-namespace", ns)
	k := kube(t)
	for _, svc := range []string{"web", "api"} {
		name := svc + "-" + ns
		waitSyncedHealthy(t, name)
		owner := mustKubectl(t, "", "-n", "argocd", "get", "application", name, "-o",
			`jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name} {.metadata.labels.team} {.metadata.finalizers}`)
		if want := "ApplicationSet/set-" + ns + " " + svc + ` ["resources-finalizer.argocd.argoproj.io"]`; owner != want {
			t.Errorf("Application %s: owner, label, finalizers %q, want %q", name, owner, want)
		}
		if _, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), svc+"-config", metav1.GetOptions{}); err != nil {
			t.Errorf("ConfigMap %s-config: %v", svc, err)
		}
	}
	eventually(t, 30*time.Second, "the set's ResourcesUpToDate condition", func() error {
		got, err := kubectlRun(t, "", "-n", "argocd", "get", "applicationset", "set-"+ns, "-o", `jsonpath={.status.conditions[?(@.type=="ResourcesUpToDate")].status}`)
		if err != nil || got != "True" {
			return fmt.Errorf("%q %v", got, err)
		}
		return nil
	})

	// Written once each: a reload that finds them up to date writes nothing
	// (the status writes and syncs since made many reloads).
	if n, m := strings.Count(p.Logs(), "ApplicationSet: Application created"), strings.Count(p.Logs(), "ApplicationSet: Application updated"); n != 2 || m != 0 {
		t.Errorf("%d Applications created, %d updated; want 2 and 0", n, m)
	}

	// api leaves the set: its Application is deleted, its resources pruned.
	mustKubectl(t, set("{svc: web}"), "apply", "-f", "-")
	eventually(t, 60*time.Second, "the api Application and its ConfigMap gone", func() error {
		if out, err := kubectlRun(t, "", "-n", "argocd", "get", "application", "api-"+ns); err == nil {
			return fmt.Errorf("Application still there: %s", out)
		}
		if _, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "api-config", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("api-config still there")
		}
		return nil
	})
	if _, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "web-config", metav1.GetOptions{}); err != nil {
		t.Errorf("web-config after api left the set: %v", err)
	}

	// The set deleted: the garbage collector deletes its Application, whose
	// finalizer prunes what it deployed.
	mustKubectl(t, "", "-n", "argocd", "delete", "applicationset", "set-"+ns, "--wait=false")
	eventually(t, 60*time.Second, "the web Application and its ConfigMap gone", func() error {
		if out, err := kubectlRun(t, "", "-n", "argocd", "get", "application", "web-"+ns); err == nil {
			return fmt.Errorf("Application still there: %s", out)
		}
		if _, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "web-config", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("web-config still there")
		}
		return nil
	})
}

// SIGTERM during a sync: no new work, the running sync may go on for
// --shutdown-timeout, then it is stopped safely (recorded, nothing of the
// later waves applied), the app's lock is released and the agent exits.
func TestAgentGracefulShutdown(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	stuck := strings.Replace(deployment, "spec: {containers:", "spec: {nodeSelector: {no-such-node: \"true\"}, containers:", 1)
	later := strings.Replace(configMap("later"), "metadata: {name: web-config}", "metadata: {name: web-config, annotations: {argocd.argoproj.io/sync-wave: \"1\"}}", 1)
	git := serve(t, map[string]string{"apps/web/deploy.yaml": stuck, "apps/web/cm.yaml": later})
	appFile := filepath.Join(t.TempDir(), "web.yaml")
	name := "stop-" + ns
	if err := os.WriteFile(appFile, []byte(application(name, ns, git.url, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startAgent(t, "--app-file", appFile, "--app-namespace", "", "--reconcile-interval", "1h", "--inventory-namespace", ns, "--shutdown-timeout", "2s")
	k := kube(t)
	eventually(t, 60*time.Second, "wave 0 applied", func() error {
		_, err := k.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
		return err
	})
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the agent did not exit 30 s after SIGTERM with --shutdown-timeout 2s")
	}
	t.Logf("SIGTERM to exit: %s", time.Since(start))
	if time.Since(start) < 2*time.Second {
		t.Errorf("the agent exited %s after SIGTERM: the running sync was not given --shutdown-timeout", time.Since(start))
	}
	leases, err := k.CoordinationV1().Leases(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Items {
		if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
			t.Errorf("Lease %s still held by %s after the agent exited", l.Name, *l.Spec.HolderIdentity)
		}
	}
	hist := mustKubectl(t, "", "-n", ns, "get", "configmap", "gitops-"+name, "-o", "jsonpath={.data.history}")
	if !strings.Contains(hist, `"phase":"Failed"`) || !strings.Contains(hist, `"interrupted":true`) {
		t.Errorf("the stopped sync is not recorded as failed and interrupted: %s", hist)
	}
	// An interrupted sync does not block its commit: the next agent
	// attempts it again (a commit whose sync failed would be skipped).
	again := startAgent(t, "--app-file", appFile, "--app-namespace", "", "--reconcile-interval", "1h", "--inventory-namespace", ns, "--shutdown-timeout", "1s")
	eventually(t, 30*time.Second, "the interrupted commit attempted again", func() error {
		if !strings.Contains(again.Logs(), "Initiated automated sync") {
			return fmt.Errorf("no sync started")
		}
		return nil
	})
}

// Drift that only removes (a label taken off with kubectl label KEY-) is
// corrected too; deleting an Application with the resources finalizer
// prunes its resources and lets the delete complete.
func TestAgentRemovalDriftAndDelete(t *testing.T) {
	deployRBAC(t)
	ns := testcluster.Namespace(t, lc)
	labelled := strings.Replace(configMap("hello"), "metadata: {name: web-config}", "metadata: {name: web-config, labels: {tier: front}}", 1)
	git := serve(t, map[string]string{"apps/web/cm.yaml": labelled, "apps/web/deploy.yaml": deployment})
	name := "del-" + ns
	app := strings.Replace(application(name, ns, git.url, true), "metadata: {name: "+name+", namespace: argocd}",
		"metadata: {name: "+name+", namespace: argocd, finalizers: [resources-finalizer.argocd.argoproj.io]}", 1)
	t.Cleanup(func() {
		_, _ = kubectlRun(t, "", "-n", "argocd", "patch", "application", name, "--type", "merge", "-p", `{"metadata":{"finalizers":null}}`)
		_, _ = kubectlRun(t, "", "-n", "argocd", "delete", "application", name, "--ignore-not-found", "--wait=false")
	})
	mustKubectl(t, app, "apply", "-f", "-")
	startAgent(t, "--reconcile-interval", "1h", "--inventory-namespace", ns)
	k := kube(t)
	waitGreeting(t, k, ns, "hello", 60*time.Second)

	mustKubectl(t, "", "-n", ns, "label", "configmap", "web-config", "tier-")
	eventually(t, 10*time.Second, "the removed label restored", func() error {
		cm, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "web-config", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Labels["tier"] != "front" {
			return fmt.Errorf("labels %v", cm.Labels)
		}
		return nil
	})

	mustKubectl(t, "", "-n", "argocd", "delete", "application", name, "--wait=false")
	eventually(t, 30*time.Second, "the Application's resources pruned and the Application gone", func() error {
		if _, err := k.CoreV1().ConfigMaps(ns).Get(context.Background(), "web-config", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("ConfigMap still there")
		}
		if _, err := k.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("Deployment still there")
		}
		if out, err := kubectlRun(t, "", "-n", "argocd", "get", "application", name); err == nil {
			return fmt.Errorf("Application still there: %s", out)
		}
		return nil
	})
}
