package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	gitHubSecret = "gh-s3cret-value"
	gitLabToken  = "gl-t0ken-value"
	giteaSecret  = "gitea-s3cret-value"
	bbsSecret    = "bbs-s3cret-value"
	bbUUID       = "{4f6f5c2e-1b0d-4e8a-9c3f-2a7b6d5e4c3b}"
)

var allSecrets = Secrets{GitHub: gitHubSecret, GitLab: gitLabToken, Gitea: giteaSecret, BitbucketServer: bbsSecret, BitbucketUUID: bbUUID}

// signer sets the headers that authenticate body under secret.
type signer func(h http.Header, body []byte, secret string)

func hexMAC(body []byte, secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// signGitHub sets both signatures GitHub sends; only the SHA-256 one counts.
func signGitHub(h http.Header, body []byte, secret string) {
	h.Set("X-Hub-Signature-256", "sha256="+hexMAC(body, secret))
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	h.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(m.Sum(nil)))
}

// signGitea sets the three signatures Gitea sends; only X-Gitea-Signature
// counts.
func signGitea(h http.Header, body []byte, secret string) {
	mac := hexMAC(body, secret)
	h.Set("X-Gitea-Signature", mac)
	h.Set("X-Gogs-Signature", mac)
	h.Set("X-Hub-Signature-256", "sha256="+mac)
}

func signBitbucketServer(h http.Header, body []byte, secret string) {
	h.Set("X-Hub-Signature", "sha256="+hexMAC(body, secret))
}

func token(header string) signer {
	return func(h http.Header, _ []byte, secret string) { h.Set(header, secret) }
}

// provider is one sender's push: its fixture, the headers it sends, how it
// signs, and the Push it comes to.
type provider struct {
	name    string
	fixture string
	headers map[string]string
	sign    signer
	secret  string
	// noSecret is Secrets with this provider's secret empty.
	noSecret Secrets
	want     Push
}

var (
	gitHubHeaders = map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
		"X-GitHub-Hook-ID": "498123177", "User-Agent": "GitHub-Hookshot/044aadd", "Content-Type": "application/json"}
	giteaHeaders = map[string]string{"X-Gitea-Event": "push", "X-Gitea-Event-Type": "push", "X-Gitea-Delivery": "5e6c3a8b-2d1f-4e0a-9b7c-6d5e4f3a2b1c",
		"X-GitHub-Event": "push", "X-GitHub-Delivery": "5e6c3a8b-2d1f-4e0a-9b7c-6d5e4f3a2b1c", "X-Gogs-Event": "push",
		"X-Gogs-Delivery": "5e6c3a8b-2d1f-4e0a-9b7c-6d5e4f3a2b1c", "User-Agent": "Go-http-client/1.1", "Content-Type": "application/json"}
	gitLabHeaders = map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
		"X-Gitlab-Instance": "https://gitlab.example.com", "User-Agent": "GitLab/18.2.1", "Content-Type": "application/json"}
	bitbucketHeaders = map[string]string{"X-Event-Key": "repo:push", "X-Request-UUID": "afa8c4e0-3b5a-4c1d-8e9f-0a1b2c3d4e5f",
		"X-Attempt-Number": "1", "User-Agent": "Bitbucket-Webhooks/2.0", "Content-Type": "application/json"}
	bitbucketServerHeaders = map[string]string{"X-Event-Key": "repo:refs_changed", "X-Request-Id": "7a3c4b2e-9f1d-4e6a-8b5c-3d2e1f0a9b8c",
		"User-Agent": "Atlassian HttpClient 4.2.0 / Bitbucket-9.4.3", "Content-Type": "application/json; charset=utf-8"}
)

var providers = []provider{{
	name: ProviderGitHub, fixture: "github-push.json", headers: gitHubHeaders, sign: signGitHub, secret: gitHubSecret,
	noSecret: Secrets{GitLab: gitLabToken, Gitea: giteaSecret, BitbucketServer: bbsSecret, BitbucketUUID: bbUUID},
	want: Push{
		Provider:      ProviderGitHub,
		Repos:         []string{"https://github.com/octo-org/app-config", "https://github.com/octo-org/app-config.git", "git@github.com:octo-org/app-config.git"},
		Revisions:     []string{"main"},
		DefaultBranch: "main",
		Commit:        "2ee1b2bd4c2bd4ee4b43b8bbd2cbd9f4b6f0a4f7",
	},
}, {
	name: ProviderGitLab, fixture: "gitlab-push.json", headers: gitLabHeaders, sign: token("X-Gitlab-Token"), secret: gitLabToken,
	noSecret: Secrets{GitHub: gitHubSecret, Gitea: giteaSecret, BitbucketServer: bbsSecret, BitbucketUUID: bbUUID},
	want: Push{
		Provider:      ProviderGitLab,
		Repos:         []string{"https://gitlab.example.com/platform/Deploy", "https://gitlab.example.com/platform/Deploy.git", "git@gitlab.example.com:platform/Deploy.git"},
		Revisions:     []string{"release/2026.08"},
		DefaultBranch: "main",
		Commit:        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
	},
}, {
	name: ProviderGitea, fixture: "gitea-push.json", headers: giteaHeaders, sign: signGitea, secret: giteaSecret,
	noSecret: Secrets{GitHub: gitHubSecret, GitLab: gitLabToken, BitbucketServer: bbsSecret, BitbucketUUID: bbUUID},
	want: Push{
		Provider:      ProviderGitea,
		Repos:         []string{"https://gitea.example.com/ops/cluster-config", "https://gitea.example.com/ops/cluster-config.git", "ssh://git@gitea.example.com:2222/ops/cluster-config.git"},
		Revisions:     []string{"main"},
		DefaultBranch: "main",
		Commit:        "7d8c5e4b2f1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d",
	},
}, {
	name: ProviderBitbucket, fixture: "bitbucket-push.json", headers: bitbucketHeaders, sign: token("X-Hook-UUID"), secret: bbUUID,
	noSecret: Secrets{GitHub: gitHubSecret, GitLab: gitLabToken, Gitea: giteaSecret, BitbucketServer: bbsSecret},
	want: Push{
		Provider:  ProviderBitbucket,
		Repos:     []string{"https://bitbucket.org/acme/gitops"},
		Revisions: []string{"main", "old-experiment"},
		Commit:    "b7b9d2a1a5b6d0f1c1e6a2e2d0c4b1f6a9e8d7c6",
	},
}, {
	name: ProviderBitbucketServer, fixture: "bitbucketserver-refs-changed.json", headers: bitbucketServerHeaders, sign: signBitbucketServer, secret: bbsSecret,
	noSecret: Secrets{GitHub: gitHubSecret, GitLab: gitLabToken, Gitea: giteaSecret, BitbucketUUID: bbUUID},
	want: Push{
		Provider:  ProviderBitbucketServer,
		Repos:     []string{"ssh://git@bitbucket.example.com:7999/ops/platform-config.git", "https://bitbucket.example.com/scm/ops/platform-config.git"},
		Revisions: []string{"main", "v2.3.0"},
		Commit:    "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
	},
}}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newRequest(method string, body []byte, headers map[string]string) *http.Request {
	r := httptest.NewRequest(method, "/api/webhook", bytes.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return r
}

// served is what one request came to.
type served struct {
	status  int
	body    string
	pushes  []Push
	results []string // "provider result", one per OnResult call
}

func serve(s Secrets, maxBody int64, r *http.Request) served {
	var got served
	h := &Handler{
		Secrets:      s,
		MaxBodyBytes: maxBody,
		OnPush:       func(p Push) { got.pushes = append(got.pushes, p) },
		OnResult:     func(provider string, res Result) { got.results = append(got.results, provider+" "+string(res)) },
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	got.status, got.body = w.Code, w.Body.String()
	return got
}

// check compares the outcome of a refused or ignored request: its status,
// its one result, no push, and a response that repeats neither a secret nor
// the body.
func check(t *testing.T, got served, status int, result string, body []byte) {
	t.Helper()
	if got.status != status {
		t.Errorf("status = %d, want %d (response %q)", got.status, status, got.body)
	}
	if diff := cmp.Diff([]string{result}, got.results); diff != "" {
		t.Errorf("OnResult calls (-want +got):\n%s", diff)
	}
	if len(got.pushes) != 0 {
		t.Errorf("OnPush called with %+v, want no call", got.pushes)
	}
	checkResponse(t, got, body)
}

func checkResponse(t *testing.T, got served, body []byte) {
	t.Helper()
	for _, s := range []string{gitHubSecret, gitLabToken, giteaSecret, bbsSecret, bbUUID} {
		if strings.Contains(got.body, s) {
			t.Errorf("response %q repeats a secret", got.body)
		}
	}
	if len(body) > 8 && strings.Contains(got.body, string(body[:8])) {
		t.Errorf("response %q repeats the body", got.body)
	}
	if len(got.body) > 200 || strings.Contains(strings.TrimSuffix(got.body, "\n"), "\n") {
		t.Errorf("response %q is not one short line", got.body)
	}
}

func TestPushAccepted(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			body := fixture(t, p.fixture)
			r := newRequest(http.MethodPost, body, p.headers)
			p.sign(r.Header, body, p.secret)
			got := serve(allSecrets, 0, r)
			if got.status != http.StatusOK {
				t.Errorf("status = %d, want 200 (response %q)", got.status, got.body)
			}
			if diff := cmp.Diff([]string{p.name + " accepted"}, got.results); diff != "" {
				t.Errorf("OnResult calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Push{p.want}, got.pushes); diff != "" {
				t.Errorf("OnPush calls (-want +got):\n%s", diff)
			}
			checkResponse(t, got, body)
		})
	}
}

func TestPushRefused(t *testing.T) {
	malformed := []byte(`{"ref": "refs/heads/main", "repository": `)
	for _, p := range providers {
		body := fixture(t, p.fixture)
		tests := []struct {
			name    string
			secrets Secrets
			body    []byte
			sign    signer // nil: unsigned
			secret  string // signs with
			maxBody int64
			stream  bool // no Content-Length
			status  int
			result  Result
		}{
			{name: "missing signature", secrets: allSecrets, body: body, status: 401, result: ResultUnsigned},
			{name: "wrong signature", secrets: allSecrets, body: body, sign: p.sign, secret: "wrong-" + p.secret, status: 401, result: ResultBadSignature},
			{name: "no secret configured", secrets: p.noSecret, body: body, sign: p.sign, secret: p.secret, status: 401, result: ResultUnsigned},
			{name: "too large", secrets: allSecrets, body: body, sign: p.sign, secret: p.secret, maxBody: int64(len(body)) - 1, status: 413, result: ResultTooLarge},
			{name: "too large streamed", secrets: allSecrets, body: body, sign: p.sign, secret: p.secret, maxBody: int64(len(body)) - 1, stream: true, status: 413, result: ResultTooLarge},
			{name: "malformed JSON", secrets: allSecrets, body: malformed, sign: p.sign, secret: p.secret, status: 400, result: ResultMalformed},
			{name: "empty body", secrets: allSecrets, body: nil, sign: p.sign, secret: p.secret, status: 400, result: ResultMalformed},
		}
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				r := newRequest(http.MethodPost, tt.body, p.headers)
				if tt.sign != nil {
					tt.sign(r.Header, tt.body, tt.secret)
				}
				if tt.stream {
					r.ContentLength = -1
				}
				got := serve(tt.secrets, tt.maxBody, r)
				check(t, got, tt.status, p.name+" "+string(tt.result), tt.body)
			})
		}
	}
}

func TestPushLimitInclusive(t *testing.T) {
	p := providers[0]
	body := fixture(t, p.fixture)
	r := newRequest(http.MethodPost, body, p.headers)
	p.sign(r.Header, body, p.secret)
	r.ContentLength = -1
	if got := serve(allSecrets, int64(len(body)), r); got.status != http.StatusOK || len(got.pushes) != 1 {
		t.Errorf("a body of exactly MaxBodyBytes: status %d, %d pushes; want 200 and one push", got.status, len(got.pushes))
	}
}

// unread fails the test when the handler reads it.
type unread struct{ t *testing.T }

func (u unread) Read([]byte) (int, error) {
	u.t.Error("the body was read")
	return 0, io.EOF
}

// TestNotRead checks that what the headers refuse is refused before the
// body is read.
func TestNotRead(t *testing.T) {
	tests := []struct {
		name          string
		headers       map[string]string
		contentLength int64
		result        string
	}{
		{"declared too large", with(gitHubHeaders, "X-Hub-Signature-256", "sha256=00"), 1 << 20, "github too_large"},
		{"unsigned", gitHubHeaders, 100, "github unsigned"},
		{"wrong token", with(gitLabHeaders, "X-Gitlab-Token", "wrong"), 100, "gitlab bad_signature"},
		{"unknown provider", nil, 100, " unknown_provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(http.MethodPost, nil, tt.headers)
			r.Body, r.ContentLength = io.NopCloser(unread{t}), tt.contentLength
			if got := serve(allSecrets, 1000, r); !slices.Equal(got.results, []string{tt.result}) {
				t.Errorf("OnResult calls %q, want [%q]", got.results, tt.result)
			}
		})
	}
}

func TestAllowUnsigned(t *testing.T) {
	for _, p := range providers {
		t.Run(p.name, func(t *testing.T) {
			body := fixture(t, p.fixture)
			s := p.noSecret
			s.AllowUnsigned = true
			got := serve(s, 0, newRequest(http.MethodPost, body, p.headers))
			if got.status != http.StatusOK {
				t.Errorf("status = %d, want 200 (response %q)", got.status, got.body)
			}
			if diff := cmp.Diff([]string{p.name + " accepted"}, got.results); diff != "" {
				t.Errorf("OnResult calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]Push{p.want}, got.pushes); diff != "" {
				t.Errorf("OnPush calls (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a configured secret is still required", func(t *testing.T) {
		s := allSecrets
		s.AllowUnsigned = true
		body := fixture(t, "github-push.json")
		check(t, serve(s, 0, newRequest(http.MethodPost, body, gitHubHeaders)), 401, "github unsigned", body)
	})
}

// with returns headers with the given keys set, or removed when the value
// is "".
func with(headers map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range headers {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func TestOtherRequests(t *testing.T) {
	gitHubPush := fixture(t, "github-push.json")
	tests := []struct {
		name    string
		method  string
		headers map[string]string
		body    []byte
		sign    signer
		secret  string
		status  int
		result  string
	}{
		{name: "GET", method: http.MethodGet, headers: gitHubHeaders, status: 405, result: "github method_not_allowed"},
		{name: "GET without headers", method: http.MethodGet, status: 405, result: " method_not_allowed"},
		{name: "PUT", method: http.MethodPut, headers: gitHubHeaders, body: gitHubPush, sign: signGitHub, secret: gitHubSecret, status: 405, result: "github method_not_allowed"},
		{name: "no provider headers", headers: map[string]string{"Content-Type": "application/json"}, body: gitHubPush, status: 400, result: " unknown_provider"},
		{name: "Gogs", headers: map[string]string{"X-Gogs-Event": "push", "X-GitHub-Event": "push"}, body: gitHubPush, status: 400, result: " unknown_provider"},
		{name: "GitHub ping", headers: with(gitHubHeaders, "X-GitHub-Event", "ping"), body: fixture(t, "github-ping.json"),
			sign: signGitHub, secret: gitHubSecret, status: 200, result: "github ignored"},
		{name: "GitHub ping with a wrong signature", headers: with(gitHubHeaders, "X-GitHub-Event", "ping"), body: fixture(t, "github-ping.json"),
			sign: signGitHub, secret: "wrong", status: 401, result: "github bad_signature"},
		{name: "GitHub issues event", headers: with(gitHubHeaders, "X-GitHub-Event", "issues"), body: []byte(`{"action":"opened","issue":{"number":7}}`),
			sign: signGitHub, secret: gitHubSecret, status: 200, result: "github ignored"},
		{name: "GitHub signature not hex", headers: gitHubHeaders, body: gitHubPush,
			sign: func(h http.Header, _ []byte, _ string) { h.Set("X-Hub-Signature-256", "sha256=zz") }, status: 401, result: "github bad_signature"},
		{name: "GitHub SHA-1 signature only", headers: gitHubHeaders, body: gitHubPush,
			sign: func(h http.Header, b []byte, s string) { signGitHub(h, b, s); h.Del("X-Hub-Signature-256") }, secret: gitHubSecret, status: 401, result: "github unsigned"},
		{name: "GitHub signature without its prefix", headers: gitHubHeaders, body: gitHubPush,
			sign: func(h http.Header, b []byte, s string) { h.Set("X-Hub-Signature-256", hexMAC(b, s)) }, secret: gitHubSecret, status: 401, result: "github bad_signature"},
		{name: "GitHub form-encoded", headers: with(gitHubHeaders, "Content-Type", "application/x-www-form-urlencoded"), body: []byte("payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D"),
			sign: signGitHub, secret: gitHubSecret, status: 400, result: "github malformed"},
		{name: "Bitbucket Server ping", headers: with(bitbucketServerHeaders, "X-Event-Key", "diagnostics:ping"), body: fixture(t, "bitbucketserver-ping.json"),
			sign: signBitbucketServer, secret: bbsSecret, status: 200, result: "bitbucketserver ignored"},
		{name: "Bitbucket Server short signature", headers: bitbucketServerHeaders, body: fixture(t, "bitbucketserver-refs-changed.json"),
			sign: func(h http.Header, _ []byte, _ string) { h.Set("X-Hub-Signature", "sha") }, status: 401, result: "bitbucketserver bad_signature"},
		{name: "Bitbucket Server SHA-1 signature", headers: bitbucketServerHeaders, body: fixture(t, "bitbucketserver-refs-changed.json"),
			sign: func(h http.Header, b []byte, s string) { h.Set("X-Hub-Signature", "sha1="+hexMAC(b, s)) }, secret: bbsSecret, status: 401, result: "bitbucketserver bad_signature"},
		{name: "Bitbucket Cloud without X-Event-Key", headers: with(bitbucketHeaders, "X-Event-Key", ""), body: fixture(t, "bitbucket-push.json"),
			sign: token("X-Hook-UUID"), secret: bbUUID, status: 400, result: "bitbucket malformed"},
		{name: "Bitbucket Cloud pull request", headers: with(bitbucketHeaders, "X-Event-Key", "pullrequest:created"), body: []byte(`{"pullrequest":{"id":3}}`),
			sign: token("X-Hook-UUID"), secret: bbUUID, status: 200, result: "bitbucket ignored"},
		{name: "GitLab merge request", headers: with(gitLabHeaders, "X-Gitlab-Event", "Merge Request Hook"), body: []byte(`{"object_kind":"merge_request"}`),
			sign: token("X-Gitlab-Token"), secret: gitLabToken, status: 200, result: "gitlab ignored"},
		{name: "GitLab system hook, not a push", headers: with(gitLabHeaders, "X-Gitlab-Event", "System Hook"), body: []byte(`{"event_name":"project_create","object_kind":"project_create"}`),
			sign: token("X-Gitlab-Token"), secret: gitLabToken, status: 200, result: "gitlab ignored"},
		{name: "GitLab token of another length", headers: gitLabHeaders, body: fixture(t, "gitlab-push.json"),
			sign: token("X-Gitlab-Token"), secret: gitLabToken + "x", status: 401, result: "gitlab bad_signature"},
		{name: "GitHub push naming no repository", headers: gitHubHeaders, body: []byte(`{"ref":"refs/heads/main","after":"2ee1b2bd4c2bd4ee4b43b8bbd2cbd9f4b6f0a4f7"}`),
			sign: signGitHub, secret: gitHubSecret, status: 400, result: "github malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := newRequest(method, tt.body, tt.headers)
			if tt.sign != nil {
				tt.sign(r.Header, tt.body, tt.secret)
			}
			got := serve(allSecrets, 0, r)
			check(t, got, tt.status, tt.result, tt.body)
		})
	}
}

func TestMethodNotAllowedHeader(t *testing.T) {
	w := httptest.NewRecorder()
	(&Handler{}).ServeHTTP(w, newRequest(http.MethodGet, nil, gitHubHeaders))
	if got := w.Header().Get("Allow"); got != http.MethodPost {
		t.Errorf("Allow = %q, want POST", got)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
}

// TestEventVariants checks the pushes that come in other shapes than the
// providers table's: a GitHub tag, a GitLab tag and system hook, a
// Bitbucket Cloud push without its UUID.
func TestEventVariants(t *testing.T) {
	gitLabPush := fixture(t, "gitlab-push.json")
	gitLabTag := bytes.Replace(gitLabPush, []byte(`"ref": "refs/heads/release/2026.08"`), []byte(`"ref": "refs/tags/v3.0.0"`), 1)
	gitLabTag = bytes.Replace(gitLabTag, []byte(`"object_kind": "push"`), []byte(`"object_kind": "tag_push"`), 1)
	gitLabRepos := providers[1].want.Repos
	gitHubRepos := providers[0].want.Repos
	tests := []struct {
		name    string
		headers map[string]string
		body    []byte
		sign    signer
		secret  string
		want    Push
	}{
		{name: "GitHub tag", headers: gitHubHeaders, body: fixture(t, "github-tag-push.json"), sign: signGitHub, secret: gitHubSecret,
			want: Push{Provider: "github", Repos: gitHubRepos, Revisions: []string{"v1.4.2"}, Tag: true, DefaultBranch: "main", Commit: "9c4f1a2e3b5d6c7e8f90a1b2c3d4e5f60718293a"}},
		{name: "GitLab tag", headers: with(gitLabHeaders, "X-Gitlab-Event", "Tag Push Hook"), body: gitLabTag, sign: token("X-Gitlab-Token"), secret: gitLabToken,
			want: Push{Provider: "gitlab", Repos: gitLabRepos, Revisions: []string{"v3.0.0"}, Tag: true, DefaultBranch: "main", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{name: "GitLab system hook push", headers: with(gitLabHeaders, "X-Gitlab-Event", "System Hook"), body: gitLabPush, sign: token("X-Gitlab-Token"), secret: gitLabToken,
			want: Push{Provider: "gitlab", Repos: gitLabRepos, Revisions: []string{"release/2026.08"}, DefaultBranch: "main", Commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{name: "GitHub branch deleted", headers: gitHubHeaders,
			body: []byte(`{"ref":"refs/heads/old","before":"2ee1b2bd4c2bd4ee4b43b8bbd2cbd9f4b6f0a4f7","after":"0000000000000000000000000000000000000000","deleted":true,` +
				`"repository":{"html_url":"https://github.com/octo-org/app-config","default_branch":"main"}}`),
			sign: signGitHub, secret: gitHubSecret,
			want: Push{Provider: "github", Repos: []string{"https://github.com/octo-org/app-config"}, Revisions: []string{"old"}, DefaultBranch: "main"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRequest(http.MethodPost, tt.body, tt.headers)
			tt.sign(r.Header, tt.body, tt.secret)
			got := serve(allSecrets, 0, r)
			if diff := cmp.Diff([]string{tt.want.Provider + " accepted"}, got.results); diff != "" {
				t.Errorf("OnResult calls (-want +got):\n%s (response %q)", diff, got.body)
			}
			if diff := cmp.Diff([]Push{tt.want}, got.pushes); diff != "" {
				t.Errorf("OnPush calls (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("Bitbucket Cloud push without X-Hook-UUID", func(t *testing.T) {
		body := fixture(t, "bitbucket-push.json")
		check(t, serve(allSecrets, 0, newRequest(http.MethodPost, body, bitbucketHeaders)), 401, "bitbucket unsigned", body)
	})
}

func TestSameRepo(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"git@github.com:octo-org/app-config.git", "https://github.com/octo-org/app-config", true},
		{"ssh://git@github.com/octo-org/app-config", "git@GITHUB.com:octo-org/app-config.git", true},
		{"https://GitHub.com/Octo-Org/App-Config.git/", "https://github.com/octo-org/app-config", true},
		{"https://github.com/octo-org/app-config/", "https://github.com/octo-org/app-config.git", true},
		{"http://github.com/octo-org/app-config", "https://github.com/octo-org/app-config", true},
		{"https://mona:ghp_token@github.com/octo-org/app-config.git", "git@github.com:octo-org/app-config", true},
		{"https://github.com:443/octo-org/app-config", "https://github.com/octo-org/app-config", true},
		{"ssh://git@ssh.github.com:443/octo-org/app-config.git", "https://github.com/octo-org/app-config", true},
		{"ssh://git@altssh.gitlab.com:443/group/sub/repo.git", "https://gitlab.com/group/sub/repo", true},
		{"ssh://git@gitea.example.com:2222/ops/cluster-config.git", "https://gitea.example.com/ops/cluster-config", true},
		{"ssh://git@bitbucket.example.com:7999/ops/platform-config.git", "https://bitbucket.example.com/scm/ops/platform-config.git", false},
		{" https://github.com/octo-org/app-config \n", "https://github.com/octo-org/app-config", true},
		{"git@GITHUB.com:test", "git@github.com:test.git", true},
		{"https://github.com:4443/TEST", "https://github.com:4443/TEST.git", true},
		{"https://dev.azure.com/1234/myproj/_git/myrepo", "https://dev.azure.com/1234/myproj/_git/myrepo", true},
		{"git@[::1]:org/repo.git", "ssh://git@[::1]:22/org/repo", true},
		{"file:///srv/git/repo.git", "/srv/git/repo", true},

		{"https://github.com/octo-org/app-config", "https://github.com/octo-org/app-config-2", false},
		{"https://github.com/octo-org/app-config", "https://github.com/other-org/app-config", false},
		{"https://github.com/octo-org/app-config", "https://gitlab.com/octo-org/app-config", false},
		{"git@github.com:octo-org/app-config", "git@gitlab.com:octo-org/app-config", false},
		{"https://gitlab.com/group/repo", "https://gitlab.com/group/sub/repo", false},
		{"https://github.com/octo-org/app-config", "https://github.com/octo-org", false},
		{"https://github.com/", "https://github.com", false},
		{"", "", false},
		{"", "https://github.com/octo-org/app-config", false},
		{"https://github.com/%zz", "https://github.com/%zz", false},
	}
	for _, tt := range tests {
		if got := SameRepo(tt.a, tt.b); got != tt.want {
			t.Errorf("SameRepo(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := SameRepo(tt.b, tt.a); got != tt.want {
			t.Errorf("SameRepo(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestMatches(t *testing.T) {
	gh := providers[0].want // main, the default branch
	feature := gh
	feature.Revisions = []string{"feature/login"}
	tag := gh
	tag.Revisions, tag.Tag = []string{"v1.4.2"}, true
	bb := providers[3].want // main and old-experiment; default branch unknown
	bbTag := bb
	bbTag.Revisions, bbTag.Tag = []string{"v2.0.0"}, true
	const (
		https = "https://github.com/octo-org/app-config"
		scp   = "git@github.com:octo-org/app-config.git"
		sha   = "2ee1b2bd4c2bd4ee4b43b8bbd2cbd9f4b6f0a4f7"
	)
	tests := []struct {
		name           string
		push           Push
		repo, revision string
		want           bool
	}{
		{"branch by name", gh, https, "main", true},
		{"scp URL, HEAD, default branch pushed", gh, scp, "HEAD", true},
		{"ssh URL, empty revision, default branch pushed", gh, "ssh://git@github.com/Octo-Org/App-Config", "", true},
		{"full ref name", gh, https + ".git/", "refs/heads/main", true},
		{"other branch", gh, https, "dev", false},
		{"full SHA, even the pushed one", gh, https, sha, false},
		{"SHA-256 object name", gh, https, strings.Repeat("ab", 32), false},
		{"short SHA", gh, https, sha[:7], false},
		{"other repository", gh, "https://github.com/octo-org/app-config-2", "main", false},
		{"other host", gh, "https://gitlab.com/octo-org/app-config", "main", false},
		{"HEAD, other branch pushed", feature, https, "HEAD", false},
		{"branch with a slash", feature, scp, "feature/login", true},
		{"branch with a slash, full ref", feature, scp, "refs/heads/feature/login", true},
		{"tag by name", tag, https, "v1.4.2", true},
		{"tag, full ref", tag, https, "refs/tags/v1.4.2", true},
		{"tag push does not move HEAD", tag, https, "HEAD", false},
		{"tag push does not move the default branch", tag, https, "main", false},
		{"revision names are case-sensitive", gh, https, "Main", false},
		{"Bitbucket, HEAD, default branch unknown", bb, "git@bitbucket.org:acme/gitops.git", "HEAD", true},
		{"Bitbucket, empty revision", bb, "https://bitbucket.org/acme/gitops", "", true},
		{"Bitbucket, second change", bb, "https://bitbucket.org/acme/gitops", "old-experiment", true},
		{"Bitbucket, branch not pushed", bb, "https://bitbucket.org/acme/gitops", "dev", false},
		{"Bitbucket, tags only do not move HEAD", bbTag, "https://bitbucket.org/acme/gitops", "HEAD", false},
		{"Bitbucket Server, tag among the changes", providers[4].want, "https://bitbucket.example.com/scm/ops/platform-config", "v2.3.0", true},
		{"Bitbucket Server, ssh clone URL", providers[4].want, "ssh://git@bitbucket.example.com:7999/ops/platform-config.git", "HEAD", true},
		{"no repositories", Push{Revisions: []string{"main"}}, https, "main", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.push.Matches(tt.repo, tt.revision); got != tt.want {
				t.Errorf("%+v.Matches(%q, %q) = %v, want %v", tt.push, tt.repo, tt.revision, got, tt.want)
			}
		})
	}
}
