package gitpush

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/source"
)

// Ten pushers race to one branch, each setting its own app's tag: every
// one lands, once, on a linear history.
func TestConcurrentPushes(t *testing.T) {
	const n = 10
	s := newServer(t, n)
	results := make([]*Result, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := remoteOptions(s, t)
			o.Retries = 20
			o.Message = fmt.Sprintf("svc-%d: v2", i)
			<-start
			results[i], errs[i] = Run(bg, o, setTag(i, "v2"))
		}()
	}
	close(start)
	wg.Wait()

	attempts := map[int]int{}
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Errorf("pusher %d: %v", i, errs[i])
			continue
		}
		r := results[i]
		attempts[r.Attempts]++
		if r.Commit == "" || r.Branch != "main" || !cmp.Equal(r.Files, []string{appFile(i)}) {
			t.Errorf("pusher %d: result %+v", i, r)
		}
	}
	var counts []int
	total := 0
	for a, count := range attempts {
		counts = append(counts, a)
		total += a * count
	}
	sort.Ints(counts)
	var dist []string
	for _, a := range counts {
		dist = append(dist, fmt.Sprintf("%d attempt(s): %d", a, attempts[a]))
	}
	t.Logf("pushers by attempts: %s (%d pushes in all)", strings.Join(dist, ", "), total)
	if attempts[1] == 0 {
		t.Error("no pusher landed on its first attempt")
	}
	if t.Failed() {
		return
	}

	tip := s.tip(t, "main")
	history := s.history(t, tip, s.Seed)
	if len(history) != n {
		t.Fatalf("%d new commits on main, want %d", len(history), n)
	}
	pushed := map[string]bool{}
	for _, r := range results {
		pushed[r.Commit] = true
	}
	seen := map[string]bool{}
	for _, c := range history {
		if !pushed[c.Hash.String()] {
			t.Errorf("commit %s on main is none of the results", c.Hash)
		}
		files := touched(t, c)
		if len(files) != 1 {
			t.Errorf("commit %s (%q) touches %v, want one file", c.Hash, c.Message, files)
			continue
		}
		if seen[files[0]] {
			t.Errorf("two commits touch %s", files[0])
		}
		seen[files[0]] = true
	}
	for i := 0; i < n; i++ {
		if got := s.file(t, tip, appFile(i)); got != kustomization(i, "v2") {
			t.Errorf("%s at the tip:\n%s", appFile(i), got)
		}
	}
}

// With every retry rejected too, Run gives up after 1+Retries attempts and
// names the remote and the count.
func TestRetriesRunOut(t *testing.T) {
	s := newServer(t, 2)
	o := remoteOptions(s, t)
	o.Retries = 2
	other := 0
	_, err := Run(bg, o, func(root string) ([]string, error) {
		// Someone else pushes between each fetch and push.
		other++
		s.pushFrom(t, "other", map[string]string{appFile(1): kustomization(1, fmt.Sprintf("o%d", other))})
		return setTag(0, "v2")(root)
	})
	if !errors.Is(err, ErrNonFastForward) || !strings.Contains(err.Error(), s.URL) || !strings.Contains(err.Error(), "rejected on each of 3 attempts") {
		t.Fatalf("got %v", err)
	}
	if other != 3 {
		t.Errorf("the edit ran %d times, want 3", other)
	}
	if got := s.file(t, s.tip(t, "main"), appFile(0)); got != kustomization(0, "v1") {
		t.Errorf("app 0 changed on the server:\n%s", got)
	}
}

// An edit that finds the change made already commits and pushes nothing.
func TestNothingChanged(t *testing.T) {
	s := newServer(t, 1)
	for name, edit := range map[string]Edit{
		"no paths":       setTag(0, "v1"),
		"same content":   func(string) ([]string, error) { return []string{appFile(0)}, nil },
		"absent deleted": func(string) ([]string, error) { return []string{"apps/none.yaml"}, nil },
	} {
		t.Run(name, func(t *testing.T) {
			res, err := Run(bg, remoteOptions(s, t), edit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&Result{Branch: "main"}, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if tip := s.tip(t, "main"); tip != s.Seed {
				t.Errorf("main moved to %s", tip)
			}
		})
	}
}

// A token in the URL works as in Auth, and never reaches the clone's
// .git/config (setTag checks). A wrong token, in Auth or in the URL, fails
// naming the remote without the token; a token that may fetch but not push
// fails on the first push, for good.
func TestCredentials(t *testing.T) {
	s := newServer(t, 3)
	const wrong = "ghp_wr0ng-t0ken-0123456789abcdef"
	in := func(userinfo string) string { return strings.Replace(s.URL, "://", "://"+userinfo+"@", 1) }
	for i, tt := range []struct {
		name, repo, token, want string
		runs                    int
	}{
		{"token as URL user", in(writeToken), "", "", 1},
		{"token as URL password", in("x-access-token:" + writeToken), "", "", 1},
		{"wrong token", s.URL, wrong, "clone " + s.URL + ": authentication required", 0},
		{"wrong token as URL user", in(wrong), "", "clone " + s.URL + ": authentication required", 0},
		{"wrong token as URL password", in("git:" + wrong), "", "clone " + s.URL + ": authentication required", 0},
		{"Auth's token wins over the URL's", in("git:" + writeToken), wrong, "clone " + s.URL + ": authentication required", 0},
		{"read-only token", s.URL, readToken, "push to " + s.URL + " (branch main): authorization failed: this token may not push; the credentials were refused", 1},
		{"read-only token in the URL", in("git:" + readToken), "", "push to " + s.URL + " (branch main): authorization failed", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.tip(t, "main")
			o := remoteOptions(s, t)
			o.Repo, o.Auth = tt.repo, source.Auth{Token: tt.token}
			runs := 0
			edit := setTag(i%3, fmt.Sprintf("v%d", i+2))
			res, err := Run(bg, o, func(root string) ([]string, error) { runs++; return edit(root) })
			if runs != tt.runs {
				t.Errorf("the edit ran %d times, want %d", runs, tt.runs)
			}
			if left, _ := os.ReadDir(o.CacheDir); len(left) != 0 {
				t.Errorf("the clone was left in the cache: %v", left)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tip := s.tip(t, "main"); tip != res.Commit {
					t.Errorf("main at %s, want %s", tip, res.Commit)
				}
				return
			}
			if err == nil {
				t.Fatalf("pushed: %+v", res)
			}
			for _, secret := range []string{wrong, readToken, writeToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error holds a token: %v", err)
				}
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant it to hold %q", err, tt.want)
			}
			if tip := s.tip(t, "main"); tip != before {
				t.Errorf("main moved to %s", tip)
			}
		})
	}
}

// A pre-receive hook's refusal is final: one attempt, and its message.
func TestHookRejectionIsFinal(t *testing.T) {
	s := newServer(t, 1)
	hook := filepath.Join(s.bare, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'policy: main is frozen' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	o := remoteOptions(s, t)
	runs := 0
	edit := setTag(0, "v2")
	_, err := Run(bg, o, func(root string) ([]string, error) { runs++; return edit(root) })
	if err == nil || errors.Is(err, ErrNonFastForward) {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{"push to " + s.URL + " (branch main)", "pre-receive hook declined", "policy: main is frozen"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant it to hold %q", err, want)
		}
	}
	if runs != 1 {
		t.Errorf("%d attempts, want 1", runs)
	}
	if tip := s.tip(t, "main"); tip != s.Seed {
		t.Errorf("main moved to %s", tip)
	}
}

// A pull-request branch: a new one is created from Branch; one that exists
// already gets the edit again on its tip.
func TestPushBranch(t *testing.T) {
	s := newServer(t, 2)
	o := remoteOptions(s, t)
	o.PushBranch = "promote/svc-0"
	res, err := Run(bg, o, setTag(0, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Branch != "promote/svc-0" || res.Attempts != 1 || s.tip(t, "promote/svc-0") != res.Commit || s.tip(t, "main") != s.Seed {
		t.Fatalf("result %+v; promote/svc-0 at %s, main at %s", res, s.tip(t, "promote/svc-0"), s.tip(t, "main"))
	}
	first := res.Commit

	// main moves on; a second promotion to the same branch builds on it.
	s.pushFrom(t, "other", map[string]string{appFile(1): kustomization(1, "v9")})
	res, err = Run(bg, o, setTag(0, "v3"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Attempts != 2 {
		t.Errorf("%d attempts, want 2 (the branch existed)", res.Attempts)
	}
	c := s.commit(t, s.tip(t, "promote/svc-0"))
	if c.Hash.String() != res.Commit || c.ParentHashes[0].String() != first {
		t.Errorf("promote/svc-0 at %s (parent %v), want %s on %s", c.Hash, c.ParentHashes, res.Commit, first)
	}
	if got := s.file(t, res.Commit, appFile(0)); got != kustomization(0, "v3") {
		t.Errorf("app 0 on the branch:\n%s", got)
	}
}

// A signing key signs the commit pushed, verifiably.
func TestSignedCommit(t *testing.T) {
	s := newServer(t, 1)
	key, err := openpgp.NewEntity("ci", "", "ci@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var public bytes.Buffer
	w, err := armor.Encode(&public, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()

	o := remoteOptions(s, t)
	o.SignKey = key
	res, err := Run(bg, o, setTag(0, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	c := s.commit(t, s.tip(t, "main"))
	if c.Hash.String() != res.Commit || c.PGPSignature == "" {
		t.Fatalf("main at %s, signature %q; want %s signed", c.Hash, c.PGPSignature, res.Commit)
	}
	signer, err := c.Verify(public.String())
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if signer.PrimaryKey.KeyId != key.PrimaryKey.KeyId {
		t.Errorf("signed by %X, want %X", signer.PrimaryKey.KeyId, key.PrimaryKey.KeyId)
	}
	// Another key does not verify it.
	other, err := openpgp.NewEntity("other", "", "other@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var otherPublic bytes.Buffer
	w, _ = armor.Encode(&otherPublic, openpgp.PublicKeyType, nil)
	other.Serialize(w)
	w.Close()
	if _, err := c.Verify(otherPublic.String()); err == nil {
		t.Error("another key verifies the signature")
	}
}

// Transport and Scrub, the helpers of pkg/source that Run relies on for
// keeping credentials out of stored URLs and errors.
func TestTransportAndScrub(t *testing.T) {
	const token = "ghp_s3cr3t/t0ken+0123456789"
	for _, tt := range []struct {
		repo    string
		auth    source.Auth
		wantURL string
	}{
		{"https://git.example/c.git", source.Auth{Token: token}, "https://git.example/c.git"},
		{"https://" + url.PathEscape(token) + "@git.example/c.git", source.Auth{}, "https://git.example/c.git"},
		{"https://git:" + url.PathEscape(token) + "@git.example/c.git", source.Auth{}, "https://git.example/c.git"},
	} {
		url, auth, err := source.Transport(tt.repo, tt.auth)
		if err != nil || url != tt.wantURL || auth == nil {
			t.Errorf("Transport(%s) = %s, %v, %v; want %s and basic auth", source.RedactURL(tt.repo), url, auth, err, tt.wantURL)
			continue
		}
		leaky := fmt.Errorf("push %s: %s %s %s", tt.repo, token, strings.ReplaceAll(token, "/", "%2F"), "Z2l0OmdocF9zM2NyM3QvdDBrZW4rMDEyMzQ1Njc4OQ==")
		got := source.Scrub(leaky, tt.repo, source.Auth{Token: token}).Error()
		if strings.Contains(got, token) || strings.Contains(got, "t0ken") || strings.Contains(got, "Z2l0OmdocF9") {
			t.Errorf("Scrub left a secret: %s", got)
		}
	}
	if url, auth, err := source.Transport("http://git.example/c.git", source.Auth{}); err != nil || url != "http://git.example/c.git" || auth != nil {
		t.Errorf("no credentials: %s, %v, %v", url, auth, err)
	}
	// A password with an unescaped / makes no URL: refused, unshown.
	unparsed := "https://git:" + token + "@git.example/c.git"
	o := DefaultOptions()
	o.Repo, o.Message, o.Author = unparsed, "m", object.Signature{Name: "a", Email: "a@example.com"}
	_, err := Run(bg, o, setTag(0, "v2"))
	if err == nil || strings.Contains(err.Error(), "t0ken") || !strings.Contains(err.Error(), "repository URL https://... does not parse") {
		t.Errorf("unparsed URL: %v", err)
	}
}
