package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/leaksweep"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// gitopsIn runs the plugin against the test cluster in dir ("": here),
// with extra environment after an empty $GIT_TOKEN. Its stdout and stderr
// are swept for secrets when the test ends.
func gitopsIn(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	stdout, stderr, code = runPlugin(t, dir, env, args...)
	sweepOutput(t, "kubectl-gitops", args, stdout, stderr)
	sweepKeygen(t, dir, args, code)
	return stdout, stderr, code
}

// gitopsPrinting is gitopsIn for a command that prints a secret to stdout
// on purpose (secret decrypt); why says so. Its stderr is still swept.
func gitopsPrinting(t *testing.T, why, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	stdout, stderr, code = runPlugin(t, dir, env, args...)
	name := commandLine("kubectl-gitops", args)
	leaksweep.Allow(t, "stdout of `"+name+"`", stdout, why)
	leaksweep.Capture(t, "stderr of `"+name+"`", stderr)
	return stdout, stderr, code
}

func runPlugin(t *testing.T, dir string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(plugin, "kubectl-gitops"), append([]string{"--kubeconfig", lc.Kubeconfig}, args...)...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(append(os.Environ(), "GIT_TOKEN="), env...)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func overlayFiles(services ...string) map[string]string {
	files := map[string]string{}
	for _, svc := range services {
		files["apps/"+svc+"/base/kustomization.yaml"] = "resources: [deploy.yaml]\n"
		files["apps/"+svc+"/base/deploy.yaml"] = strings.ReplaceAll(webDeployment("registry.example/SVC:1.0"), "web", "SVC")
		files["apps/"+svc+"/base/deploy.yaml"] = strings.ReplaceAll(files["apps/"+svc+"/base/deploy.yaml"], "SVC", svc)
		for _, env := range []string{"staging", "production"} {
			files["apps/"+svc+"/overlays/"+env+"/kustomization.yaml"] = "# " + env + " of " + svc + "\nresources: [../../base]\n"
		}
	}
	return files
}

// 10 concurrent image set --push jobs for 10 services, against a Git
// server over HTTP with token auth: all land, the history is linear, each
// commit touches its one file, the tree has all 10 changes. A job with a
// wrong token fails naming the remote, not the token.
func TestImageSetConcurrentPush(t *testing.T) {
	var services []string
	for i := range 10 {
		services = append(services, fmt.Sprintf("svc%d", i))
	}
	r := testrepo.New(t)
	r.Commit("initial", overlayFiles(services...))
	const token = "tok-3f9a1c-not-in-any-output"
	host := serveOverHTTP(t, r, "git", token)
	url := "http://" + host + "/config.git"

	type job struct {
		out, errOut string
		code        int
	}
	jobs := make([]job, len(services))
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() {
			o, e, c := gitopsIn(t, t.TempDir(), []string{"GIT_TOKEN=" + token, "XDG_CACHE_HOME=" + t.TempDir()}, "image", "set", "apps/"+svc+"/overlays/staging",
				"registry.example/"+svc+":2.0", "--repo", url, "--revision", "main", "--push", "--push-retries", "30", "-o", "json")
			jobs[i] = job{o, e, c}
		})
	}
	wg.Wait()
	attempts := map[int]int{}
	for i, j := range jobs {
		if j.code != 0 {
			t.Fatalf("job %d: code %d\n%s%s", i, j.code, j.out, j.errOut)
		}
		var res struct {
			Commit   string
			Files    []string
			Attempts int
		}
		if err := json.Unmarshal([]byte(j.out), &res); err != nil {
			t.Fatalf("job %d: -o json: %v\n%s", i, err, j.out)
		}
		if len(res.Commit) != 40 || len(res.Files) != 1 || res.Files[0] != "apps/"+services[i]+"/overlays/staging/kustomization.yaml" {
			t.Errorf("job %d: %+v", i, res)
		}
		attempts[res.Attempts]++
		for _, text := range []string{j.out, j.errOut} {
			if strings.Contains(text, token) {
				t.Errorf("job %d printed the token", i)
			}
		}
	}
	t.Logf("push attempts: %v (attempts → jobs)", attempts)

	// The server's history: linear, 10 commits on top of the first, one file each.
	clone := t.TempDir()
	if out, err := exec.Command("git", "clone", "-q", "http://git:"+token+"@"+host+"/config.git", clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	log, err := exec.Command("git", "-C", clone, "log", "--format=%H %P", "main").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 11 {
		t.Errorf("history has %d commits, want 11:\n%s", len(lines), log)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 2 {
			t.Errorf("a merge commit: %s", l)
		}
	}
	for _, l := range lines[:len(lines)-1] {
		sha := strings.Fields(l)[0]
		files, _ := exec.Command("git", "-C", clone, "show", "--name-only", "--format=", sha).Output()
		if n := len(strings.Fields(string(files))); n != 1 {
			t.Errorf("commit %s touches %d files: %s", sha, n, files)
		}
	}
	for _, svc := range services {
		data, err := os.ReadFile(filepath.Join(clone, "apps", svc, "overlays", "staging", "kustomization.yaml"))
		if err != nil || !strings.Contains(string(data), "newTag: \"2.0\"") && !strings.Contains(string(data), "newTag: 2.0") {
			t.Errorf("%s staging after the pushes: %v\n%s", svc, err, data)
		}
	}

	// A wrong token: refused, naming the remote, never the token.
	_, errOut, code := gitopsIn(t, t.TempDir(), []string{"GIT_TOKEN=wrong-token-value", "XDG_CACHE_HOME=" + t.TempDir()}, "image", "set", "apps/svc0/overlays/staging",
		"registry.example/svc0:3.0", "--repo", url, "--revision", "main", "--push")
	if code == 0 || !strings.Contains(errOut, host) || strings.Contains(errOut, "wrong-token-value") {
		t.Errorf("wrong token: code %d\n%s", code, errOut)
	}
}

// image set in a work tree, then promote of one service and of --all, each
// committed; sync of the production overlays rolls the new images out.
func TestPromoteThenSync(t *testing.T) {
	ns := testcluster.Namespace(t, lc)
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	r := testrepo.New(t)
	r.Commit("initial", overlayFiles("web", "api"))
	env := []string{"GIT_AUTHOR_NAME=CI", "GIT_AUTHOR_EMAIL=ci@example.com"}

	// PATH is relative to the current directory, as in any shell.
	for _, svc := range []string{"web", "api"} {
		if out, errOut, code := gitopsIn(t, filepath.Join(r.Dir, "apps", svc), env, "image", "set", "overlays/staging", "registry.example/"+svc+":1.1", "--commit"); code != 0 {
			t.Fatalf("image set %s: code %d\n%s%s", svc, code, out, errOut)
		}
	}
	// Bad input commits nothing: an unknown environment, a bad image.
	if _, errOut, code := gitopsIn(t, r.Dir, env, "promote", "web", "--from", "staging", "--to", "prod", "--commit"); code == 0 || !strings.Contains(errOut, "apps/web/overlays/prod") {
		t.Errorf("unknown environment: code %d\n%s", code, errOut)
	}
	head := func() string {
		out, err := exec.Command("git", "-C", r.Dir, "rev-parse", "HEAD").Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	before := head()
	if _, errOut, code := gitopsIn(t, r.Dir, env, "image", "set", "apps/web/overlays/staging", "web:1.25/rc", "--commit"); code != 2 || !strings.Contains(errOut, `image "web:1.25/rc"`) {
		t.Errorf("an argument kustomize rejects: code %d\n%s", code, errOut)
	}
	if _, errOut, code := gitopsIn(t, r.Dir, env, "image", "set", "apps/web", "registry.example/web:1.2", "--commit"); code != 1 || !strings.Contains(errOut, "has no kustomization") {
		t.Errorf("a path with no kustomization: code %d\n%s", code, errOut)
	}
	if _, errOut, code := gitopsIn(t, r.Dir, env, "promote", "../../outside", "--from", "staging", "--to", "production", "--commit"); code != 2 || !strings.Contains(errOut, "not a service or environment name") {
		t.Errorf("a service name that is a path: code %d\n%s", code, errOut)
	}
	if _, errOut, code := gitopsIn(t, r.Dir, env, "promote", "web", "nope", "--from", "staging", "--to", "production", "--commit"); code != 1 || !strings.Contains(errOut, "service nope has no overlay") {
		t.Errorf("an unknown service: code %d\n%s", code, errOut)
	}
	if st, _ := exec.Command("git", "-C", r.Dir, "status", "--porcelain").Output(); len(st) != 0 {
		t.Errorf("bad input left the work tree changed:\n%s", st)
	}
	if after := head(); after != before {
		t.Errorf("bad input committed: HEAD %s → %s", before, after)
	}
	if out, errOut, code := gitopsIn(t, r.Dir, env, "promote", "web", "--from", "staging", "--to", "production", "--commit"); code != 0 || !strings.Contains(out, "committed") {
		t.Fatalf("promote web: code %d\n%s%s", code, out, errOut)
	}
	sync := func(svc string) string {
		t.Helper()
		if out, errOut, code := gitops(t, "sync", svc+"-prod", "--repo", r.Dir, "--path", "apps/"+svc+"/overlays/production", "--dest-namespace", ns, "--inventory-namespace", ns); code != 0 {
			t.Fatalf("sync %s: code %d\n%s%s", svc, code, out, errOut)
		}
		d, err := kube.AppsV1().Deployments(ns).Get(context.Background(), svc, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.Spec.Template.Spec.Containers[0].Image
	}
	if got := sync("web"); got != "registry.example/web:1.1" {
		t.Errorf("web in production after promote: %s", got)
	}
	if got := sync("api"); got != "registry.example/api:1.0" {
		t.Errorf("api in production before its promote: %s", got)
	}
	if out, errOut, code := gitopsIn(t, r.Dir, env, "promote", "--all", "--from", "staging", "--to", "production", "--commit", "-o", "json"); code != 0 || !strings.Contains(out, "apps/api/overlays/production/kustomization.yaml") {
		t.Fatalf("promote --all: code %d\n%s%s", code, out, errOut)
	}
	if got := sync("api"); got != "registry.example/api:1.1" {
		t.Errorf("api in production after promote --all: %s", got)
	}
	log, _ := exec.Command("git", "-C", r.Dir, "log", "--format=%an <%ae> %s", "-3").Output()
	if !strings.Contains(string(log), "CI <ci@example.com> chore(all): promote images to production") {
		t.Errorf("commits:\n%s", log)
	}
	data, _ := os.ReadFile(filepath.Join(r.Dir, "apps/web/overlays/production/kustomization.yaml"))
	if !strings.HasPrefix(string(data), "# production of web\n") {
		t.Errorf("the overlay's comment was lost:\n%s", data)
	}
}

// image set on an Argo CD Application manifest, committed and signed
// with --sign-key: the Application's kustomize images hold the image, and
// the commit's signature verifies with the key.
func TestImageSetApplicationSigned(t *testing.T) {
	r := testrepo.New(t)
	app := `# The web app in production.
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://git.example/config.git
    path: apps/web/overlays/production
  destination: {server: https://kubernetes.default.svc, namespace: web}
`
	r.Commit("initial", map[string]string{"argocd/web.yaml": app})
	key, err := openpgp.NewEntity("ci", "", "ci@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var private, public bytes.Buffer
	for _, k := range []struct {
		buf   *bytes.Buffer
		kind  string
		write func(io.Writer) error
	}{
		{&private, openpgp.PrivateKeyType, func(w io.Writer) error { return key.SerializePrivate(w, nil) }},
		{&public, openpgp.PublicKeyType, key.Serialize},
	} {
		w, err := armor.Encode(k.buf, k.kind, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.write(w); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	keyFile := filepath.Join(t.TempDir(), "key.asc")
	if err := os.WriteFile(keyFile, private.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := gitopsIn(t, r.Dir, []string{"GIT_AUTHOR_NAME=CI", "GIT_AUTHOR_EMAIL=ci@example.com"},
		"image", "set", "argocd/web.yaml", "registry.example/web:2.0", "--commit", "--sign-key", keyFile, "-o", "json")
	if code != 0 {
		t.Fatalf("image set on an Application: code %d\n%s%s", code, out, errOut)
	}
	var res struct {
		Commit string
		Files  []string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Files) != 1 || res.Files[0] != "argocd/web.yaml" {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(r.Dir, "argocd/web.yaml"))
	var doc struct {
		Spec struct {
			Source struct {
				Kustomize struct{ Images []string }
			}
		}
	}
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Spec.Source.Kustomize.Images) != 1 || doc.Spec.Source.Kustomize.Images[0] != "registry.example/web:2.0" {
		t.Errorf("Application after image set (%v):\n%s", err, data)
	}
	if !strings.HasPrefix(string(data), "# The web app in production.\n") {
		t.Errorf("the manifest's comment was lost:\n%s", data)
	}
	repo, err := git.PlainOpen(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(res.Commit))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(public.String()); err != nil {
		t.Errorf("the commit's signature does not verify: %v (signature %q)", err, c.PGPSignature)
	}
}
