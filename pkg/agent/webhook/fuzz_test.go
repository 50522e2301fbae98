package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzProvider is how FuzzWebhook sends as one provider: the event header
// and the header that carries the signature or the token.
type fuzzProvider struct {
	name, eventHeader, authHeader string
	// prefix goes before the hex HMAC-SHA256 of the body; token says the
	// header carries the secret itself.
	prefix string
	token  bool
}

var fuzzProviders = []fuzzProvider{
	{name: ProviderGitHub, eventHeader: "X-GitHub-Event", authHeader: "X-Hub-Signature-256", prefix: "sha256="},
	{name: ProviderGitLab, eventHeader: "X-Gitlab-Event", authHeader: "X-Gitlab-Token", token: true},
	{name: ProviderGitea, eventHeader: "X-Gitea-Event", authHeader: "X-Gitea-Signature"},
	{name: ProviderBitbucket, eventHeader: "X-Event-Key", authHeader: "X-Hook-UUID", token: true},
	{name: ProviderBitbucketServer, eventHeader: "X-Event-Key", authHeader: "X-Hub-Signature", prefix: "sha256="},
}

// signature is what provider p sends for body under secret, computed here
// from the providers' documentation, not by the handler's code.
func (p fuzzProvider) signature(body []byte, secret string) string {
	if p.token {
		return secret
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return p.prefix + hex.EncodeToString(mac.Sum(nil))
}

type fuzzOutcome struct {
	provider string
	result   Result
	status   int
	pushes   []Push
}

func fuzzServe(limit int64, secret string, headers map[string]string, body []byte, unknownLength bool) fuzzOutcome {
	var o fuzzOutcome
	h := &Handler{
		Secrets:      Secrets{GitHub: secret, GitLab: secret, Gitea: secret, BitbucketServer: secret, BitbucketUUID: secret},
		MaxBodyBytes: limit,
		OnPush:       func(p Push) { o.pushes = append(o.pushes, p) },
		OnResult:     func(provider string, r Result) { o.provider, o.result = provider, r },
	}
	r := httptest.NewRequest(http.MethodPost, "/api/webhook", bytes.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	r.Header.Set("Content-Type", "application/json")
	if unknownLength {
		r.ContentLength = -1 // a chunked body: only reading it tells its size
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	o.status = w.Code
	return o
}

// FuzzWebhook sends any body as each provider's event, signed with the
// secret: it is never refused for its signature, and a push it accepts
// names its repository and refs (no empty or repeated ones) and matches
// an application that tracks them. The same request with one byte of the
// signature or token changed is refused as a bad signature, a body one byte
// over the limit is refused as too large (whether or not the request gives
// its length), no secret refuses every request, and none of these reaches
// OnPush.
func FuzzWebhook(f *testing.F) {
	for _, seed := range []struct {
		provider    uint8
		event, file string
	}{
		{0, "push", "github-push.json"}, {0, "push", "github-tag-push.json"}, {0, "ping", "github-ping.json"},
		{1, "Push Hook", "gitlab-push.json"}, {1, "Tag Push Hook", "gitlab-push.json"}, {1, "System Hook", "gitlab-push.json"},
		{2, "push", "gitea-push.json"}, {3, "repo:push", "bitbucket-push.json"},
		{4, "repo:refs_changed", "bitbucketserver-refs-changed.json"}, {4, "diagnostics:ping", "bitbucketserver-ping.json"},
	} {
		body, err := os.ReadFile("testdata/" + seed.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed.provider, seed.event, body, "It's a Secret to Everybody", uint16(7))
	}
	f.Add(uint8(0), "push", []byte(`{"ref":"refs/heads/main","repository":{"html_url":"https://github.com/a/b","default_branch":"main"}}`), "s", uint16(0))
	f.Add(uint8(1), "System Hook", []byte(`{"object_kind":"tag_push","ref":"refs/tags/v1","project":{"web_url":"https://gitlab.com/a/b"}}`), "{uuid}", uint16(1))
	f.Add(uint8(4), "repo:refs_changed", []byte(`{"changes":[{"ref":{"id":"refs/tags/v2","type":"TAG"}}],"repository":{"links":{"clone":[{"name":"ssh","href":"ssh://git@h:7999/p/r.git"}]}}}`), "x", uint16(2))
	f.Add(uint8(2), "push", []byte(`{"ref":"refs/heads/x"}`), "", uint16(0))
	f.Add(uint8(0), "push", []byte(`not json`), "s", uint16(3))
	f.Fuzz(func(t *testing.T, which uint8, event string, body []byte, secret string, flip uint16) {
		if len(body) > 64<<10 || len(event) > 100 || len(secret) > 100 {
			return
		}
		p := fuzzProviders[int(which)%len(fuzzProviders)]
		sig := p.signature(body, secret)
		headers := map[string]string{p.eventHeader: event, p.authHeader: sig}
		if p.name == ProviderBitbucketServer && event == "repo:push" {
			return // Bitbucket Cloud's event: that provider is chosen
		}
		const limit = 1 << 20

		if p.name == ProviderBitbucket && secret == "" && event != "repo:push" {
			return // no X-Hook-UUID and another event key: Bitbucket Server's
		}
		o := fuzzServe(limit, secret, headers, body, false)
		if event == "" {
			if o.result == ResultAccepted || len(o.pushes) > 0 {
				t.Fatalf("a request without an event accepted")
			}
			return
		}
		if o.provider != p.name {
			t.Fatalf("a %s request read as %q", p.name, o.provider)
		}
		if secret == "" {
			if o.result != ResultUnsigned || o.status != http.StatusUnauthorized || len(o.pushes) > 0 {
				t.Fatalf("no secret configured, but %s (%d), pushes %v", o.result, o.status, o.pushes)
			}
			return
		}
		switch o.result {
		case ResultAccepted:
			if o.status != http.StatusOK || len(o.pushes) != 1 {
				t.Fatalf("accepted with status %d and %d pushes", o.status, len(o.pushes))
			}
			checkPush(t, p.name, o.pushes[0])
		case ResultIgnored, ResultMalformed:
			if len(o.pushes) > 0 {
				t.Fatalf("%s, but OnPush was called", o.result)
			}
		default:
			t.Fatalf("a %s %q event signed with the secret: %s (%d)", p.name, event, o.result, o.status)
		}

		// One byte of the signature changed.
		bad := []byte(sig)
		if len(bad) > 0 {
			bad[int(flip)%len(bad)] ^= 1
			if p.token || !strings.EqualFold(string(bad), sig) {
				headers[p.authHeader] = string(bad)
				if o := fuzzServe(limit, secret, headers, body, false); o.result != ResultBadSignature || o.status != http.StatusUnauthorized || len(o.pushes) > 0 {
					t.Fatalf("signature %q for %q: %s (%d), pushes %v", bad, sig, o.result, o.status, o.pushes)
				}
				headers[p.authHeader] = sig
			}
		}

		// One byte over the limit.
		if len(body) > 1 { // a limit of 0 is the default
			for _, unknown := range []bool{false, true} {
				if o := fuzzServe(int64(len(body)-1), secret, headers, body, unknown); o.result != ResultTooLarge || o.status != http.StatusRequestEntityTooLarge || len(o.pushes) > 0 {
					t.Fatalf("%d bytes over a limit of %d (length unknown: %v): %s (%d)", len(body), len(body)-1, unknown, o.result, o.status)
				}
			}
		}
	})
}

// checkPush: a push names its provider, its repository and refs, each once
// and none empty, and matches an application tracking any of them.
func checkPush(t *testing.T, provider string, p Push) {
	t.Helper()
	if p.Provider != provider || len(p.Repos) == 0 || len(p.Revisions) == 0 {
		t.Fatalf("accepted push %+v", p)
	}
	for _, l := range [][]string{p.Repos, p.Revisions} {
		for i, s := range l {
			if s == "" || slices.Contains(l[:i], s) {
				t.Fatalf("empty or repeated entry in %q", l)
			}
		}
	}
	if p.Commit != "" && strings.Trim(p.Commit, "0") == "" {
		t.Fatalf("a deleted ref's zero commit %q given as the commit", p.Commit)
	}
	for _, u := range p.Repos {
		if !SameRepo(u, u) {
			continue // names nothing SameRepo compares (a bare "/")
		}
		for _, rev := range p.Revisions {
			if isCommitSHA(rev) || rev == "HEAD" || strings.HasPrefix(rev, "refs/") {
				continue
			}
			if !p.Matches(u, rev) {
				t.Fatalf("push %+v does not match %s at %s", p, u, rev)
			}
			if !p.Matches(strings.ToUpper(u), "refs/heads/"+rev) {
				t.Fatalf("push %+v does not match %s at its full ref", p, strings.ToUpper(u))
			}
		}
	}
}

// wellFormedURL matches the URL forms git hosts give (scheme://host/path,
// user@host:path, a local path), the ones whose trailing slash and .git
// suffix are sure to be only that.
var wellFormedURL = regexp.MustCompile(`^((https?|ssh|git)://([A-Za-z0-9._~-]+(:[^@/]*)?@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(:[0-9]+)?|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:)?/?[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*/?$`)

// FuzzSameRepo: SameRepo is symmetric and matches a URL with itself
// whenever it matches it with anything; for well-formed URLs it ignores
// case, a trailing slash and a .git suffix.
func FuzzSameRepo(f *testing.F) {
	for _, s := range [][2]string{
		{"https://github.com/argoproj/argocd-example-apps", "git@github.com:argoproj/argocd-example-apps.git"},
		{"https://github.com/a/b.git", "ssh://git@ssh.github.com:443/a/b"},
		{"https://gitlab.com/group/sub/project", "ssh://git@altssh.gitlab.com:443/group/sub/project.git"},
		{"https://bitbucket.org/team/repo", "https://user:token@bitbucket.org/team/repo/"},
		{"ssh://git@[::1]:2222/r.git", "git@[::1]:r"},
		{"/srv/git/repo.git", "/srv/git/repo"},
		{"https://github.com/a/b", "https://github.com/a/c"},
		{"", ""},
		{"https://h/", "h:"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 1000 || len(b) > 1000 {
			return
		}
		same := SameRepo(a, b)
		if same != SameRepo(b, a) {
			t.Fatalf("SameRepo(%q, %q) = %v, not symmetric", a, b, same)
		}
		if same && (!SameRepo(a, a) || !SameRepo(b, b)) {
			t.Fatalf("%q and %q the same repository, but not each itself", a, b)
		}
		if !SameRepo(a, a) {
			return
		}
		if !SameRepo(a, strings.ToUpper(a)) && strings.ToLower(strings.ToUpper(a)) == strings.ToLower(a) {
			t.Fatalf("%q is not the same as in upper case", a)
		}
		if a := strings.TrimSpace(a); wellFormedURL.MatchString(a) {
			if !SameRepo(a, a+"/") {
				t.Fatalf("%q is not the same with a trailing slash", a)
			}
			if !strings.HasSuffix(strings.TrimRight(a, "/"), ".git") && !SameRepo(a, strings.TrimRight(a, "/")+".git") {
				t.Fatalf("%q is not the same with .git", a)
			}
		}
	})
}
