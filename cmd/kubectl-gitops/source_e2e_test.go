package main_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// serveOverHTTP serves a bare copy of r as config.git with basic auth
// user:password, by a real Git server; it returns the server's host:port.
func serveOverHTTP(t *testing.T, r *testrepo.Repo, user, password string) string {
	t.Helper()
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	if out, err := exec.Command("git", "clone", "--bare", "-q", r.Dir, filepath.Join(srv.Root(), "config.git")).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	srv.Auth(user, password)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	return strings.TrimPrefix(srv.HTTPAddress(), "http://")
}

// Credentials in --repo authenticate and appear nowhere: not in render's
// or sync's output (plain and -o json), not in their errors, not in the
// inventory ConfigMap and its history.
func TestCredentialsInRepoURLAreNeverShown(t *testing.T) {
	const secret = "SECRET-basic-auth-pa55"
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // a mirror of its own
	ns := testcluster.Namespace(t, lc)
	host := serveOverHTTP(t, shopRepo(t), "user", secret)
	repo := "http://user:" + secret + "@" + host + "/config.git"
	tokenAsUser := "http://" + secret + "@" + host + "/config.git" // refused: the server wants user:secret

	var printed []string
	run := func(wantCode int, args ...string) string {
		t.Helper()
		out, errOut, code := gitops(t, args...)
		printed = append(printed, out, errOut)
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d\n%s%s", strings.ReplaceAll(strings.Join(args, " "), secret, "***"), code, wantCode, out, errOut)
		}
		return errOut
	}
	run(0, "render", "--repo", repo, "--path", "apps/shop")
	run(0, "render", "--repo", repo, "--path", "apps/shop", "-o", "json")
	base := []string{"sync", "shop", "--repo", repo, "--dest-namespace", ns, "--inventory-namespace", ns}
	run(0, append(base, "--path", "apps/shop")...)
	out, errOut, code := gitops(t, append(base, "--path", "apps/shop", "-o", "json")...)
	printed = append(printed, out, errOut)
	var res struct{ Phase, Repo string }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Phase != "Succeeded" || res.Repo != "http://"+host+"/config.git" {
		t.Errorf("sync -o json: exit %d\n%s%s", code, out, errOut)
	}
	if msg := run(1, append(base, "--path", "apps/nope")...); !strings.Contains(msg, "apps/nope") {
		t.Errorf("bad --path: %s", msg)
	}
	if msg := run(1, append(base, "--path", "apps/shop", "--revision", "no-such-tag")...); !strings.Contains(msg, `unknown revision "no-such-tag" in http://`+host+"/config.git") {
		t.Errorf("unknown revision: %s", msg)
	}
	run(1, "sync", "shop", "--repo", tokenAsUser, "--path", "apps/shop", "--dest-namespace", ns, "--inventory-namespace", ns)
	run(1, "render", "--repo", "http://user:"+secret+"@"+host+"/missing.git")
	run(1, "render", "--repo", "http://user:wrong-"+secret+"@"+host+"/config.git", "-o", "json")

	for _, p := range printed {
		if strings.Contains(p, secret) {
			t.Errorf("the password was printed:\n%s", p)
		}
	}
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	inv, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "gitops-shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(inv)
	if strings.Contains(string(b), secret) {
		t.Errorf("the inventory ConfigMap holds the password:\n%s", b)
	}
	if !strings.Contains(string(b), "http://"+host+"/config.git") {
		t.Errorf("the inventory does not record the repository without credentials:\n%s", b)
	}
}

// Container functions need --enable-container-functions; with it,
// kustomize runs them (here with no docker engine, so it fails running
// docker).
func TestContainerFunctionsNeedTheFlag(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("container function", map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [fn.yaml]\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"app/fn.yaml":            "apiVersion: example.com/v1\nkind: Labeler\nmetadata:\n  name: labeler\n  annotations:\n    config.kubernetes.io/function: |\n      container:\n        image: example.com/labeler:v1\n",
	})
	_, stderr, code := gitops(t, "render", "--repo", r.Dir, "--path", "app")
	if code != 1 || !strings.Contains(stderr, "container KRM functions") || !strings.Contains(stderr, "Labeler/labeler in app/fn.yaml (image example.com/labeler:v1); pass --enable-container-functions if you trust this repository") {
		t.Errorf("without the flag: exit %d\n%s", code, stderr)
	}
	_, stderr, code = gitops(t, "render", "--repo", r.Dir, "--path", "app", "--enable-container-functions")
	if code != 1 || !strings.Contains(stderr, "couldn't execute function") || strings.Contains(stderr, "--enable-container-functions") {
		t.Errorf("with the flag: exit %d, want kustomize's error from running the container\n%s", code, stderr)
	}
}

// --repo naming a directory inside a work tree renders --path below it,
// and says where the repository root is; uncommitted files under the path
// are named in a warning.
func TestRenderDirectoryOfWorkTreeAndUncommittedChanges(t *testing.T) {
	r := testrepo.New(t)
	r.Commit("nested", map[string]string{
		"testdata/config-repo/apps/web/kustomization.yaml": "resources: [cm.yaml]\n",
		"testdata/config-repo/apps/web/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n",
		"outside.yaml":                                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside}\n",
	})
	repo := filepath.Join(r.Dir, "testdata", "config-repo")
	stdout, stderr, code := gitops(t, "render", "--repo", repo, "--path", "apps/web")
	if code != 0 || !strings.Contains(stdout, "name: web") || !strings.Contains(stderr, "warning: "+repo+" is a directory inside a repository: repository root is "+r.Dir+"; rendering path testdata/config-repo/apps/web") {
		t.Errorf("nested path: exit %d\n%s%s", code, stdout, stderr)
	}
	if err := os.WriteFile(filepath.Join(repo, "apps", "web", "extra.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = gitops(t, "render", "--repo", repo, "--path", "apps/web")
	if code != 0 || !strings.Contains(stderr, "1 uncommitted changes under testdata/config-repo/apps/web") || !strings.Contains(stderr, "testdata/config-repo/apps/web/extra.yaml") {
		t.Errorf("uncommitted file: exit %d\n%s", code, stderr)
	}
}

// SIGTERM while a render runs our decrypt function removes the private
// file holding the age keys, and the process still dies of the signal.
func TestSignalRemovesDecryptKeyFile(t *testing.T) {
	keyFile, _ := secretKeys(t)
	tmp := t.TempDir()
	started := filepath.Join(t.TempDir(), "started")
	r := testrepo.New(t)
	r.Commit("slow", map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [decrypt.yaml, slow.yaml]\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		"app/decrypt.yaml":       decryptTransformer,
		"app/slow.yaml":          "apiVersion: example.com/v1\nkind: Slow\nmetadata:\n  name: slow\n  annotations:\n    config.kubernetes.io/function: |\n      exec:\n        path: /bin/sh\n        args: [-c, 'touch " + started + "; sleep 20; cat']\n",
	})
	cmd := exec.Command(filepath.Join(plugin, "kubectl-gitops"), "render", "--repo", r.Dir, "--path", "app", "--age-key-file", keyFile, "--enable-exec")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the slow function never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if keys, _ := filepath.Glob(filepath.Join(tmp, "kubectl-gitops-keys-*")); len(keys) != 1 {
		t.Errorf("while the functions run, key directories %v, want one", keys)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("render after SIGTERM: %v, want death by SIGTERM", err)
	}
	if keys, _ := filepath.Glob(filepath.Join(tmp, "kubectl-gitops-keys-*")); len(keys) != 0 {
		t.Errorf("key directories left after SIGTERM: %v", keys)
	}
}
