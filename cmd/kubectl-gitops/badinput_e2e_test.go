package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
)

// go test ./cmd/kubectl-gitops -run TestBadInput -update-badinput
// rewrites every testdata/badinput/<case>/expected.txt from what the
// commands print now; read the diff before committing it.
var updateBadInput = flag.Bool("update-badinput", false, "rewrite testdata/badinput/*/expected.txt")

const badInputDir = "../../testdata/badinput"

// badCase is testdata/badinput/<case>/case.yaml (see the README there).
type badCase struct {
	// Args is the command line after --kubeconfig, with placeholders.
	Args []string `json:"args"`
	// Repo is where the case's repo/ files are committed: "local" (the
	// default when repo/ exists), "http" (the shared Git server, token
	// auth) or "none".
	Repo string `json:"repo"`
	// Sops files of repo/ are encrypted in place before the commit.
	Sops []sopsFile `json:"sops"`
	// Symlinks (name → target) are committed with the files.
	Symlinks map[string]string `json:"symlinks"`
	// Generate writes large files into the repository.
	Generate []generated `json:"generate"`
	// Objects is applied to the case's namespace before the snapshot.
	Objects string `json:"objects"`
	// Setup commands run (and must succeed) before the snapshot.
	Setup [][]string `json:"setup"`
	// Env is added to the command's environment, with placeholders.
	Env []string `json:"env"`
	// Stdin is a file of the case directory given on standard input.
	Stdin string `json:"stdin"`
	// Webhook posts to the shared agent instead of running Args.
	Webhook *webhookCase `json:"webhook"`
	// Cwd "repo" runs the command in the local repository's work tree
	// (default: a copy of the case directory).
	Cwd string `json:"cwd"`
	// RecordsFailure names the app whose failed sync is recorded in its
	// inventory, as docs/design.md (History) says every sync past fetch
	// and render is: that record (the inventory ConfigMap, created when
	// missing) is then the one write allowed, and it must say Failed.
	RecordsFailure string `json:"recordsFailure"`
	// Ignored says a webhook is answered 2xx and starts nothing.
	Ignored bool `json:"ignored"`
	// Mentions must all appear in the (normalised) error: the object or
	// file the error is about, and the words that say what to do.
	Mentions []string `json:"mentions"`
}

type sopsFile struct {
	Path string `json:"path"`
	// For is the recipient: "key" (default, {{key}}) or "otherkey".
	For string `json:"for"`
	// Tamper "mac" changes the encrypted MAC after encryption.
	Tamper string `json:"tamper"`
}

type generated struct {
	Path string `json:"path"`
	// Bytes is the size of a ConfigMap made to be that large; with Prefix,
	// of Prefix and then a YAML comment.
	Bytes  int    `json:"bytes"`
	Prefix string `json:"prefix"`
}

type webhookCase struct {
	Headers map[string]string `json:"headers"`
	// Body is a file of the case directory ({{url}}: the agent's repo).
	Body string `json:"body"`
	// Sign is "good" (the agent's secret), "bad" or "none".
	Sign string `json:"sign"`
	// Pad grows the body to this many bytes (JSON whitespace).
	Pad int `json:"pad"`
}

// badInputEnv is what every case shares: one HTTP Git server, two age
// identities, one agent (started by the first webhook case).
type badInputEnv struct {
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	disco    discovery.DiscoveryInterface
	git      *gittestserver.GitServer
	host     string
	token    string
	key      string // age identity file
	otherKey string // another identity
	recips   map[string]string
	cache    string
	agent    *badAgent
}

func TestBadInput(t *testing.T) {
	entries, err := os.ReadDir(badInputDir)
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, e := range entries {
		if e.IsDir() {
			cases = append(cases, e.Name())
		}
	}
	if len(cases) < 40 {
		t.Errorf("%d cases in %s, want at least 40", len(cases), badInputDir)
	}
	// The webhook cases share one agent: they run last, together.
	sort.SliceStable(cases, func(i, j int) bool {
		return !strings.HasPrefix(cases[i], "webhook-") && strings.HasPrefix(cases[j], "webhook-")
	})
	badInputParent = t
	t.Cleanup(func() {
		for _, f := range slices.Backward(badInputCleanups) {
			f()
		}
		badInputCleanups = nil
	})
	env := newBadInputEnv(t)
	for _, name := range cases {
		t.Run(name, func(t *testing.T) { env.run(t, name) })
	}
	if env.agent != nil {
		env.agent.control(t, env)
	}
}

func newBadInputEnv(t *testing.T) *badInputEnv {
	t.Helper()
	e := &badInputEnv{
		kube:   kubernetes.NewForConfigOrDie(lc.Config),
		dyn:    dynamic.NewForConfigOrDie(lc.Config),
		disco:  discovery.NewDiscoveryClientForConfigOrDie(lc.Config),
		token:  "tok-badinput-7d1e-not-in-any-output",
		cache:  t.TempDir(),
		recips: map[string]string{},
	}
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	srv.Auth("git", e.token)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	e.git, e.host = srv, strings.TrimPrefix(srv.HTTPAddress(), "http://")
	for _, k := range []string{"key", "otherkey"} {
		file := filepath.Join(t.TempDir(), k+".txt")
		out, errOut, code := gitopsIn(t, "", e.baseEnv(t.TempDir()), "secret", "keygen", "-o", file)
		if code != 0 {
			t.Fatalf("keygen: %s", errOut)
		}
		e.recips[k] = strings.TrimSpace(out)
		if k == "key" {
			e.key = file
		} else {
			e.otherKey = file
		}
	}
	return e
}

// baseEnv isolates a command from the machine's keys and caches.
func (e *badInputEnv) baseEnv(config string) []string {
	return []string{"SOPS_AGE_KEY=", "SOPS_AGE_KEY_FILE=", "SOPS_AGE_RECIPIENTS=", "XDG_CONFIG_HOME=" + config, "XDG_CACHE_HOME=" + e.cache}
}

// caseRun is one case being run: its values for the placeholders.
type caseRun struct {
	name, src string
	c         badCase
	ns        string
	dir       string // a copy of the case directory, the command's cwd
	repoDir   string // the local repository ("": none)
	bare      string // the served bare repository ("": none)
	url       string
}

func (e *badInputEnv) run(t *testing.T, name string) {
	src := filepath.Join(badInputDir, name)
	data, err := os.ReadFile(filepath.Join(src, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := &caseRun{name: name, src: src}
	if err := yaml.UnmarshalStrict(data, &r.c); err != nil {
		t.Fatalf("%s/case.yaml: %v", src, err)
	}
	if (r.c.Webhook == nil) == (len(r.c.Args) == 0) {
		t.Fatalf("%s/case.yaml: give args or webhook, one of them", src)
	}
	if len(r.c.Mentions) == 0 {
		t.Fatalf("%s/case.yaml: mentions is empty: say what the error must name", src)
	}
	if r.c.Webhook == nil {
		r.ns = e.namespace(t, name)
	}
	r.dir = t.TempDir()
	e.makeRepo(t, r)
	copyCaseDir(t, src, r.dir, func(s string) string { return r.expand(e, s) })

	if r.c.Objects != "" {
		realKubectlIn(t, r.expand(e, r.c.Objects), "apply", "-n", r.ns, "-f", "-")
	}
	for _, args := range r.c.Setup {
		out, errOut, code := gitopsIn(t, r.dir, e.cmdEnv(r), r.expandAll(e, args)...)
		if code != 0 {
			t.Fatalf("setup %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}

	var got string
	var failed bool
	var printed []string
	if r.c.Webhook != nil {
		if e.agent == nil {
			e.agent = startBadAgent(t, e)
		}
		r.ns, r.bare = e.agent.ns, e.agent.bare
		before := e.snapshot(t, r)
		status, body := e.agent.post(t, r)
		printed = append(printed, body)
		got = fmt.Sprintf("status %d\n--- body\n%s", status, e.normalise(r, body))
		failed = status >= 400 || (r.c.Ignored && status < 300 && strings.HasPrefix(body, "ignored"))
		e.compare(t, r, before)
	} else {
		before := e.snapshot(t, r)
		stdin := ""
		if r.c.Stdin != "" {
			stdin = r.expand(e, readFile(t, filepath.Join(r.dir, r.c.Stdin)))
		}
		out, errOut, code := e.exec(t, r, stdin)
		printed = append(printed, out, errOut)
		got = fmt.Sprintf("exit %d\n--- stderr\n%s", code, e.normalise(r, errOut))
		if out != "" {
			got += "--- stdout\n" + e.normalise(r, capped(out))
		}
		failed = code != 0
		e.compare(t, r, before)
	}
	if !failed {
		t.Errorf("the bad input was accepted:\n%s", got)
	}
	for _, m := range r.c.Mentions {
		if !strings.Contains(got, m) {
			t.Errorf("the error does not mention %q:\n%s", m, got)
		}
	}
	for _, p := range printed {
		for _, secret := range []string{e.token, "badinput-plaintext-s3cr3t"} {
			if strings.Contains(p, secret) {
				t.Errorf("a secret (%.8s...) was printed:\n%s", secret, p)
			}
		}
	}
	golden := filepath.Join(src, "expected.txt")
	if *updateBadInput {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-badinput to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (-update-badinput rewrites it)\n--- want\n%s\n--- got\n%s", golden, want, got)
	}
}

// cmdEnv is the environment of the case's commands.
func (e *badInputEnv) cmdEnv(r *caseRun) []string {
	env := e.baseEnv(filepath.Join(r.dir, ".config"))
	if r.bare != "" {
		env = append(env, "GIT_TOKEN="+e.token)
	}
	return append(env, r.expandAll(e, r.c.Env)...)
}

// capped keeps a golden small when a command prints a large object.
func capped(s string) string {
	const max = 2000
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("\n[... %d more bytes]\n", len(s)-max)
}

func (e *badInputEnv) exec(t *testing.T, r *caseRun, stdin string) (string, string, int) {
	t.Helper()
	cwd := r.dir
	switch r.c.Cwd {
	case "":
	case "repo":
		if r.repoDir == "" {
			t.Fatal("case.yaml: cwd repo needs a local repo")
		}
		cwd = r.repoDir
	default:
		t.Fatalf("case.yaml: cwd %q: want repo", r.c.Cwd)
	}
	if stdin == "" {
		return gitopsIn(t, cwd, e.cmdEnv(r), r.expandAll(e, r.c.Args)...)
	}
	// gitopsIn gives no stdin: the same command, with one.
	cmd := exec.Command(filepath.Join(plugin, "kubectl-gitops"), append([]string{"--kubeconfig", lc.Kubeconfig}, r.expandAll(e, r.c.Args)...)...)
	cmd.Dir = cwd
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(append(os.Environ(), "GIT_TOKEN="), e.cmdEnv(r)...)
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	sweepOutput(t, "kubectl-gitops", r.expandAll(e, r.c.Args), out.String(), errOut.String())
	return out.String(), errOut.String(), code
}

func (r *caseRun) expand(e *badInputEnv, s string) string {
	return strings.NewReplacer(
		"{{ns}}", r.ns,
		"{{repo}}", r.repoArg(),
		"{{url}}", r.url,
		"{{host}}", e.host,
		"{{dir}}", r.dir,
		"{{key}}", e.key,
		"{{otherkey}}", e.otherKey,
		"{{recipient}}", e.recips["key"],
	).Replace(s)
}

func (r *caseRun) expandAll(e *badInputEnv, in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = r.expand(e, s)
	}
	return out
}

func (r *caseRun) repoArg() string {
	if r.url != "" {
		return r.url
	}
	return r.repoDir
}

// normalise replaces what changes from run to run by placeholders.
var (
	hexCommit    = regexp.MustCompile(`\b[0-9a-f]{40}\b`)
	shortHash    = regexp.MustCompile(`\b[0-9a-f]{7,12}\b`)
	shortNumeric = regexp.MustCompile(`(@|\bat |\bon |Commit:\s+)[0-9]{7,12}\b`)
	timestamp    = regexp.MustCompile(`\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	localAddr    = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	tempPath     = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `/[^\s:'"),]*`)
	duration     = regexp.MustCompile(`\b\d+(\.\d+)?(ms|µs|s)\b`)
)

func (e *badInputEnv) normalise(r *caseRun, s string) string {
	pairs := []string{}
	for _, p := range [][2]string{{r.dir, "<DIR>"}, {r.repoDir, "<REPO>"}, {r.bare, "<BARE>"}, {e.key, "<KEY>"}, {e.otherKey, "<OTHERKEY>"},
		{e.recips["key"], "<RECIPIENT>"}, {e.recips["otherkey"], "<OTHERRECIPIENT>"}, {e.host, "<HOST>"}, {r.ns, "<NS>"}} {
		if p[0] != "" {
			pairs = append(pairs, p[0], p[1])
		}
	}
	s = strings.NewReplacer(pairs...).Replace(s)
	s = hexCommit.ReplaceAllString(s, "<COMMIT>")
	s = shortHash.ReplaceAllStringFunc(s, func(h string) string {
		if strings.Trim(h, "0123456789") == "" {
			return h // a number, unless it stands where a commit does (below)
		}
		return "<SHORT>"
	})
	s = shortNumeric.ReplaceAllString(s, "$1<SHORT>")
	s = timestamp.ReplaceAllString(s, "<TIME>")
	s = localAddr.ReplaceAllString(s, "<ADDR>")
	s = tempPath.ReplaceAllString(s, "<TMP>")
	s = duration.ReplaceAllString(s, "<DURATION>")
	return s
}

// namespace makes the case's namespace; it is deleted when the whole
// table is done, so that no namespace is being finalised (a cluster-scoped
// change) while a later case runs.
func (e *badInputEnv) namespace(t *testing.T, name string) string {
	t.Helper()
	ns := fmt.Sprintf("bi-%.40s-%05d", name, time.Now().UnixNano()%100000)
	ns = strings.ReplaceAll(ns, "--", "-")
	ctx := context.Background()
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	parentCleanup(t, func() { _ = e.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}) })
	// The controllers' own objects are there before the snapshot.
	eventually(t, 30*time.Second, "Namespace/"+ns+" has its default ServiceAccount and kube-root-ca.crt", func() error {
		if _, err := e.kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return err
		}
		_, err := e.kube.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err
	})
	return ns
}

// cleanups of the parent test, run when the table is done.
var badInputCleanups []func()

// badInputParent is TestBadInput's t, which the shared agent's logs are
// captured on.
var badInputParent *testing.T

func parentCleanup(t *testing.T, f func()) { badInputCleanups = append(badInputCleanups, f) }

func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// copyCaseDir copies the case's files but repo/ to dst, with the
// placeholders expanded.
func copyCaseDir(t *testing.T, src, dst string, expand func(string) string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "repo" && d.IsDir() {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel == "case.yaml" || rel == "expected.txt" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), []byte(expand(string(data))), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// makeRepo commits repo/ (plus the case's SOPS files, symlinks and large
// files) to a local repository and, for "http", serves it.
func (e *badInputEnv) makeRepo(t *testing.T, r *caseRun) {
	t.Helper()
	files := map[string]string{}
	root := filepath.Join(r.src, "repo")
	if _, err := os.Stat(root); err == nil {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			data, err := os.ReadFile(p)
			files[filepath.ToSlash(rel)] = r.expand(e, string(data))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.c.Repo == "" {
			r.c.Repo = "local"
		}
	}
	if r.c.Repo == "" || r.c.Repo == "none" {
		return
	}
	for _, s := range r.c.Sops {
		plain, ok := files[s.Path]
		if !ok {
			t.Fatalf("sops: no repo/%s", s.Path)
		}
		files[s.Path] = e.encrypt(t, s, plain)
	}
	for _, g := range r.c.Generate {
		files[g.Path] = bigFile(g)
	}
	repo := testrepo.New(t)
	if len(files) > 0 {
		repo.Commit("config", files)
	}
	// Links are committed by the real git (as a user would make them).
	for name, target := range r.c.Symlinks {
		if err := os.Symlink(r.expand(e, target), filepath.Join(repo.Dir, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
		gitIn := func(args ...string) {
			if out, err := exec.Command("git", append([]string{"-C", repo.Dir, "-c", "user.name=test", "-c", "user.email=test@example.com"}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		gitIn("add", name)
		gitIn("commit", "-q", "-m", "link "+name)
	}
	r.repoDir = repo.Dir
	if r.c.Repo == "http" {
		r.bare = filepath.Join(e.git.Root(), r.name+".git")
		if out, err := exec.Command("git", "clone", "--bare", "-q", repo.Dir, r.bare).CombinedOutput(); err != nil {
			t.Fatalf("git clone --bare: %v\n%s", err, out)
		}
		r.url = "http://" + e.host + "/" + r.name + ".git"
		r.repoDir = ""
	} else if r.c.Repo != "local" {
		t.Fatalf("case.yaml: repo %q: want local, http or none", r.c.Repo)
	}
}

func (e *badInputEnv) encrypt(t *testing.T, s sopsFile, plain string) string {
	t.Helper()
	recipient := e.recips["key"]
	if s.For == "otherkey" {
		recipient = e.recips["otherkey"]
	}
	p := filepath.Join(t.TempDir(), filepath.Base(s.Path))
	if err := os.WriteFile(p, []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := gitopsIn(t, "", e.baseEnv(t.TempDir()), "secret", "encrypt", "-i", "--age-recipient", recipient, p); code != 0 {
		t.Fatalf("encrypt %s: %s", s.Path, errOut)
	}
	enc := readFile(t, p)
	switch s.Tamper {
	case "":
	case "mac":
		// The MAC is ENC[AES256_GCM,data:...]: change one character of its data.
		i := strings.Index(enc, "mac: ENC[AES256_GCM,data:")
		if i < 0 {
			t.Fatalf("%s has no mac", s.Path)
		}
		j := i + len("mac: ENC[AES256_GCM,data:")
		c := byte('A')
		if enc[j] == 'A' {
			c = 'B'
		}
		enc = enc[:j] + string(c) + enc[j+1:]
	default:
		t.Fatalf("sops tamper %q: want mac", s.Tamper)
	}
	return enc
}

func bigFile(g generated) string {
	head := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  blob: "
	if g.Prefix != "" {
		head = g.Prefix + "# "
	}
	return head + strings.Repeat("x", max(0, g.Bytes-len(head)-1)) + "\n"
}

// snapshot is what a case must leave as it found it.
type snapshot struct {
	objects   map[string]string // Kind/namespace/name → resourceVersion
	inventory map[string]string // ConfigMap/ns/name → labels, annotations, data
	git       map[string]string // ref → target, plus the work tree status
	files     map[string]string // the case directory's files → content hash
	// terminating are the objects already being deleted (another test's
	// namespace going away): the control plane finishes that by itself.
	terminating map[string]bool
}

// skipped are the resources the control plane itself rewrites all the
// time (leases renewed by the controllers and kwok, node heartbeats,
// events, the API server's own endpoints): a case cannot be judged by
// them, and no command here writes them.
var skipped = map[string]bool{
	"leases": true, "nodes": true, "events": true, "endpointslices": true, "endpoints": true,
}

func (e *badInputEnv) snapshot(t *testing.T, r *caseRun) snapshot {
	t.Helper()
	ctx := context.Background()
	s := snapshot{objects: map[string]string{}, inventory: map[string]string{}, git: map[string]string{}, files: map[string]string{}, terminating: map[string]bool{}}
	_, lists, err := e.disco.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	namespaces := []string{r.ns, "default", "kubectl-gitops", "argocd"}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") || !slices.Contains(res.Verbs, "list") || skipped[res.Name] {
				continue
			}
			gvr := gv.WithResource(res.Name)
			scopes := []string{""}
			if res.Namespaced {
				scopes = namespaces
			}
			for _, ns := range scopes {
				list, err := e.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
				if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
					continue
				}
				if err != nil {
					t.Fatalf("list %s: %v", gvr, err)
				}
				for _, o := range list.Items {
					key := gv.String() + " " + res.Kind + "/" + o.GetName()
					if o.GetNamespace() != "" {
						key = gv.String() + " " + res.Kind + "/" + o.GetNamespace() + "/" + o.GetName()
					}
					s.objects[key] = o.GetResourceVersion()
					if o.GetDeletionTimestamp() != nil {
						s.terminating[key] = true
					}
				}
			}
		}
	}
	for _, ns := range namespaces {
		cms, err := e.kube.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: inventory.LabelID})
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range cms.Items {
			b, _ := json.Marshal([]any{cm.Labels, cm.Annotations, cm.Data})
			s.inventory["ConfigMap/"+ns+"/"+cm.Name] = string(b)
		}
	}
	gitState := func(dir string, bare bool) {
		refs, err := exec.Command("git", "-C", dir, "for-each-ref", "--format=%(refname) %(objectname)").Output()
		if err != nil {
			t.Fatalf("git for-each-ref in %s: %v", dir, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(refs)), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				s.git[f[0]] = f[1]
			}
		}
		head, _ := exec.Command("git", "-C", dir, "symbolic-ref", "HEAD").Output()
		s.git["HEAD"] = strings.TrimSpace(string(head))
		if !bare {
			status, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--untracked-files=all").Output()
			if err != nil {
				t.Fatal(err)
			}
			s.git["work tree status"] = string(status)
		}
	}
	if r.bare != "" {
		gitState(r.bare, true)
	}
	if r.repoDir != "" {
		gitState(r.repoDir, false)
	}
	_ = filepath.WalkDir(r.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		sum := sha256.Sum256(data)
		rel, _ := filepath.Rel(r.dir, p)
		s.files[rel] = hex.EncodeToString(sum[:])
		return err
	})
	return s
}

// compare fails the case for every difference, naming what changed.
func (e *badInputEnv) compare(t *testing.T, r *caseRun, before snapshot) {
	t.Helper()
	after := e.snapshot(t, r)
	allowed := map[string]bool{}
	for k := range before.terminating {
		allowed[k] = true
	}
	if app := r.c.RecordsFailure; app != "" {
		cm := "ConfigMap/" + r.ns + "/gitops-" + app
		allowed["v1 "+cm], allowed[cm] = true, true
		e.checkFailureRecord(t, r.ns, app, before.inventory[cm])
	}
	diff := func(what string, a, b map[string]string) {
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		var changed []string
		for k := range keys {
			if allowed[k] {
				continue
			}
			va, okA := a[k]
			vb, okB := b[k]
			switch {
			case !okA:
				changed = append(changed, k+": created")
			case !okB:
				changed = append(changed, k+": deleted")
			case va != vb:
				changed = append(changed, k+": changed")
			}
		}
		sort.Strings(changed)
		for _, c := range changed {
			t.Errorf("%s written by a failed command: %s", what, c)
		}
	}
	diff("object", before.objects, after.objects)
	diff("inventory", before.inventory, after.inventory)
	diff("Git", before.git, after.git)
	diff("file", before.files, after.files)
}

// checkFailureRecord checks that the app's inventory holds one record
// more than before, the newest Failed, and no member.
func (e *badInputEnv) checkFailureRecord(t *testing.T, ns, app, before string) {
	t.Helper()
	cm, err := e.kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "gitops-"+app, metav1.GetOptions{})
	if err != nil {
		t.Errorf("the failed sync is not recorded: %v", err)
		return
	}
	history := func(data map[string]string) []inventory.Record {
		var h []inventory.Record
		if data["history"] != "" {
			if err := json.Unmarshal([]byte(data["history"]), &h); err != nil {
				t.Fatalf("ConfigMap/%s/gitops-%s: history: %v", ns, app, err)
			}
		}
		return h
	}
	var old []inventory.Record
	if before != "" {
		var parts []json.RawMessage
		var data map[string]string
		if json.Unmarshal([]byte(before), &parts) == nil && len(parts) == 3 && json.Unmarshal(parts[2], &data) == nil {
			old = history(data)
		}
	}
	now := history(cm.Data)
	if len(now) != len(old)+1 || now[len(now)-1].Phase != "Failed" {
		t.Errorf("ConfigMap/%s/gitops-%s: %d records before, %d now, want one more, Failed: %+v", ns, app, len(old), len(now), now)
	}
	if gks := cm.Annotations["applyset.kubernetes.io/contains-group-kinds"]; gks != "" && before == "" {
		t.Errorf("ConfigMap/%s/gitops-%s of a failed first sync lists members: %s", ns, app, gks)
	}
}

// badAgent is the agent process the webhook cases post to: it serves one
// automated app from the shared Git server, into its own namespace.
type badAgent struct {
	cmd    *exec.Cmd
	addr   string
	ns     string
	url    string
	repo   *testrepo.Repo
	bare   string
	mu     sync.Mutex
	logs   bytes.Buffer
	done   chan struct{}
	secret string
}

func (a *badAgent) logText() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.logs.String()
}

func badGreeting(value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: greeting}\ndata: {value: " + value + "}\n"
}

func startBadAgent(t *testing.T, e *badInputEnv) *badAgent {
	t.Helper()
	a := &badAgent{secret: "webhook-secret-badinput-51c0", done: make(chan struct{})}
	a.ns = e.namespace(t, "webhook-agent")
	a.repo = testrepo.New(t)
	a.repo.Commit("greeting", map[string]string{"apps/web/cm.yaml": badGreeting("first")})
	a.bare = filepath.Join(e.git.Root(), "agent.git")
	if out, err := exec.Command("git", "clone", "--bare", "-q", a.repo.Dir, a.bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	a.url = "http://" + e.host + "/agent.git"
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	_ = os.Mkdir(secrets, 0o700)
	if err := os.WriteFile(filepath.Join(secrets, "github"), []byte(a.secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  project: default
  source: {repoURL: %s, targetRevision: main, path: apps/web}
  destination: {server: https://kubernetes.default.svc, namespace: %s}
  syncPolicy: {automated: {prune: true}}
`, a.url, a.ns)
	appFile := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(appFile, []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(filepath.Join(plugin, "kubectl-gitops"), "--kubeconfig", lc.Kubeconfig, "agent", "--listen", "127.0.0.1:0",
		"--log-format", "json", "--webhook-secrets-dir", secrets, "--webhook-max-payload-mb", "1", "--reconcile-jitter", "0",
		"--reconcile-interval", "1h", "--app-file", appFile, "--app-namespace", "", "--inventory-namespace", a.ns)
	a.cmd.Env = append(os.Environ(), append(e.baseEnv(t.TempDir()), "GIT_TOKEN="+e.token)...)
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(a.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			a.mu.Lock()
			a.logs.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
			var rec struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "agent started" {
				addr <- rec.Listen
			}
		}
		_ = a.cmd.Wait()
	}()
	parentCleanup(t, func() {
		_ = a.cmd.Process.Signal(os.Interrupt)
		select {
		case <-a.done:
		case <-time.After(30 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
		}
		// The leak sweep: everything the agent logged (searched at once,
		// this cleanup runs after the parent's sweep).
		captureOutput(badInputParent, "logs of the webhook cases' agent", a.logText())
	})
	select {
	case a.addr = <-addr:
	case <-a.done:
		t.Fatalf("the agent exited:\n%s", a.logText())
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not start")
	}
	// The first sync is done; then a commit the agent has not seen, so
	// that a webhook that started a sync would change the greeting.
	eventually(t, 60*time.Second, "the agent synced the greeting", func() error {
		if v := e.greeting(a.ns); v != "first" {
			return fmt.Errorf("greeting %q", v)
		}
		return nil
	})
	a.repo.Commit("greeting", map[string]string{"apps/web/cm.yaml": badGreeting("second")})
	if out, err := exec.Command("git", "-C", a.repo.Dir, "push", "-q", a.bare, "main").CombinedOutput(); err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	return a
}

func (e *badInputEnv) greeting(ns string) string {
	cm, err := e.kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "greeting", metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	return cm.Data["value"]
}

// post sends the case's webhook; a case without headers is a probe.
func (a *badAgent) post(t *testing.T, r *caseRun) (int, string) {
	t.Helper()
	w := r.c.Webhook
	var body []byte
	if w.Body != "" {
		body = []byte(strings.ReplaceAll(readFile(t, filepath.Join(r.dir, w.Body)), "{{url}}", a.url))
	}
	if w.Pad > len(body) {
		body = append(body, bytes.Repeat([]byte(" "), w.Pad-len(body))...)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+a.addr+"/api/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	secret := ""
	switch w.Sign {
	case "good":
		secret = a.secret
	case "bad":
		secret = "not-the-webhook-secret"
	case "", "none":
	default:
		t.Fatalf("webhook sign %q: want good, bad or none", w.Sign)
	}
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
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b)
}

// control proves that the webhook cases could see a sync: none of the
// refused webhooks synced the pushed commit; a good one does.
func (a *badAgent) control(t *testing.T, e *badInputEnv) {
	t.Helper()
	if v := e.greeting(a.ns); v != "first" {
		t.Fatalf("after the refused webhooks the greeting is %q: one of them synced", v)
	}
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":"%s","repository":{"html_url":"%s","clone_url":"%s","default_branch":"main","name":"agent","full_name":"test/agent"}}`,
		strings.Repeat("a", 40), strings.TrimSuffix(a.url, ".git"), a.url)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "push.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	status, text := a.post(t, &caseRun{dir: dir, c: badCase{Webhook: &webhookCase{Body: "push.json", Sign: "good", Headers: map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "control"}}}})
	if status != 200 {
		t.Fatalf("the control webhook: status %d: %s", status, text)
	}
	eventually(t, 60*time.Second, "a good webhook syncs the pushed commit", func() error {
		if v := e.greeting(a.ns); v != "second" {
			return fmt.Errorf("greeting %q", v)
		}
		return nil
	})
}
