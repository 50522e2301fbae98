package agent_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/localcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
)

// ageKey makes an age identity with the plugin (secret keygen) and returns
// the key file and its recipient.
func ageKey(t *testing.T) (file, recipient string) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "keys.agekey")
	out, errOut, err := runGitops(t, "secret", "keygen", "-o", file)
	if err != nil {
		t.Fatalf("secret keygen: %v\n%s%s", err, out, errOut)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			leaksweep.Secret(t, line)
		}
	}
	for _, f := range strings.Fields(out + " " + errOut) {
		if strings.HasPrefix(f, "age1") {
			return file, f
		}
	}
	t.Fatalf("secret keygen printed no recipient:\n%s%s", out, errOut)
	return "", ""
}

// encryptedSecret is a Secret named name holding value, SOPS-encrypted
// for recipient by the plugin (secret encrypt).
func encryptedSecret(t *testing.T, name, value, recipient string) string {
	t.Helper()
	leaksweep.Secret(t, value)
	plain := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(plain, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: "+name+"}\nstringData: {password: "+value+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := runGitops(t, "secret", "encrypt", plain, "--age-recipient", recipient)
	if err != nil {
		t.Fatalf("secret encrypt: %v\n%s", err, errOut)
	}
	return out
}

// tenantApp is an automated Application named name in namespace ns of
// project, deploying path of repoURL into dest.
func tenantApp(name, ns, project, repoURL, path, dest string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: %s, namespace: %s}
spec:
  project: %s
  source: {repoURL: %s, targetRevision: HEAD, path: %s}
  destination: {server: https://kubernetes.default.svc, namespace: %s}
  syncPolicy:
    automated: {prune: true}
`, name, ns, project, repoURL, path, dest)
}

// tenantProject is an AppProject in ns for the team of namespace team:
// its Applications, destinations and repositories.
func tenantProject(name, ns, team string, repos ...string) string {
	return fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: %s, namespace: %s}
spec:
  sourceNamespaces: [%s]
  sourceRepos: [%s]
  destinations: [{server: https://kubernetes.default.svc, namespace: %s}]
  namespaceResourceWhitelist: [{group: "*", kind: "*"}]
`, name, ns, team, strings.Join(repos, ", "), team)
}

// repoSecret is an Argo CD repository Secret for url.
func repoSecret(name, url, user, password string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: %s
  labels: {argocd.argoproj.io/secret-type: repository}
stringData: {type: git, url: "%s", username: %s, password: %s}
`, name, url, user, password)
}

// appProblems is what an Application's status says went wrong: its
// conditions and its operation's message.
func appProblems(t *testing.T, ns, name string) string {
	out, _ := kubectlRun(t, "", "-n", ns, "get", "application", name, "-o", "jsonpath={.status.conditions[*].message} {.status.operationState.message}")
	return out
}

// Teams' Applications in their own namespaces (--application-namespaces),
// run by one agent: each may use only a project that lists its namespace,
// deploy only into the project's destinations from its sourceRepos, create
// no cluster-scoped kind the project does not whitelist, and use only the
// repository credentials and age key of its own namespace, never the
// agent's nor another team's; exec functions stay off. Every refusal
// writes nothing.
func TestAgentTenants(t *testing.T) {
	deployRBAC(t)
	control := testcluster.Namespace(t, lc) // the control plane's: AppProjects, inventories
	teamA, teamB := testcluster.Namespace(t, lc), testcluster.Namespace(t, lc)
	outsider := testcluster.Namespace(t, lc) // not in --application-namespaces
	k := kube(t)
	ctx := context.Background()

	passA, passB := "team-a-git-password-7f3c91", "team-b-git-password-2d8e40"
	leaksweep.Secret(t, passA)
	leaksweep.Secret(t, passB)
	keyA, recipientA := ageKey(t)
	keyB, recipientB := ageKey(t)
	secretA := encryptedSecret(t, "db", "team-a-database-secret-31f9", recipientA)
	secretB := encryptedSecret(t, "db", "team-b-database-secret-88c2", recipientB)
	fnSecretA := encryptedSecret(t, "fn-db", "team-a-function-secret-5e17", recipientA)

	const execKustomization = `resources: [cm.yaml]
transformers:
- |-
  apiVersion: example.com/v1
  kind: Stamp
  metadata:
    name: stamp
    annotations:
      config.kubernetes.io/function: |
        exec:
          path: /bin/true
`
	gitA := serveWithAuth(t, map[string]string{
		"web/cm.yaml":        configMap("team-a"),
		"secret/db.enc.yaml": secretA,
		"stolen/db.enc.yaml": secretB, // team B's ciphertext, copied
		"cluster/role.yaml":  "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: " + teamA + "-escalate}\nrules: [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]\n",
		"exec/cm.yaml":       configMap("exec"),
		// Team B's ciphertext again, read by the decrypt function itself
		// (not through the render's files), with the agent's keys in its
		// environment.
		"fnsteal/kustomization.yaml": "generators: [decrypt.yaml]\n",
		"fnsteal/decrypt.yaml":       "apiVersion: fn.kubectl-gitops.dev/v1alpha1\nkind: Decrypt\nmetadata:\n  name: secrets\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: kubectl-gitops\n        args: [fn, decrypt]\nfiles: [stolen.enc.yaml]\n",
		"fnsteal/stolen.enc.yaml":    secretB,
		// The same function on team A's own ciphertext: it works.
		"fnown/kustomization.yaml": "generators: [decrypt.yaml]\n",
		"fnown/decrypt.yaml":       "apiVersion: fn.kubectl-gitops.dev/v1alpha1\nkind: Decrypt\nmetadata:\n  name: secrets\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: kubectl-gitops\n        args: [fn, decrypt]\nfiles: [own.enc.yaml]\n",
		"fnown/own.enc.yaml":       fnSecretA,
		"exec/kustomization.yaml":  execKustomization,
	}, "team-a", passA)
	gitB := serveWithAuth(t, map[string]string{"web/cm.yaml": configMap("team-b"), "secret/db.enc.yaml": secretB}, "team-b", passB)

	projA, projB, projWide := "team-a-"+control, "team-b-"+control, "team-a-wide-"+control
	mustKubectl(t, tenantProject(projA, control, teamA, gitA.url)+"---\n"+
		tenantProject(projB, control, teamB, gitB.url)+"---\n"+
		// A project that lets team A name any repository: credentials
		// must still stop it reading team B's.
		tenantProject(projWide, control, teamA, `"*"`), "apply", "-f", "-")
	mustKubectl(t, repoSecret("repo", gitA.url, "team-a", passA), "-n", teamA, "apply", "-f", "-")
	mustKubectl(t, repoSecret("repo", gitB.url, "team-b", passB), "-n", teamB, "apply", "-f", "-")
	mustKubectl(t, "", "-n", teamA, "create", "secret", "generic", "gitops-age-key", "--from-file=keys.agekey="+keyA)
	mustKubectl(t, "", "-n", teamB, "create", "secret", "generic", "gitops-age-key", "--from-file=keys.agekey="+keyB)

	apps := []struct{ name, ns, project, repo, path, dest string }{
		{"web", teamA, projA, gitA.url, "web", teamA},
		{"db", teamA, projA, gitA.url, "secret", teamA},
		{"web", teamB, projB, gitB.url, "web", teamB},
		{"db", teamB, projB, gitB.url, "secret", teamB},
		{"other-project", teamA, projB, gitB.url, "web", teamB},
		{"default-project", teamA, "default", gitA.url, "web", teamA},
		{"other-dest", teamA, projA, gitA.url, "web", teamB},
		{"other-repo", teamA, projA, gitB.url, "web", teamA},
		{"cluster-kind", teamA, projA, gitA.url, "cluster", teamA},
		{"stolen-key", teamA, projA, gitA.url, "stolen", teamA},
		{"stolen-creds", teamA, projWide, gitB.url, "web", teamA},
		{"exec", teamA, projA, gitA.url, "exec", teamA},
		{"stolen-by-function", teamA, projA, gitA.url, "fnsteal", teamA},
		{"own-by-function", teamA, projA, gitA.url, "fnown", teamA},
		{"ignored", outsider, projA, gitA.url, "web", outsider},
	}
	var manifests []string
	for _, a := range apps {
		manifests = append(manifests, tenantApp(a.name, a.ns, a.project, a.repo, a.path, a.dest))
	}
	t.Cleanup(func() {
		for _, a := range apps {
			_, _ = kubectlRun(t, "", "-n", a.ns, "delete", "application", a.name, "--ignore-not-found", "--wait=false")
		}
	})
	mustKubectl(t, strings.Join(manifests, "---\n"), "apply", "-f", "-")

	// The agent holds team B's key and password itself (an operator's
	// keys and credentials for its own apps): neither may reach team A.
	// Exec functions are on for the operator's apps, never for a team's.
	// The agent's environment names team B's key too, where the decrypt
	// function would find it by default.
	t.Setenv("SOPS_AGE_KEY_FILE", keyB)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(passB), 0o600); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(strings.Split(gitB.url, "/config.git")[0], "http://")
	p := startAgent(t, "--app-namespace", control, "--projects-namespace", control, "--inventory-namespace", control,
		"--application-namespaces", teamA+","+teamB, "--reconcile-interval", "1h",
		"--age-key-file", keyB, "--git-token-file", tokenFile, "--git-credential-hosts", host, "--git-username", "team-b", "--enable-exec")
	testcluster.CaptureEvents(t, lc, teamA)
	testcluster.CaptureEvents(t, lc, teamB)

	// Allowed: each team's apps sync with their own credentials and keys.
	waitGreeting(t, k, teamA, "team-a", 90*time.Second)
	waitGreeting(t, k, teamB, "team-b", 60*time.Second)
	for _, s := range [][2]string{{teamA, "db"}, {teamB, "db"}, {teamA, "fn-db"}} {
		eventually(t, 60*time.Second, "Secret "+s[1]+" of "+s[0]+" decrypted and applied", func() error {
			_, err := k.CoreV1().Secrets(s[0]).Get(ctx, s[1], metav1.GetOptions{})
			return err
		})
	}
	// Two teams, one app name: two apps, two inventories.
	for _, inv := range []string{"gitops-" + tenantAppName(teamA, "web"), "gitops-" + tenantAppName(teamB, "web")} {
		if _, err := k.CoreV1().ConfigMaps(control).Get(ctx, inv, metav1.GetOptions{}); err != nil {
			t.Errorf("inventory %s: %v", inv, err)
		}
	}

	// Refused, each naming why, and writing nothing.
	refusals := map[string]string{
		"other-project":   "is not allowed to use project " + projB,
		"default-project": "may not use project default",
		"other-dest":      teamB,
		"other-repo":      "is not permitted by AppProject " + projA,
		"cluster-kind":    "ClusterRole",
		"stolen-key":      "Secret " + teamA + "/gitops-age-key",
		"stolen-creds":    "give the credentials in an Argo CD repository Secret of namespace " + teamA,
		"exec":            "exec and container functions never run for the Applications of other namespaces",
		// kustomize keeps the function's own message; own-by-function
		// shows the same function opens team A's file.
		"stolen-by-function": "kustomize build fnsteal: couldn't execute function",
	}
	for name, want := range refusals {
		eventually(t, 60*time.Second, "Application "+teamA+"/"+name+" refused", func() error {
			if got := appProblems(t, teamA, name); !strings.Contains(got, want) {
				return fmt.Errorf("status says %q; want %q in it", got, want)
			}
			return nil
		})
		if _, err := k.CoreV1().ConfigMaps(control).Get(ctx, "gitops-"+tenantAppName(teamA, name), metav1.GetOptions{}); err == nil {
			// An inventory may be made only by a sync that wrote
			// something; a refused one records its failure at most.
			out, _ := kubectlRun(t, "", "-n", control, "get", "configmap", "gitops-"+tenantAppName(teamA, name), "-o", "jsonpath={.metadata.annotations}")
			if strings.Contains(out, "applyset.kubernetes.io/contains-group-kinds\":\"ConfigMap") {
				t.Errorf("refused app %s has members: %s", name, out)
			}
		}
	}
	// Nothing of team A's reached team B's namespace, the cluster scope,
	// or the outsider's namespace.
	if cms, err := k.CoreV1().ConfigMaps(teamB).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	} else {
		for _, cm := range cms.Items {
			if cm.Name == "web-config" && cm.Data["greeting"] != "team-b" {
				t.Errorf("team B's ConfigMap says %q: written by team A", cm.Data["greeting"])
			}
		}
	}
	if _, err := k.RbacV1().ClusterRoles().Get(ctx, teamA+"-escalate", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterRole %s-escalate: %v; want it never created", teamA, err)
	}
	if got := greeting(t, k, teamA); got != "team-a" {
		t.Errorf("team A's ConfigMap says %q", got)
	}
	// The outsider's Application is not the agent's: no status, nothing
	// deployed.
	if out, _ := kubectlRun(t, "", "-n", outsider, "get", "application", "ignored", "-o", "jsonpath={.status}"); strings.TrimSpace(out) != "" {
		t.Errorf("Application %s/ignored has a status %q; the agent must not touch namespaces outside --application-namespaces", outsider, out)
	}
	if _, err := k.CoreV1().ConfigMaps(outsider).Get(ctx, "web-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the outsider's app deployed: %v", err)
	}
	// The render's warning about the ciphertext no key of team A opens
	// names team A's key Secret, never the agent's own flags.
	var warned bool
	for _, line := range strings.Split(p.Logs(), "\n") {
		if !strings.Contains(line, "no age identity") {
			continue
		}
		warned = warned || strings.Contains(line, "Secret "+teamA+"/gitops-age-key")
		if strings.Contains(line, "--age-key-file") || strings.Contains(line, "SOPS_AGE_KEY") {
			t.Errorf("a tenant's render warning names the agent's flags: %s", line)
		}
	}
	if !warned {
		t.Errorf("no render warning names Secret %s/gitops-age-key:\n%s", teamA, p.Logs())
	}
	// Nothing secret was printed: team B's password and keys are in the
	// agent's logs' sweep (registered above).
}

// tenantAppName is the agent's name of a tenant's app (plugins/agent's
// tenantAppName, which the test cannot import): NAMESPACE-NAME cut to 40
// characters, and 16 hex digits of the SHA-256 of NAMESPACE/NAME.
func tenantAppName(ns, name string) string {
	sum := sha256.Sum256([]byte(ns + "/" + name))
	base := strings.ReplaceAll(ns+"-"+name, ".", "-")
	if len(base) > 40 {
		base = base[:40]
	}
	return strings.TrimRight(base, "-") + "-" + hex.EncodeToString(sum[:8])
}

// A team's app of apps whose destination is a cluster without Argo CD's
// CRDs: its children could be synced only as the agent's own apps (with the
// agent's credentials, keys and any project), so it is refused at every
// comparison, naming the CRDs to install, and nothing reaches that cluster.
// (A root that renders only Applications would otherwise compare Synced
// and never be synced: the refusal must not wait for a sync.)
func TestAgentTenantAppOfAppsNeedsCRDs(t *testing.T) {
	deployRBAC(t)
	control, team := testcluster.Namespace(t, lc), testcluster.Namespace(t, lc)
	testcluster.CaptureEvents(t, lc, team)
	second := testcluster.Second(t)
	remote := kubernetesFor(t, second)
	ctx := context.Background()
	for _, ns := range []string{control, team} {
		if _, err := remote.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	server := second.Config.Host // with a trailing "/", in the project too: it does not count
	child := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: child, namespace: %s}
spec:
  project: team
  source: {repoURL: REPO, targetRevision: HEAD, path: child}
  destination: {server: %s, namespace: %s}
  syncPolicy:
    automated: {prune: true}
`, team, server, team)
	git := serve(t, map[string]string{"child/cm.yaml": configMap("child")})
	git.push(t, map[string]string{"root/child.yaml": strings.Replace(child, "REPO", git.url, 1)})

	clusters, credentials := clustersDir(t, second)
	mustKubectl(t, fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata: {name: team, namespace: %s}
spec:
  sourceNamespaces: [%s]
  sourceRepos: [%s]
  destinations: [{server: %s, namespace: %s}]
  namespaceResourceWhitelist: [{group: "*", kind: "*"}]
`, control, team, git.url, server, team), "apply", "-f", "-")
	root := strings.NewReplacer("name: child", "name: root", "path: child", "path: root", "REPO", git.url).Replace(child)
	t.Cleanup(func() {
		_, _ = kubectlRun(t, "", "-n", team, "delete", "application", "root", "--ignore-not-found", "--wait=false")
	})
	mustKubectl(t, root, "apply", "-f", "-")

	p := startAgent(t, "--app-namespace", control, "--projects-namespace", control, "--inventory-namespace", control,
		"--application-namespaces", team, "--reconcile-interval", "1h", "--clusters-from", clusters)
	want := "renders 1 child Application(s) for a cluster that serves no argoproj.io Applications"
	eventually(t, 90*time.Second, "Application "+team+"/root refused", func() error {
		if got := appProblems(t, team, "root"); !strings.Contains(got, want) || !strings.Contains(got, "install Argo CD's CRDs") {
			return fmt.Errorf("status says %q; want %q and the CRDs to install", got, want)
		}
		return nil
	})
	if out, _ := kubectlRun(t, "", "-n", team, "get", "application", "root", "-o", "jsonpath={.status.sync.status}"); out == "Synced" {
		t.Errorf("the refused app of apps is shown Synced")
	}
	// Nothing reached the remote cluster: not the child's ConfigMap, not
	// an inventory of either app.
	for _, ns := range []string{team, control} {
		cms, err := remote.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range cms.Items {
			if cm.Name != "kube-root-ca.crt" {
				t.Errorf("ConfigMap %s/%s was written to the cluster without the CRDs", ns, cm.Name)
			}
		}
	}
	for _, c := range credentials {
		if strings.Contains(p.Logs(), string(c)) {
			t.Errorf("a credential of the cluster Secret is in the agent's log")
		}
	}
}

// clustersDir is a directory for --clusters-from holding one Argo CD
// cluster Secret, "remote", for c; and the credentials it holds.
func clustersDir(t *testing.T, c *localcluster.Cluster) (string, [][]byte) {
	t.Helper()
	secret, credentials := testcluster.ClusterSecret(t, c.Config, "remote", nil)
	dir := filepath.Join(t.TempDir(), "clusters")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "remote.yaml"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, credentials
}

func kubernetesFor(t *testing.T, c *localcluster.Cluster) kubernetes.Interface {
	t.Helper()
	k, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
