package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-gitops/kubectl-gitops/internal/testcluster"
	"github.com/kubectl-gitops/kubectl-gitops/internal/testrepo"
)

// faultyGit is a real Git server (gittestserver, basic auth) behind a proxy
// that misbehaves on demand: gone (its listener closed), answering 500,
// cutting the connection in the middle of the pack, or flipping a byte of
// the pack.
type faultyGit struct {
	repo   *testrepo.Repo
	first  string // the first commit
	bare   string
	target *url.URL
	addr   string // the proxy's host:port, the same across restarts

	mu       sync.Mutex
	mode     string // "", "500", "cut", "corrupt"
	srv      *http.Server
	upload   int // upload-pack responses sent
	lastPack int // bytes of the last upload-pack response
}

const faultUser, faultPassword = "ci", "SECRET-git-fault-pa55"

func serveFaulty(t *testing.T, files map[string]string) *faultyGit {
	t.Helper()
	r := testrepo.New(t)
	first := r.Commit("first", files)
	srv, err := gittestserver.NewTempGitServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(srv.Root()) })
	bare := filepath.Join(srv.Root(), "config.git")
	if out, err := exec.Command("git", "clone", "--bare", "-q", r.Dir, bare).CombinedOutput(); err != nil {
		t.Fatalf("git clone --bare: %v\n%s", err, out)
	}
	srv.Auth(faultUser, faultPassword)
	if err := srv.StartHTTP(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.StopHTTP)
	target, _ := url.Parse(srv.HTTPAddress())
	g := &faultyGit{repo: r, first: first, bare: bare, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = ln.Addr().String()
	g.start(t, ln)
	t.Cleanup(g.stop)
	return g
}

func (g *faultyGit) start(t *testing.T, ln net.Listener) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serveHTTP)}
	go g.srv.Serve(ln)
}

// stop closes the listener: the server is gone (connection refused).
func (g *faultyGit) stop() {
	g.mu.Lock()
	srv := g.srv
	g.srv = nil
	g.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// restart listens again on the same address.
func (g *faultyGit) restart(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	g.start(t, ln)
}

func (g *faultyGit) set(mode string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode = mode
}

// url is the repository's URL through the proxy, with the credentials.
func (g *faultyGit) url() string {
	return "http://" + faultUser + ":" + faultPassword + "@" + g.addr + "/config.git"
}

// shown is the URL as every message must show it: no credentials.
func (g *faultyGit) shown() string { return "http://" + g.addr + "/config.git" }

func (g *faultyGit) push(t *testing.T, files map[string]string, remove ...string) {
	t.Helper()
	g.repo.Commit("change", files)
	if len(remove) > 0 {
		g.repo.Remove("remove", remove...)
	}
	if out, err := exec.Command("git", "-C", g.repo.Dir, "push", "-q", "-f", g.bare, "HEAD:refs/heads/main").CombinedOutput(); err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
}

func (g *faultyGit) serveHTTP(w http.ResponseWriter, req *http.Request) {
	g.mu.Lock()
	mode := g.mode
	g.mu.Unlock()
	if mode == "500" {
		http.Error(w, "internal error (injected)", http.StatusInternalServerError)
		return
	}
	out, _ := http.NewRequestWithContext(req.Context(), req.Method, g.target.String()+req.URL.RequestURI(), req.Body)
	out.Header = req.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	pack := req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/git-upload-pack")
	if pack {
		g.mu.Lock()
		g.upload++
		g.lastPack = len(body)
		g.mu.Unlock()
	}
	for k, v := range resp.Header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	switch {
	case pack && mode == "cut":
		w.WriteHeader(resp.StatusCode)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-pack
	case pack && mode == "corrupt":
		corruptPack(body)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// corruptPack flips a byte in the middle of the pack data of an
// upload-pack response, leaving its pkt-line framing intact: the largest
// side-band 1 packet, past the pack header.
func corruptPack(body []byte) {
	best, bestLen := -1, 0
	for at := 0; at+4 <= len(body); {
		n, err := strconv.ParseUint(string(body[at:at+4]), 16, 16)
		if err != nil {
			return
		}
		if n < 4 {
			at += 4 // flush, delimiter
			continue
		}
		if n > 5 && body[at+4] == 1 && int(n) > bestLen {
			best, bestLen = at+5, int(n)-5
		}
		at += int(n)
	}
	if best >= 0 && bestLen > 64 {
		body[best+bestLen/2] ^= 0xff
	}
}

func noise(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// webFiles are an app of two ConfigMaps; the second commit changes one and
// removes the other, and adds a large file so that its pack is large.
func webFiles(color string) map[string]string {
	return map[string]string{
		"apps/web/kustomization.yaml": "resources: [a.yaml, b.yaml]\n",
		"apps/web/a.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {color: " + color + "}\n",
		"apps/web/b.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
	}
}

var secondCommit = map[string]string{
	"apps/web/kustomization.yaml": "resources: [a.yaml]\n",
	"apps/web/a.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {color: red}\n",
	"blob.txt":                    noise(200_000),
}

// faultSync runs a sync of the app web from the proxy with its own cache.
func faultSync(t *testing.T, g *faultyGit, cache, ns string) (string, string, int) {
	t.Helper()
	return gitopsIn(t, "", []string{"XDG_CACHE_HOME=" + cache}, "sync", "web", "--repo", g.url(), "--path", "apps/web",
		"--dest-namespace", ns, "--inventory-namespace", ns, "--timeout", "2m")
}

// inventoryState is the app's inventory ConfigMap: its resourceVersion and
// data, to compare before and after.
func inventoryState(t *testing.T, kube kubernetes.Interface, ns string) string {
	t.Helper()
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "gitops-web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s %v %v", cm.ResourceVersion, cm.Labels, cm.Data)
}

// The Git server gone, answering 500, cutting the connection mid-pack or
// serving a corrupt pack, while the app synced before would change and
// prune with the new commit: the sync exits 1 naming the repository (no
// credentials), applies and prunes nothing, and leaves the inventory as it
// was; once the server behaves, the next sync (on the same mirror) applies
// the commit and prunes.
func TestGitServerFaultsApplyNothing(t *testing.T) {
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	for _, tc := range []struct {
		fault string
		want  []string // in the error, besides the repository
	}{
		{"gone", []string{"connection refused"}},
		{"500", []string{"500"}},
		{"cut", nil},
		{"corrupt", nil},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			ns := testcluster.Namespace(t, lc)
			cache := t.TempDir()
			g := serveFaulty(t, webFiles("blue"))
			if out, errOut, code := faultSync(t, g, cache, ns); code != 0 {
				t.Fatalf("first sync: exit %d\n%s%s", code, out, errOut)
			}
			g.push(t, secondCommit, "apps/web/b.yaml")
			before, inv := resourceVersions(t, kube, ns), inventoryState(t, kube, ns)
			uploads := g.upload

			switch tc.fault {
			case "gone":
				g.stop()
			default:
				g.set(tc.fault)
			}
			out, errOut, code := faultSync(t, g, cache, ns)
			if code != 1 {
				t.Errorf("sync with the server %s: exit %d, want 1\n%s%s", tc.fault, code, out, errOut)
			}
			if !strings.Contains(errOut, g.shown()) {
				t.Errorf("the error does not name the repository %s:\n%s", g.shown(), errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("the error does not say %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(out+errOut, faultPassword) {
				t.Errorf("the password was printed:\n%s%s", out, errOut)
			}
			if (tc.fault == "cut" || tc.fault == "corrupt") && g.upload == uploads {
				t.Errorf("no pack was served: the fault was not injected")
			}
			if after := resourceVersions(t, kube, ns); !equalMaps(before, after) {
				t.Errorf("objects written by a sync whose fetch failed:\nbefore %v\nafter  %v", before, after)
			}
			if got := inventoryState(t, kube, ns); got != inv {
				t.Errorf("inventory changed:\nbefore %s\nafter  %s", inv, got)
			}

			if tc.fault == "gone" {
				g.restart(t)
			}
			g.set("")
			out, errOut, code = faultSync(t, g, cache, ns)
			if code != 0 {
				t.Fatalf("sync once the server behaves: exit %d\n%s%s", code, out, errOut)
			}
			a, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "a", metav1.GetOptions{})
			if err != nil || a.Data["color"] != "red" {
				t.Errorf("ConfigMap a after the recovery: %v %v", a.Data, err)
			}
			if !pruned(t, kube, ns, "b") {
				t.Errorf("ConfigMap b was not pruned after the recovery")
			}
		})
	}
}

// pruned reports whether ConfigMap name is gone or being deleted (a
// foreground prune leaves it, with a deletion timestamp, until the
// garbage collector is done).
func pruned(t *testing.T, kube kubernetes.Interface, ns, name string) bool {
	t.Helper()
	cm, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return cm.DeletionTimestamp != nil
}

// mirrorOf is the one mirror in the cache.
func mirrorOf(t *testing.T, cache string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(cache, "kubectl-gitops", "repos", "*.git"))
	if len(m) != 1 {
		t.Fatalf("mirrors in the cache: %v, want one", m)
	}
	return m[0]
}

func filesUnder(t *testing.T, dir string, match func(rel string) bool) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			if match(filepath.ToSlash(rel)) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out
}

// A damaged mirror (packs garbled or truncated, pack indexes garbled,
// loose objects garbled, refs deleted, a stale lock file, stale Git ref
// locks, a half-written or empty mirror directory, a garbled config) is
// found by the next sync that needs what is damaged, which repairs it
// (fetches again, or clones afresh) and syncs the new commit: applied and
// pruned. Damage a sync does not need is repaired by the first run that
// needs it (here a render of the first commit); then git fsck passes.
func TestCorruptMirrorIsRepaired(t *testing.T) {
	kube := kubernetes.NewForConfigOrDie(lc.Config)
	garble := func(t *testing.T, files []string, truncate bool) {
		t.Helper()
		if len(files) == 0 {
			t.Fatal("nothing to damage")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if truncate {
				b = b[:len(b)/2]
			} else {
				for i := len(b) / 3; i < len(b) && i < len(b)/3+64; i++ {
					b[i] ^= 0x5a
				}
			}
			os.Chmod(f, 0o644)
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	packs := func(rel string) bool {
		return strings.HasPrefix(rel, "objects/pack/") && strings.HasSuffix(rel, ".pack")
	}
	idxs := func(rel string) bool {
		return strings.HasPrefix(rel, "objects/pack/") && strings.HasSuffix(rel, ".idx")
	}
	loose := func(rel string) bool {
		return strings.HasPrefix(rel, "objects/") && !strings.HasPrefix(rel, "objects/pack/") && !strings.HasPrefix(rel, "objects/info/")
	}
	for _, tc := range []struct {
		damage string
		do     func(t *testing.T, mirror string)
	}{
		{"packs garbled", func(t *testing.T, m string) { garble(t, filesUnder(t, m, packs), false) }},
		{"packs truncated", func(t *testing.T, m string) { garble(t, filesUnder(t, m, packs), true) }},
		{"pack indexes garbled", func(t *testing.T, m string) { garble(t, filesUnder(t, m, idxs), false) }},
		{"loose objects garbled", func(t *testing.T, m string) {
			// A fetch of the second commit first, so that there are loose
			// objects or a second pack to damage; then the sync is of
			// that commit, and its objects are the damaged ones.
			objs := filesUnder(t, m, loose)
			if len(objs) == 0 {
				objs = filesUnder(t, m, packs)
			}
			garble(t, objs, false)
		}},
		{"refs deleted", func(t *testing.T, m string) {
			os.RemoveAll(filepath.Join(m, "refs"))
			os.Remove(filepath.Join(m, "packed-refs"))
		}},
		{"stale lock files", func(t *testing.T, m string) {
			os.WriteFile(m+".lock", []byte("12345\n"), 0o644)
			os.WriteFile(filepath.Join(m, "packed-refs.lock"), []byte("garbage"), 0o644)
			os.MkdirAll(filepath.Join(m, "refs", "heads"), 0o755)
			os.WriteFile(filepath.Join(m, "refs", "heads", "main.lock"), []byte("not a hash\n"), 0o644)
			os.WriteFile(filepath.Join(m, "config.lock"), nil, 0o644)
		}},
		{"half-written mirror", func(t *testing.T, m string) {
			// What a clone killed before it wrote its config and refs leaves.
			os.Remove(filepath.Join(m, "config"))
			os.Remove(filepath.Join(m, "HEAD"))
			os.RemoveAll(filepath.Join(m, "refs"))
			os.Remove(filepath.Join(m, "packed-refs"))
		}},
		{"empty mirror directory", func(t *testing.T, m string) {
			os.RemoveAll(m)
			os.MkdirAll(filepath.Join(m, "objects", "pack"), 0o755)
		}},
		{"config garbled", func(t *testing.T, m string) {
			os.WriteFile(filepath.Join(m, "config"), []byte("[remote \"origin\"\n\turl = \x00\x01"), 0o644)
		}},
	} {
		t.Run(strings.ReplaceAll(tc.damage, " ", "-"), func(t *testing.T) {
			ns := testcluster.Namespace(t, lc)
			cache := t.TempDir()
			g := serveFaulty(t, webFiles("blue"))
			if out, errOut, code := faultSync(t, g, cache, ns); code != 0 {
				t.Fatalf("first sync: exit %d\n%s%s", code, out, errOut)
			}
			g.push(t, secondCommit, "apps/web/b.yaml")
			mirror := mirrorOf(t, cache)
			if tc.damage == "loose objects garbled" {
				// The second commit in the mirror, unsynced: a render of
				// it fetches it.
				if out, errOut, code := gitopsIn(t, "", []string{"XDG_CACHE_HOME=" + cache}, "render", "--repo", g.url(), "--path", "apps/web"); code != 0 {
					t.Fatalf("render: exit %d\n%s%s", code, out, errOut)
				}
			}
			tc.do(t, mirror)
			out, errOut, code := faultSync(t, g, cache, ns)
			if code != 0 {
				t.Fatalf("sync on a mirror with %s: exit %d\n%s%s", tc.damage, code, out, errOut)
			}
			if strings.Contains(out+errOut, faultPassword) {
				t.Errorf("the password was printed:\n%s%s", out, errOut)
			}
			a, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "a", metav1.GetOptions{})
			if err != nil || a.Data["color"] != "red" {
				t.Errorf("ConfigMap a: %v %v, want the second commit's", a.Data, err)
			}
			if !pruned(t, kube, ns, "b") {
				t.Errorf("ConfigMap b was not pruned")
			}
			// An older commit, whose objects the damage may have hit and
			// this sync did not need, renders too (the mirror is repaired
			// when it is found wanting); then the mirror is sound: git
			// itself says so.
			if out, errOut, code := gitopsIn(t, "", []string{"XDG_CACHE_HOME=" + cache}, "render", "--repo", g.url(), "--path", "apps/web", "--revision", g.first); code != 0 || !strings.Contains(out, "color: blue") {
				t.Errorf("render of the first commit: exit %d\n%s%s", code, out, errOut)
			}
			if out, err := exec.Command("git", "--git-dir", mirror, "fsck", "--no-dangling").CombinedOutput(); err != nil {
				t.Errorf("git fsck of the repaired mirror: %v\n%s", err, out)
			}
			if out, errOut, code := faultSync(t, g, cache, ns); code != 0 || bytes.Contains([]byte(errOut), []byte("repair")) {
				t.Errorf("the sync after the repair: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
}
